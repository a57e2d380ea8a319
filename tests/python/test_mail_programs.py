"""Interop: mail programs configured as their own documentation configures Office 365,
with only the host, port, CA and authority changed to the mock's, each reading the
INBOX of test.user@contoso.com before and after an access-token expiry.

The server is our own (server_process.running_server) with --test-controls, so the
tests move its clock, and --token-lifetime 240: the programs judge expiry by their own
clock, which does not move, and a 240 s token is one they treat as due for refresh
(MSAL: under 5 minutes left; emailproxy: under its 10 minute margin) — while the server,
its clock advanced by 600 s, refuses the old token, which each test checks too.
docs/mail-programs.md says how each program is configured.
"""
import asyncio
import contextlib
import email
import html.parser
import imaplib
import json
import os
import pathlib
import re
import shutil
import socket
import ssl
import string
import subprocess
import sys
import tempfile
import threading
import time

import aioimaplib
import msal
import pytest
import requests
from conftest import app_id
from server_process import advance_clock, connect_imaps, running_server, xoauth2
from test_msal_delegated import session

USER = "test.user@contoso.com"
PASSWORD = "Passw0rd!"
# The scopes Microsoft's "Authenticate an IMAP, POP or SMTP connection using OAuth" page names.
IMAP_SCOPE = "https://outlook.office365.com/IMAP.AccessAsUser.All"
# test.user's INBOX in the demo tenant (tests here deliver more to the same mailbox).
DEMO_SUBJECTS = {"Test Mail", "Test 2 Process", "How are you?", "My Mail"}
HERE = pathlib.Path(__file__).resolve().parent
TEMPLATES = HERE / "mail_programs"
VENV_BIN = pathlib.Path(sys.executable).parent
# neomutt's token script (Debian package neomutt), used by neomutt and by mbsync's PassCmd.
MUTT_OAUTH2 = pathlib.Path("/usr/share/doc/neomutt/oauth2/mutt_oauth2.py.gz")
# The XOAUTH2 mechanism for Cyrus SASL clients such as mbsync (libsasl2-modules-kdexoauth2).
KDEXOAUTH2 = any(pathlib.Path("/usr/lib").glob("*/sasl2/libkdexoauth2.so*"))
# The refresh tokens come from MSAL's password grant, which MSAL marks deprecated.
pytestmark = pytest.mark.filterwarnings("ignore:This API has been deprecated:DeprecationWarning")


@pytest.fixture(scope="module")
def server():
    with running_server("--test-controls", "--token-lifetime", "240") as s:
        yield s


def imaps_host_port(server):
    host, port = server["imaps_addr"].rsplit(":", 1)
    return host, int(port)


def localhost_url(server):
    """The identity platform as https://localhost:PORT (the certificate covers localhost)."""
    return server["https_url"].replace("127.0.0.1", "localhost")


def pca(server, authority_segment="contoso.onmicrosoft.com"):
    return msal.PublicClientApplication(
        app_id(8), authority=f"{server['https_url']}/{authority_segment}",
        instance_discovery=False, http_client=session(server))


def sign_in(server, scopes=(IMAP_SCOPE,)):
    """A delegated sign-in with MSAL (password grant): (app, result with a refresh token)."""
    app = pca(server)
    result = app.acquire_token_by_username_password(USER, PASSWORD, scopes=list(scopes))
    assert "access_token" in result and "refresh_token" in result, result
    return app, result


def refused_over_imaplib(server, token):
    """True when the server refuses this access token (checked with imaplib)."""
    imap = connect_imaps(server)
    try:
        imap.authenticate("XOAUTH2", xoauth2(USER, token))
    except imaplib.IMAP4.error as e:
        assert "AUTHENTICATE failed" in str(e), e
        return True
    finally:
        with contextlib.suppress(imaplib.IMAP4.error, OSError):
            imap.logout()
    return False


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def fill(template, target, **values):
    text = string.Template((TEMPLATES / template).read_text()).substitute(**values)
    pathlib.Path(target).write_text(text)
    return target


def journal(server):
    """The server's journal (mock-server admin journal --json), one dict per entry."""
    binary = os.environ.get("MOCK_SERVER_BIN", str(HERE.parents[1] / "target" / "debug" / "mock-server"))
    out = subprocess.run([binary, "admin", "journal", "--json", "--url", server["https_url"],
                          "--ca-file", server["ca_file"]],
                         capture_output=True, text=True, timeout=30, check=True).stdout
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def refreshes(entries):
    return [e for e in entries if "grant_type=refresh_token" in (e.get("summary") or "")
            and e.get("status") == 200]


class _Form(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.action, self.fields = None, {}

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form" and self.action is None:
            self.action = a.get("action")
        if tag == "input" and a.get("name"):
            self.fields[a["name"]] = a.get("value") or ""


def person_signs_in(server, url):
    """What the user does in a browser at an /authorize URL: the sign-in page, user name,
    password, Accept. Returns the redirect (the redirect_uri with ?code=...)."""
    s = requests.Session()
    s.trust_env = False
    s.verify = server["ca_file"]
    page = s.get(url, timeout=10, allow_redirects=False)
    assert page.status_code == 200, page.text
    form = _Form()
    form.feed(page.text)
    fields = {**form.fields, "login": USER, "passwd": PASSWORD, "action": "accept"}
    base = re.match(r"https://[^/]+", url).group(0)
    r = s.post(base + form.action, data=fields, timeout=10, allow_redirects=False)
    assert r.status_code in (302, 303), r.text
    return r.headers["Location"]


def wait_for(predicate, what, timeout=30):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def imaplib_read(host, port, user, password, tls=False):
    """Read the INBOX subjects with imaplib LOGIN (to a local proxy)."""
    imap = imaplib.IMAP4(host, port, timeout=60)
    try:
        imap.login(user, password)
        typ, data = imap.select("INBOX")
        assert typ == "OK", data
        typ, data = imap.fetch("1:*", "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
        assert typ == "OK", data
        return [email.message_from_bytes(part[1]).get("Subject") for part in data if isinstance(part, tuple)]
    finally:
        with contextlib.suppress(imaplib.IMAP4.error, OSError):
            imap.logout()


# --- 1. aioimaplib with a token from MSAL for Python ---------------------------------

async def aioimaplib_read(server, token):
    host, port = imaps_host_port(server)
    ctx = ssl.create_default_context(cafile=server["ca_file"])
    client = aioimaplib.IMAP4_SSL(host=host, port=port, ssl_context=ctx, timeout=15)
    await client.wait_hello_from_server()
    login = await client.xoauth2(USER, token)
    if login.result != "OK":
        await client.logout()
        return login.result, []
    selected = await client.select("INBOX")
    assert selected.result == "OK", selected
    fetched = await client.fetch("1:*", "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
    assert fetched.result == "OK", fetched
    subjects = [email.message_from_bytes(bytes(line)).get("Subject")
                for line in fetched.lines if isinstance(line, bytearray)]
    await client.logout()
    return "OK", subjects


def test_aioimaplib_with_msal_across_expiry(server):
    app, first = sign_in(server)
    status, subjects = asyncio.run(aioimaplib_read(server, first["access_token"]))
    assert status == "OK" and DEMO_SUBJECTS <= set(subjects), subjects

    advance_clock(server, 600)
    status, _ = asyncio.run(aioimaplib_read(server, first["access_token"]))
    assert status == "NO"  # the server refuses the expired token

    account = app.get_accounts(username=USER)[0]
    second = app.acquire_token_silent([IMAP_SCOPE], account=account)
    assert second and second.get("token_source") == "identity_provider", second
    assert second["access_token"] != first["access_token"]
    status, after = asyncio.run(aioimaplib_read(server, second["access_token"]))
    assert status == "OK" and after == subjects


# --- 2. email-oauth2-proxy in front of imaplib ---------------------------------------

def test_emailproxy_in_front_of_imaplib_across_expiry(server):
    work = pathlib.Path(tempfile.mkdtemp(prefix="emailproxy-"))
    local_port, redirect_port = free_port(), free_port()
    config = fill("emailproxy.config", work / "emailproxy.config", local_port=local_port,
                  imaps_port=imaps_host_port(server)[1], user=USER, client_id=app_id(8),
                  authority=f"{localhost_url(server)}/contoso.onmicrosoft.com", redirect_port=redirect_port)
    log = work / "emailproxy.log"
    env = {**os.environ, "SSL_CERT_FILE": server["ca_file"]}
    proxy = subprocess.Popen([str(VENV_BIN / "emailproxy"), "--no-gui", "--local-server-auth",
                              "--config-file", str(config), "--log-file", str(log)],
                             env=env, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    try:
        def listening():
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", local_port), timeout=1):
                return True
            return False
        wait_for(listening, "emailproxy to listen")

        # The first login makes the proxy ask for authorisation: it logs the /authorize URL
        # and starts its redirect receiver on redirect_uri; the user signs in in a browser.
        result = {}
        def first_read():
            try:
                result["subjects"] = imaplib_read("127.0.0.1", local_port, USER, "proxy-password")
            except Exception as e:  # noqa: BLE001 - reported by the assertion below
                result["error"] = e
        reader = threading.Thread(target=first_read, daemon=True)
        reader.start()
        url_pattern = re.compile(r"Please visit the following URL to authenticate account \S+: (\S+)")
        url = wait_for(lambda: (m := url_pattern.search(log.read_text() if log.exists() else "")) and m.group(1),
                       "the proxy's authorisation URL")
        assert url.startswith(f"{localhost_url(server)}/contoso.onmicrosoft.com/oauth2/v2.0/authorize?"), url
        redirect = person_signs_in(server, url)
        assert redirect.startswith(f"http://localhost:{redirect_port}"), redirect
        # The proxy listens on redirect_uri before it logs the URL, for one request.
        assert requests.get(redirect, timeout=10).status_code == 200
        reader.join(timeout=60)
        assert not reader.is_alive() and "error" not in result, (result, log.read_text())
        before = result["subjects"]
        assert DEMO_SUBJECTS <= set(before), before

        advance_clock(server, 600)
        seen = len(journal(server))
        after = imaplib_read("127.0.0.1", local_port, USER, "proxy-password")
        assert after == before
        new = journal(server)[seen:]
        assert refreshes(new), new  # the proxy redeemed its refresh token after the expiry
    finally:
        proxy.terminate()
        try:
            proxy.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proxy.kill()
        shutil.rmtree(work, ignore_errors=True)


# --- 3. offlineimap3, syncing the INBOX to a Maildir ---------------------------------

def deliver(server, subject):
    """A new message in test.user's INBOX (mock-server admin deliver)."""
    binary = os.environ.get("MOCK_SERVER_BIN", str(HERE.parents[1] / "target" / "debug" / "mock-server"))
    eml = (f"From: someone@fabrikam.onmicrosoft.com\r\nTo: {USER}\r\nSubject: {subject}\r\n"
           "Message-ID: <" + subject.replace(" ", ".") + "@fabrikam.onmicrosoft.com>\r\n\r\nHello.\r\n")
    subprocess.run([binary, "admin", "deliver", "--mailbox", USER, "--eml", eml, "--url", server["https_url"],
                    "--ca-file", server["ca_file"]], capture_output=True, text=True, timeout=30, check=True)


def maildir_subjects(folder):
    return sorted(email.message_from_bytes(p.read_bytes()).get("Subject")
                  for sub in ("cur", "new") for p in (folder / sub).glob("*"))


def test_offlineimap_syncs_the_inbox_across_expiry(server):
    work = pathlib.Path(tempfile.mkdtemp(prefix="offlineimap-"))
    try:
        _, signed_in = sign_in(server)
        conf = fill("offlineimap.conf", work / "offlineimaprc", work=work, imaps_port=imaps_host_port(server)[1],
                    ca_file=server["ca_file"], user=USER, client_id=app_id(8),
                    authority=f"{localhost_url(server)}/contoso.onmicrosoft.com",
                    refresh_token=signed_in["refresh_token"])

        def sync():
            run = subprocess.run([str(VENV_BIN / "offlineimap"), "-c", str(conf), "-o", "-u", "basic"],
                                 check=False, capture_output=True, text=True, timeout=120,
                                 env={**os.environ, "SSL_CERT_FILE": server["ca_file"]})
            assert run.returncode == 0 and "ERROR" not in run.stdout + run.stderr, run.stdout + run.stderr
            return maildir_subjects(work / "Mail" / "INBOX")

        before = sync()
        assert DEMO_SUBJECTS <= set(before), before

        advance_clock(server, 600)
        deliver(server, "After the expiry offlineimap")
        seen = len(journal(server))
        after = sync()
        assert after == sorted([*before, "After the expiry offlineimap"])
        assert refreshes(journal(server)[seen:])
    finally:
        shutil.rmtree(work, ignore_errors=True)


# --- 4. getmail6 with its getmail-gmail-xoauth-tokens helper --------------------------

def refreshed_then_signed_in(entries):
    """The journal since the clock advance: one refresh grant without `scope` answered 200,
    then one IMAP sign-in, which succeeded (no refused one: the stale token never went out)."""
    redeemed = refreshes(entries)
    assert len(redeemed) == 1 and "scope=" not in redeemed[0]["summary"], entries
    sign_ins = [e for e in entries if (e.get("request") or "").startswith("AUTHENTICATE XOAUTH2")]
    assert [e["outcome"] for e in sign_ins] == ["authenticated"], sign_ins
    assert sign_ins[0]["seq"] > redeemed[0]["seq"], entries


def getmail_delivered(log):
    """How many messages getmail says it retrieved, from its summary line."""
    m = re.search(r"^Retrieved (\d+) messages? ", log, re.MULTILINE)
    return int(m.group(1)) if m else 0


@pytest.mark.skipif(not (shutil.which("getmail") and shutil.which("getmail-gmail-xoauth-tokens")
                         and shutil.which("faketime")) and not os.environ.get("CI"),
                    reason="Debian packages getmail6 and faketime (scripts/test-all installs them)")
def test_getmail_with_its_xoauth_tokens_helper_across_expiry(server):
    work = pathlib.Path(tempfile.mkdtemp(prefix="getmail-"))
    try:
        # Step 2 of getmailrc-examples' Office 365 example: the token file. App 08 is a
        # public client: no secret, but the helper reads the key (KeyError without it)
        # and posts it, empty.
        tokenfile = fill("getmail-o365.json", work / "microsoft.json", user=USER, client_id=app_id(8),
                         authority=f"{localhost_url(server)}/contoso.onmicrosoft.com")
        env = {**os.environ, "SSL_CERT_FILE": server["ca_file"], "PYTHONUNBUFFERED": "1"}

        # Step 3: `getmail-gmail-xoauth-tokens --init microsoft.json` prints the /authorize
        # URL and waits on http://localhost:PORT/ (-p: a free port instead of 8083) for the
        # browser's redirect; the test is the person in the browser.
        output = work / "init.out"
        with open(output, "w") as out:
            init = subprocess.Popen(["getmail-gmail-xoauth-tokens", "--init", "-p", str(free_port()), str(tokenfile)],
                                    stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, env=env)
            try:
                url = wait_for(lambda: (m := re.search(r"(https://\S+/authorize\?\S+)", output.read_text()))
                               and m.group(1), "the helper's authorisation URL")
                assert url.startswith(f"{localhost_url(server)}/contoso.onmicrosoft.com/oauth2/v2.0/authorize?"), url
                redirect = person_signs_in(server, url)
                assert requests.get(redirect, timeout=10).status_code == 200
                assert init.wait(timeout=60) == 0, output.read_text()
            finally:
                if init.poll() is None:
                    init.kill()
        first = json.loads(tokenfile.read_text())
        assert first["refresh_token"] and first["access_token"], first

        maildir = work / "Maildir"
        for sub in ("cur", "new", "tmp"):
            (maildir / sub).mkdir(parents=True)
        deliver_as = ""
        if os.geteuid() == 0:
            deliver_as = "user = nobody"
            work.chmod(0o711)
            for path in [maildir, *maildir.iterdir()]:
                shutil.chown(path, "nobody")
        rc = fill("getmailrc", work / "getmailrc", imaps_port=imaps_host_port(server)[1], ca_file=server["ca_file"],
                  user=USER, tokenfile=tokenfile, maildir=maildir, deliver_as=deliver_as)

        def getmail(faketime=None):
            command = ["getmail", "--getmaildir", str(work), "--rcfile", str(rc)]
            if faketime:
                command = ["faketime", "-f", faketime, *command]
            run = subprocess.run(command, capture_output=True, text=True, timeout=120, env=env, check=False)
            log = run.stdout + run.stderr
            assert run.returncode == 0 and "error" not in log.lower(), log
            return log

        log = getmail()
        before = maildir_subjects(maildir)
        assert DEMO_SUBJECTS <= set(before), before
        assert getmail_delivered(log) == len(before), log  # the whole INBOX (other tests add to it)

        # The helper judges expiry by its own clock (expires_at = now + expires_in - 100):
        # faketime moves it with the server's, so it redeems its refresh token.
        advance_clock(server, 600)
        assert refused_over_imaplib(server, first["access_token"])
        deliver(server, "After the expiry getmail")
        seen = len(journal(server))
        log = getmail(faketime="+600s")
        assert getmail_delivered(log) == 1, log  # only the new message: getmail remembers the rest
        assert maildir_subjects(maildir) == sorted([*before, "After the expiry getmail"])

        second = json.loads(tokenfile.read_text())
        assert second["access_token"] != first["access_token"]
        # The helper's refresh grant has no scope (client_id, client_secret, refresh_token):
        # answered as Entra does, with a token for the scopes the refresh token was granted.
        refreshed_then_signed_in(journal(server)[seen:])
    finally:
        shutil.rmtree(work, ignore_errors=True)


# --- 5. mbsync (isync) with Cyrus SASL's XOAUTH2 and mutt_oauth2.py as PassCmd ---------

def mutt_oauth2_authorize_in_browser(server, script, tokenfile, env):
    """`mutt_oauth2.py TOKENFILE --authorize` with the flow `localhostauthcode`: it prints
    the /authorize URL (PKCE) and waits on http://localhost:PORT/; the test is the person
    in the browser."""
    output = pathlib.Path(f"{tokenfile}.authorize.out")
    with open(output, "w") as out:
        authorize = subprocess.Popen([sys.executable, str(script), str(tokenfile), "--authorize"],
                                     stdin=subprocess.PIPE, stdout=out, stderr=subprocess.STDOUT, env=env, text=True)
        try:
            authorize.stdin.write(f"microsoft\nlocalhostauthcode\n{USER}\n")
            authorize.stdin.flush()
            url = wait_for(lambda: (m := re.search(r"(https://\S+/authorize\?\S+)", output.read_text())) and m.group(1),
                           "mutt_oauth2.py's authorisation URL")
            assert "code_challenge_method=S256" in url, url
            redirect = person_signs_in(server, url)
            assert requests.get(redirect, timeout=10).status_code == 200
            assert authorize.wait(timeout=60) == 0, output.read_text()
        finally:
            if authorize.poll() is None:
                authorize.kill()


def mutt_oauth2_access_token(tokenfile):
    """The access token in mutt_oauth2.py's token file (ENCRYPTION_PIPE `cat`: plain JSON)."""
    return json.loads(pathlib.Path(tokenfile).read_text())["access_token"]


@pytest.mark.skipif(not (shutil.which("mbsync") and KDEXOAUTH2 and shutil.which("faketime")
                         and MUTT_OAUTH2.exists()) and not os.environ.get("CI"),
                    reason="Debian packages isync, libsasl2-modules-kdexoauth2, faketime and neomutt "
                           "(scripts/test-all installs them)")
def test_mbsync_with_sasl_xoauth2_syncs_the_inbox_across_expiry(server):
    work = pathlib.Path(tempfile.mkdtemp(prefix="mbsync-"))
    try:
        script = configured_mutt_oauth2(server, work / "mutt_oauth2.py")
        tokenfile = work / "token"
        env = {**os.environ, "SSL_CERT_FILE": server["ca_file"], "PYTHONUNBUFFERED": "1"}
        mutt_oauth2_authorize_in_browser(server, script, tokenfile, env)
        first = mutt_oauth2_access_token(tokenfile)

        (work / "Mail").mkdir()
        rc = fill("mbsyncrc", work / "mbsyncrc", imaps_port=imaps_host_port(server)[1], user=USER,
                  python=sys.executable, script=script, tokenfile=tokenfile, ca_file=server["ca_file"], work=work)

        def sync(faketime=None):
            command = ["mbsync", "-V", "-c", str(rc), "office365"]
            if faketime:
                command = ["faketime", "-f", faketime, *command]
            run = subprocess.run(command, capture_output=True, text=True, timeout=120, env=env, check=False)
            log = run.stdout + run.stderr
            assert run.returncode == 0, log
            # The SASL plugin, not mbsync's built-in PLAIN/LOGIN, did the sign-in.
            assert "Authenticating with SASL mechanism XOAUTH2" in log, log
            return maildir_subjects(work / "Mail" / "INBOX")

        before = sync()
        assert DEMO_SUBJECTS <= set(before), before

        # mutt_oauth2.py judges expiry by datetime.now(): faketime (inherited by PassCmd)
        # moves its clock with the server's.
        advance_clock(server, 600)
        assert refused_over_imaplib(server, first)
        deliver(server, "After the expiry mbsync")
        seen = len(journal(server))
        after = sync(faketime="+600s")
        assert after == sorted([*before, "After the expiry mbsync"])

        assert mutt_oauth2_access_token(tokenfile) != first
        # mutt_oauth2.py's refresh grant has no scope either.
        refreshed_then_signed_in(journal(server)[seen:])
    finally:
        shutil.rmtree(work, ignore_errors=True)


# --- 6. neomutt with the mutt_oauth2.py it ships --------------------------------------

def configured_mutt_oauth2(server, target):
    """mutt_oauth2.py as its README says to set it up: the app's client_id in the
    'microsoft' registration and encryption pipes of one's choice (`cat`, as the test may);
    the endpoints' host and port are the mock's ("organizations" stays the authority)."""
    import gzip

    text = gzip.decompress(MUTT_OAUTH2.read_bytes()).decode()
    replacements = {
        "ENCRYPTION_PIPE = ['gpg', '--encrypt', '--recipient', 'YOUR_GPG_IDENTITY']": "ENCRYPTION_PIPE = ['cat']",
        "DECRYPTION_PIPE = ['gpg', '--decrypt']": "DECRYPTION_PIPE = ['cat']",
        "https://login.microsoftonline.com/common/oauth2/v2.0/authorize":
            f"{localhost_url(server)}/organizations/oauth2/v2.0/authorize",
        "https://login.microsoftonline.com/common/oauth2/v2.0/devicecode":
            f"{localhost_url(server)}/organizations/oauth2/v2.0/devicecode",
        "https://login.microsoftonline.com/common/oauth2/v2.0/token":
            f"{localhost_url(server)}/organizations/oauth2/v2.0/token",
        "'tenant': 'common',": "'tenant': 'organizations',",
    }
    for old, new in replacements.items():
        assert old in text, old
        text = text.replace(old, new)
    # The client_id of the 'microsoft' registration (the second '' client_id).
    head, sep, tail = text.partition("'microsoft': {")
    tail = tail.replace("'client_id': '',", f"'client_id': '{app_id(8)}',", 1)
    pathlib.Path(target).write_text(head + sep + tail)
    return target


def person_approves_device_code(server, user_code):
    """What the user does on the /devicelogin page: the code, then user name, password, Accept."""
    s = requests.Session()
    s.trust_env = False
    s.verify = server["ca_file"]
    page = s.post(f"{localhost_url(server)}/devicelogin", data={"otc": user_code}, timeout=10)
    assert page.status_code == 200, page.text
    form = _Form()
    form.feed(page.text)
    fields = {**form.fields, "login": USER, "passwd": PASSWORD, "action": "accept"}
    done = s.post(f"{localhost_url(server)}{form.action}", data=fields, timeout=10)
    assert done.status_code == 200, done.text


def neomutt_read(server, rc, out, faketime=None):
    """neomutt (in a terminal made by script(1)) opens the INBOX, copies every message
    to the mbox `out` and quits; returns the subjects copied."""
    push = f"<tag-pattern>~A<enter><tag-prefix><copy-message>{out}<enter><quit>"
    command = f"neomutt -n -F {rc} -e 'push \"{push}\"'"
    if faketime:
        command = f"faketime -f {faketime} {command}"
    try:
        run = subprocess.run(["script", "-qec", command, "/dev/null"], capture_output=True, timeout=30,
                             env={**os.environ, "TERM": "xterm", "SSL_CERT_FILE": server["ca_file"]}, check=False)
    except subprocess.TimeoutExpired as e:
        raise AssertionError(re.sub(rb"\x1b\[[0-9;?]*[A-Za-z]", b"", e.output or b"")[-3000:].decode(errors="replace")) from e
    assert run.returncode == 0, run.stdout[-2000:]
    if not pathlib.Path(out).exists():
        return []
    import mailbox

    return sorted(m["Subject"] for m in mailbox.mbox(out))


@pytest.mark.skipif(not (shutil.which("neomutt") and shutil.which("faketime") and MUTT_OAUTH2.exists()),
                    reason="Debian packages neomutt and faketime (scripts/test-all installs them)")
def test_neomutt_with_mutt_oauth2_device_code_across_expiry(server):
    work = pathlib.Path(tempfile.mkdtemp(prefix="neomutt-"))
    try:
        script = configured_mutt_oauth2(server, work / "mutt_oauth2.py")
        tokenfile = work / "token"
        rc = fill("neomuttrc", work / "neomuttrc", user=USER, python=sys.executable, script=script,
                  tokenfile=tokenfile, imaps_port=imaps_host_port(server)[1], ca_file=server["ca_file"])
        env = {**os.environ, "SSL_CERT_FILE": server["ca_file"], "PYTHONUNBUFFERED": "1"}
        output = work / "authorize.out"
        with open(output, "w") as out:
            authorize = subprocess.Popen([sys.executable, str(script), str(tokenfile), "--authorize"],
                                         stdin=subprocess.PIPE, stdout=out, stderr=subprocess.STDOUT, env=env, text=True)
            try:
                authorize.stdin.write(f"microsoft\ndevicecode\n{USER}\n")
                authorize.stdin.flush()
                code = re.compile(r"enter the code (\S+)")
                user_code = wait_for(lambda: (m := code.search(output.read_text())) and m.group(1),
                                     "mutt_oauth2.py's device code message")
                person_approves_device_code(server, user_code)
                assert authorize.wait(timeout=60) == 0, output.read_text()
            finally:
                if authorize.poll() is None:
                    authorize.kill()
        assert any(e.get("request") == "POST /organizations/oauth2/v2.0/devicecode" and e.get("status") == 200
                   for e in journal(server))

        before = neomutt_read(server, rc, work / "before.mbox")
        assert DEMO_SUBJECTS <= set(before), before

        # The server's clock and the program's (faketime) both move 600 s: mutt_oauth2.py
        # finds its access token expired and redeems its refresh token.
        advance_clock(server, 600)
        deliver(server, "After the expiry neomutt")
        seen = len(journal(server))
        after = neomutt_read(server, rc, work / "after.mbox", faketime="+600s")
        assert after == sorted([*before, "After the expiry neomutt"])
        assert refreshes(journal(server)[seen:])
    finally:
        shutil.rmtree(work, ignore_errors=True)
