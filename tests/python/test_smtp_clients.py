"""Interop: real SMTP clients against the mock's Exchange Online SMTP submission.

CPython's smtplib (STARTTLS, AUTH XOAUTH2 with a token from MSAL for Python), curl
(smtp:// with --ssl-reqd and --oauth2-bearer) and msmtp (Debian, auth xoauth2). Every
message sent is read back over IMAP. (POP3: once it exists, read it back there too.)

The tests deliver into test.user's INBOX, so they run on a server of their own
(server_process.running_server), not on the session server other files count messages on.
"""
import base64
import imaplib
import os
import poplib
import shutil
import smtplib
import ssl
import subprocess
import uuid

import msal
import pytest

from conftest import CONTOSO, EXO_SCOPE, app_id
from server_process import running_server

USER = "test.user@contoso.com"
SECRETS = {1: "poller-secret-value", 4: "no-permission-secret"}


@pytest.fixture(scope="module")
def mock_server():
    previous = os.environ.get("REQUESTS_CA_BUNDLE")
    with running_server() as server:
        os.environ["REQUESTS_CA_BUNDLE"] = server["ca_file"]
        yield server
    # Other modules talk to the session server, which has its own CA.
    if previous is None:
        os.environ.pop("REQUESTS_CA_BUNDLE", None)
    else:
        os.environ["REQUESTS_CA_BUNDLE"] = previous


def token_for(server, nn):
    app = msal.ConfidentialClientApplication(
        app_id(nn), client_credential=SECRETS[nn], authority=f"{server['https_url']}/{CONTOSO}",
        instance_discovery=False, azure_region=False)
    return app.acquire_token_for_client(scopes=[EXO_SCOPE])["access_token"]


def smtp(server):
    host, port = server["smtp_addr"].rsplit(":", 1)
    client = smtplib.SMTP(host, int(port), local_hostname="client.example.com", timeout=10)
    client.starttls(context=ssl.create_default_context(cafile=server["ca_file"]))
    client.ehlo("client.example.com")
    return client


def message(subject):
    return (f"From: {USER}\r\nTo: {USER}\r\nSubject: {subject}\r\n"
            f"Message-ID: <{subject}@client.example.com>\r\n\r\nSent by an interop test.\r\n")


def imap_subjects(server, token):
    host, port = server["imaps_addr"].rsplit(":", 1)
    imap = imaplib.IMAP4_SSL(host, int(port), ssl_context=ssl.create_default_context(cafile=server["ca_file"]))
    imap.authenticate("XOAUTH2", lambda _c: f"user={USER}\x01auth=Bearer {token}\x01\x01".encode())
    imap.select("INBOX", readonly=True)
    _, data = imap.search(None, "ALL")
    subjects = []
    for num in data[0].split():
        _, parts = imap.fetch(num, "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
        subjects.append(parts[0][1].decode().strip())
    imap.logout()
    return subjects


def pop3_subjects(server, token):
    """Every Subject line of the INBOX over POP3 (TLS, the two-line XOAUTH2 Exchange wants)."""
    host, port = server["pop3s_addr"].rsplit(":", 1)
    pop = poplib.POP3_SSL(host, int(port), context=ssl.create_default_context(cafile=server["ca_file"]), timeout=10)
    assert pop._shortcmd("AUTH XOAUTH2") == b"+ "
    blob = base64.b64encode(f"user={USER}\x01auth=Bearer {token}\x01\x01".encode()).decode()
    assert pop._shortcmd(blob).startswith(b"+OK")
    subjects = []
    for entry in pop.list()[1]:
        num = int(entry.split()[0])
        for line in pop.retr(num)[1]:
            if line.startswith(b"Subject: "):
                subjects.append(line.decode())
    pop.quit()
    return subjects


def test_smtplib_sends_and_imap_and_pop3_read_it_back(mock_server):
    token = token_for(mock_server, 1)
    client = smtp(mock_server)
    assert client.has_extn("auth") and "XOAUTH2" in client.esmtp_features["auth"]
    code, text = client.auth("XOAUTH2", lambda challenge=None: f"user={USER}\x01auth=Bearer {token}\x01\x01",
                             initial_response_ok=True)
    assert (code, text) == (235, b"2.7.0 Authentication successful")
    subject = f"smtplib-{uuid.uuid4().hex[:8]}"
    assert client.sendmail(USER, [USER], message(subject)) == {}
    client.quit()
    assert f"Subject: {subject}" in imap_subjects(mock_server, token)
    assert f"Subject: {subject}" in pop3_subjects(mock_server, token)


def test_smtplib_two_step_auth_and_the_storedrv_failure(mock_server):
    client = smtp(mock_server)
    token = token_for(mock_server, 4)
    # Without an initial response smtplib waits for 334 and answers it.
    code, _ = client.auth("XOAUTH2", lambda challenge=None: f"user={USER}\x01auth=Bearer {token}\x01\x01"
                          if challenge is not None else None, initial_response_ok=False)
    assert code == 235
    with pytest.raises(smtplib.SMTPDataError) as e:
        client.sendmail(USER, [USER], message("never-delivered"))
    assert e.value.smtp_code == 430
    assert e.value.smtp_error.startswith(b"4.2.0 STOREDRV; mailbox logon failure;")


def test_smtplib_sees_smtp_auth_disabled_for_the_mailbox(mock_server):
    token = token_for(mock_server, 1)
    client = smtp(mock_server)
    with pytest.raises(smtplib.SMTPAuthenticationError) as e:
        client.auth("XOAUTH2", lambda challenge=None: f"user=smtp.disabled@contoso.com\x01auth=Bearer {token}\x01\x01")
    assert e.value.smtp_code == 535
    assert e.value.smtp_error.startswith(b"5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled "
                                         b"for the Mailbox.")


def test_curl_sends_over_starttls_with_oauth2_bearer(mock_server, tmp_path):
    token = token_for(mock_server, 1)
    subject = f"curl-{uuid.uuid4().hex[:8]}"
    eml = tmp_path / "m.eml"
    eml.write_bytes(message(subject).encode())
    out = subprocess.run(
        ["curl", "--silent", "--show-error", "--ssl-reqd", f"smtp://{mock_server['smtp_addr']}/client.example.com",
         "--cacert", mock_server["ca_file"], "--user", f"{USER}:", "--oauth2-bearer", token,
         "--mail-from", USER, "--mail-rcpt", USER, "--upload-file", str(eml)],
        capture_output=True, timeout=30)
    assert out.returncode == 0, out.stderr
    assert f"Subject: {subject}" in imap_subjects(mock_server, token)


@pytest.mark.skipif(shutil.which("msmtp") is None, reason="msmtp is not installed (scripts/test-all installs it)")
def test_msmtp_auth_xoauth2(mock_server, tmp_path):
    token = token_for(mock_server, 1)
    host, port = mock_server["smtp_addr"].rsplit(":", 1)
    subject = f"msmtp-{uuid.uuid4().hex[:8]}"
    token_file = tmp_path / "token"
    token_file.write_text(token)
    config = tmp_path / "msmtprc"
    config.write_text(
        f"account mock\nhost {host}\nport {port}\ntls on\ntls_starttls on\ntls_trust_file {mock_server['ca_file']}\n"
        f"auth xoauth2\nuser {USER}\npasswordeval cat {token_file}\nfrom {USER}\ndomain client.example.com\n"
        "account default : mock\n")
    config.chmod(0o600)
    out = subprocess.run(["msmtp", "-C", str(config), USER], input=message(subject).encode(),
                         capture_output=True, timeout=30)
    assert out.returncode == 0, out.stderr
    assert f"Subject: {subject}" in imap_subjects(mock_server, token)
