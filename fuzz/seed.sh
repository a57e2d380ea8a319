#!/usr/bin/env bash
# Seed the fuzz corpora from the conformance recordings (C: lines, XOAUTH2 blobs).
set -euo pipefail
cd "$(dirname "$0")"
mkdir -p corpus/pop3_commands corpus/smtp_commands corpus/xoauth2 corpus/imap_commands corpus/token_form corpus/client_assertion
n=0
for f in ../fixtures/recordings/imap/*.txt; do
  grep '^C: ' "$f" | sed 's/^C: //' | while IFS= read -r line; do
    n=$((n + 1))
    printf '%s\r\n' "$line" > "corpus/imap_commands/$(basename "$f" .txt)-$n"
    case "$line" in
      *AUTHENTICATE\ XOAUTH2\ *) printf '%s' "${line##* }" > "corpus/xoauth2/$(basename "$f" .txt)-$n" ;;
    esac
  done
done
printf '%s' 'dXNlcj1zb21ldXNlckBleGFtcGxlLmNvbQFhdXRoPUJlYXJlciB5YTI5LnZGOWRmdDRxbVRjMk52YjNSbGNrQmhkSFJoZG1semRHRXVZMjl0Q2cBAQ==' > corpus/xoauth2/ms-guide
for f in ../fixtures/recordings/token/*.json; do
  python3 -c "import json,sys,urllib.parse; d=json.load(open(sys.argv[1])); sys.stdout.write('\n'+urllib.parse.urlencode(d['request']['form']))" "$f" > "corpus/token_form/$(basename "$f" .json)"
done
printf 'eyJhbGciOiJSUzI1NiIsIng1dCI6ImFiYyJ9.eyJpc3MiOiJ4IiwiYXVkIjoieSJ9.c2ln' > corpus/client_assertion/shape
printf '\003CAPA\r\nSTAT\r\nLIST\r\nUIDL\r\nRETR 1\r\nTOP 2 3\r\nDELE 1\r\nRSET\r\nNOOP\r\n' > corpus/pop3_commands/session
printf '\001AUTH XOAUTH2\r\n*\r\nUSER a\r\nPASS b\r\nAUTH XOAUTH2 x\r\n' > corpus/pop3_commands/auth
printf '\013DATA\r\nFrom: test.user@contoso.com\r\nSubject: s\r\n\r\nhi\r\n..dot\r\n.\r\nQUIT\r\n' > corpus/smtp_commands/data
printf '\013BDAT 4\r\nFromBDAT 26 LAST\r\n: test.user@contoso.com\r\n\r\nRSET\r\n' > corpus/smtp_commands/bdat
printf '\007MAIL FROM:<test.user@contoso.com>\r\nRCPT TO:<a@example.org>\r\nDATA\r\nbare\nLF\n.\n\r\n.\r\nNOOP\r\n' > corpus/smtp_commands/bare-lf
printf '\000EHLO x.example\r\nSTARTTLS\r\nEHLO x.example\r\nAUTH XOAUTH2\r\n*\r\nAUTH LOGIN\r\nu\r\np\r\n' > corpus/smtp_commands/plain
echo "seeded: $(ls corpus/*/ | wc -l) files"
