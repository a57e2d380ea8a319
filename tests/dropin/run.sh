#!/usr/bin/env bash
# Drop-in proof (docs/drop-in.md): unmodified Python (MSAL, azure-identity, imaplib),
# Node (msal-node, @azure/identity, imapflow), Go (MSAL for Go, azidentity, go-imap v2)
# and Java (the guide's msal4j code, javax.mail, Jakarta Mail) programs reach
# `mock-server --real-hosts` under Microsoft's own names and ports.
#
# This machine's /etc/hosts and CA bundle are never changed: the script re-runs itself in
# a private mount namespace (unshare --mount) and bind-mounts temp copies over them there.
# Needs root (CI runs as root); skips, saying so, only when unshare is unavailable.
set -euo pipefail
cd "$(dirname "$0")/../.."
BIN=${MOCK_SERVER_BIN:-$PWD/target/debug/mock-server}
BUNDLE=/etc/ssl/certs/ca-certificates.crt

if [ "${MOCK_DROPIN_INSIDE:-}" != 1 ]; then
  if ! command -v unshare >/dev/null 2>&1 || ! unshare --mount --propagation private true 2>/dev/null; then
    echo "SKIP drop-in proof: cannot make a private mount namespace (unshare missing or not root)"
    exit 0
  fi
  [ -f "$BUNDLE" ] || { echo "drop-in proof: no $BUNDLE (install ca-certificates)" >&2; exit 1; }
  [ -x "$BIN" ] || cargo build --quiet -p mock-server
  [ -x target/venv/bin/python ] || python3 -m venv target/venv
  target/venv/bin/pip install --quiet --disable-pip-version-check \
    -r tests/python/requirements.txt -r tests/dropin/requirements.txt
  if ! command -v npm >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ]; then
      apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null
    else
      sudo apt-get install -y nodejs npm
    fi
  fi
  node_major=$(node -p 'process.versions.node.split(".")[0]')
  if [ "$node_major" -ge 20 ]; then
    (cd tests/dropin/node && npm ci --silent --no-audit --no-fund)
  else
    echo "drop-in proof: Node $node_major is older than 20 (@azure/identity needs 20); the Node part is skipped"
  fi
  exec unshare --mount --propagation private env MOCK_DROPIN_INSIDE=1 MOCK_SERVER_BIN="$BIN" "$0" "$@"
fi

# Inside the private mount namespace from here on.
work=$(mktemp -d /tmp/mock-dropin.XXXXXX)
server=
cleanup() {
  [ -n "$server" ] && kill "$server" 2>/dev/null && wait "$server" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

cp /etc/hosts "$work/hosts"
"$BIN" hosts install --hosts-file "$work/hosts"
mount --bind "$work/hosts" /etc/hosts

MOCK_SERVER_CA_DIR="$work/ca" "$BIN" --real-hosts --ready-file "$work/ready.json" >"$work/server.log" 2>&1 &
server=$!
for _ in $(seq 300); do
  [ -f "$work/ready.json" ] && break
  if ! kill -0 "$server" 2>/dev/null; then
    server=
    echo "drop-in proof: mock-server --real-hosts did not start:" >&2
    cat "$work/server.log" >&2
    exit 1
  fi
  sleep 0.1
done
[ -f "$work/ready.json" ] || { echo "drop-in proof: no ready file within 30 s" >&2; cat "$work/server.log" >&2; exit 1; }

cat "$BUNDLE" "$work/ca/ca.pem" >"$work/bundle.crt"
mount --bind "$work/bundle.crt" "$BUNDLE"
# What `mock-server trust install` prints for runtimes that ignore the system store.
export REQUESTS_CA_BUNDLE=$BUNDLE SSL_CERT_FILE=$BUNDLE NODE_EXTRA_CA_CERTS=$work/ca/ca.pem

status=0
echo "-- Python: MSAL, azure-identity, imaplib"
target/venv/bin/python -m pytest -q -p no:cacheprovider tests/dropin || status=1
if [ -d tests/dropin/node/node_modules ]; then
  echo "-- Node: msal-node, @azure/identity, imapflow"
  node tests/dropin/node/dropin.mjs || status=1
fi
# ---- BEGIN Go part (tests/dropin/go; docs/_incoming/dropin-go.md) ----
# MSAL for Go and azidentity (secret and certificate each) and go-imap v2
# with XOAUTH2 to outlook.office365.com:993, all with their defaults. Go reads the system
# bundle and /etc/hosts by itself: SSL_CERT_FILE is unset so the bind-mounted bundle is
# what proves it. Modules go to Go's own cache (GOMODCACHE), nothing else is installed.
if command -v go >/dev/null 2>&1; then
  echo "-- Go: MSAL for Go, azidentity, go-imap v2"
  (
    cd tests/dropin/go
    unformatted=$(gofmt -l .)
    if [ -n "$unformatted" ]; then echo "gofmt would change: $unformatted" >&2; exit 1; fi
    go vet ./... || exit 1   # (set -e is off in a subshell tested with ||)
    env -u SSL_CERT_FILE -u SSL_CERT_DIR go test -count=1 -v ./...
  ) || status=1
else
  echo "drop-in proof: no go on PATH; the Go part is skipped"
fi
# ---- END Go part ----
# ---- BEGIN Java part (tests/dropin/java) ------------------------------------------------
# Microsoft's "Authenticate an IMAP connection using OAuth 2.0" code, unmodified: msal4j's
# ConfidentialClientApplication (secret and certificate), then javax.mail 1.6.2 and Jakarta
# Mail 2 with the guide's properties and store.connect("outlook.office365.com", user, token);
# also msal4j's PublicClientApplication (password grant, device code flow) before javax.mail.
# Java trusts the mock as after `mock-server trust install`: the binary imports the CA with
# keytool (alias mock-server) into a copy of this JDK's cacerts, which is bind-mounted over
# the real one, so the code keeps Java's default SSL settings.
if command -v mvn >/dev/null 2>&1 && command -v keytool >/dev/null 2>&1; then
  java_home=$(dirname "$(dirname "$(readlink -f "$(command -v java)")")")
  cacerts=$(readlink -f "$java_home/lib/security/cacerts")
  jdk_copy=$work/jdk-root/usr/lib/jvm/jdk/lib/security
  mkdir -p "$jdk_copy"
  cp "$cacerts" "$jdk_copy/cacerts"
  # --root: the stores under that folder only (this JDK's copy; no system store there),
  # HOME: no NSS database of this machine is touched.
  if ! HOME=$work MOCK_SERVER_CA_DIR="$work/ca" "$BIN" trust install --root "$work/jdk-root" >"$work/trust.log" 2>&1 \
      || ! grep -q "imported as alias mock-server" "$work/trust.log"; then
    echo "drop-in proof: mock-server trust install did not import the CA into the cacerts copy:" >&2
    cat "$work/trust.log" >&2
    exit 1
  fi
  cp "$cacerts" "$work/cacerts.before"
  mount --bind "$jdk_copy/cacerts" "$cacerts"
  # docs/drop-in.md's check, against the JDK's own path.
  keytool -list -cacerts -storepass changeit -alias mock-server >/dev/null \
    || { echo "drop-in proof: no alias mock-server in $cacerts after the bind mount" >&2; exit 1; }
  echo "-- Java: msal4j (the guide's code), javax.mail and Jakarta Mail; the CA in $cacerts (bind-mounted copy)"
  if (cd tests/dropin/java && mvn -q -B package dependency:build-classpath -Dmdep.outputFile=target/classpath.txt \
      >"$work/mvn.log" 2>&1); then
    # GuideImap: the guide's code; DelegatedImap: msal4j's password grant and device code
    # flow (app 08) before the same IMAP code; SmtpSend: SMTP XOAUTH2 to smtp.office365.com:587.
    for program in javax-mail/GuideImap javax-mail/DelegatedImap javax-mail/SmtpSend jakarta-mail/GuideImap; do
      module=${program%/*} dir=tests/dropin/java/${program%/*}
      # stdout is mail.debug's protocol log (the guide turns it on): kept, shown on failure.
      if ! timeout 120 java -cp "$dir/target/classes:$(cat "$dir/target/classpath.txt")" \
          "com.example.dropin.${module/-/}.${program#*/}" >"$work/java.log"; then
        status=1
        echo "-- $program: mail.debug log (last 60 lines)"
        tail -60 "$work/java.log"
      fi
    done
  else
    status=1
    cat "$work/mvn.log"
  fi
  # The documented undo: uninstall deletes the alias and leaves every other entry as it was.
  if ! HOME=$work MOCK_SERVER_CA_DIR="$work/ca" "$BIN" trust uninstall --root "$work/jdk-root" >>"$work/trust.log" 2>&1 \
      || keytool -list -cacerts -storepass changeit -alias mock-server >/dev/null 2>&1 \
      || ! cmp -s <(keytool -list -keystore "$work/cacerts.before" -storepass changeit 2>&1) \
        <(keytool -list -cacerts -storepass changeit 2>&1); then
    status=1
    echo "FAIL Java: mock-server trust uninstall did not restore $cacerts"
    cat "$work/trust.log"
  else
    echo "ok   Java: trust uninstall deleted the alias mock-server and left the other entries of cacerts as they were"
  fi
else
  echo "drop-in proof: no Maven or JDK (keytool); the Java part is skipped"
fi
# ---- END Java part ---------------------------------------------------------------------
if [ $status != 0 ]; then
  echo "-- server log"
  tail -50 "$work/server.log"
fi
exit $status
