#!/usr/bin/env bash
# Seed the fuzz corpora from the conformance recordings (C: lines, XOAUTH2 blobs, token
# requests) and a few hand-written inputs. Writes fuzz/corpus/<target>/ (committed; the
# campaign's finds are added there after `cargo fuzz cmin`, see README.md). Idempotent:
# the same names are rewritten with the same bytes.
set -euo pipefail
cd "$(dirname "$0")"
mkdir -p corpus/pop3_commands corpus/smtp_commands corpus/xoauth2 corpus/imap_commands corpus/token_form corpus/client_assertion corpus/http_request
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
# Whole client sides of the recordings, one file per recording: IMAP (first byte 'a' or
# similar: authenticated, the cut falls inside; and before authentication, below), POP3 after TLS (first byte 1), SMTP in plain text (first
# byte 0, the recording does its own EHLO/STARTTLS). {xoauth2} becomes the guide's blob.
blob='dXNlcj1zb21ldXNlckBleGFtcGxlLmNvbQFhdXRoPUJlYXJlciB5YTI5LnZGOWRmdDRxbVRjMk52YjNSbGNrQmhkSFJoZG1semRHRXVZMjl0Q2cBAQ=='
session() { grep '^C: ' "$1" | sed "s/^C: //; s/{xoauth2}/$blob/g; s/{[a-z_]*}/x/g; s/\$/\r/"; }
for f in ../fixtures/recordings/imap/*.txt; do
  session "$f" > "corpus/imap_commands/session-$(basename "$f" .txt)"
  # The same before authentication: over TLS (first byte 0x80) and on the plain port
  # (0xc0, STARTTLS available); the recording's own AUTHENTICATE or LOGIN comes first.
  { printf '\200'; session "$f"; } > "corpus/imap_commands/preauth-$(basename "$f" .txt)"
  { printf '\300'; session "$f"; } > "corpus/imap_commands/preauth-plain-$(basename "$f" .txt)"
done
for f in ../fixtures/recordings/pop3/*.txt; do
  { printf '\001'; session "$f"; } > "corpus/pop3_commands/session-$(basename "$f" .txt)"
done
for f in ../fixtures/recordings/smtp/*.txt; do
  { printf '\000'; session "$f"; } > "corpus/smtp_commands/session-$(basename "$f" .txt)"
done

# HTTP: every token recording as the POST a client sends (first byte 0: written at once;
# 0x85: in 6-byte pieces), and the identity platform's other routes.
python3 - <<'PY'
import glob, json, os, urllib.parse
out = "corpus/http_request"
def req(method, path, body=b"", extra=""):
    head = f"{method} {path} HTTP/1.1\r\nHost: login.microsoftonline.com\r\n{extra}"
    if body or method == "POST":
        head += f"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {len(body)}\r\n"
    return head.encode() + b"\r\n" + body
for f in sorted(glob.glob("../fixtures/recordings/token/*.json")):
    r = json.load(open(f))["request"]
    v = "oauth2/token" if r.get("endpoint") == "v1" else "oauth2/v2.0/token"
    body = urllib.parse.urlencode(r["form"]).encode()
    name = os.path.basename(f)[:-5]
    open(f"{out}/token-{name}", "wb").write(b"\x00" + req("POST", f"/{r['tenant']}/{v}", body))
    open(f"{out}/token-{name}-pieces", "wb").write(b"\x85" + req("POST", f"/{r['tenant']}/{v}", body))
seeds = {
    "discovery-v2": req("GET", "/contoso.com/v2.0/.well-known/openid-configuration"),
    "discovery-v1": req("GET", "/contoso.com/.well-known/openid-configuration"),
    "jwks": req("GET", "/contoso.com/discovery/v2.0/keys"),
    "instance": req("GET", "/common/discovery/instance?api-version=1.1&authorization_endpoint=https://login.microsoftonline.com/common/oauth2/v2.0/authorize"),
    "userrealm": req("GET", "/common/userrealm/test.user@contoso.com?api-version=1.0"),
    "devicecode": req("POST", "/contoso.com/oauth2/v2.0/devicecode", b"client_id=00000000-0000-4000-8000-00000000a002&scope=https%3A%2F%2Foutlook.office365.com%2FIMAP.AccessAsUser.All"),
    "authorize": req("GET", "/contoso.com/oauth2/v2.0/authorize?client_id=00000000-0000-4000-8000-00000000a002&response_type=code&redirect_uri=http%3A%2F%2Flocalhost&scope=openid"),
    "devicelogin": req("GET", "/devicelogin"),
    "get-on-token": req("GET", "/contoso.com/oauth2/v2.0/token"),
    "admin-refused": req("GET", "/_mock/api/v1/tenants"),
    "console-refused": req("GET", "/_mock/"),
    "pipelined": req("GET", "/contoso.com/discovery/keys") + req("POST", "/contoso.com/oauth2/token", b"grant_type=client_credentials"),
    "chunked": b"POST /contoso.com/oauth2/v2.0/token HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Type: application/x-www-form-urlencoded\r\n\r\n5\r\ngrant\r\n9\r\n_type=cli\r\n0\r\n\r\n",
    "expect-continue": req("POST", "/contoso.com/oauth2/v2.0/token", b"grant_type=password", "Expect: 100-continue\r\n"),
    "http10": b"GET /contoso.com/discovery/keys HTTP/1.0\r\n\r\n",
    "h2-preface": b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00",
    # Past the fuzzed 8 KiB head limit: libFuzzer's length control would take long to
    # grow its inputs this far by itself.
    "head-over-limit": req("GET", "/contoso.com/discovery/keys", b"", "X-Pad: " + "a" * 8300 + "\r\n"),
}
for name, data in seeds.items():
    open(f"{out}/{name}", "wb").write((b"\x85" if name == "expect-continue" else b"\x00") + data)
PY
echo "seeded: $(ls corpus/*/ | wc -l) files"
