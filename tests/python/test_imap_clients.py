"""Interop: real mail clients against the mock's Exchange Online IMAP.

imaplib (CPython's, the continuation path: AUTHENTICATE without SASL-IR) with a token from
MSAL for Python, and curl (--oauth2-bearer, imaps://).
"""
import email
import email.utils
import imaplib
import subprocess

import msal
import pytest
from conftest import CONTOSO, EXO_SCOPE, app_id
from server_process import connect_imaps as connect
from server_process import xoauth2

USER = "test.user@contoso.com"
SECRETS = {1: "poller-secret-value", 2: "wrong-oid-secret", 4: "no-permission-secret"}


def token_for(server, nn):
    app = msal.ConfidentialClientApplication(
        app_id(nn), client_credential=SECRETS[nn], authority=f"{server['https_url']}/{CONTOSO}",
        instance_discovery=False, azure_region=False)
    result = app.acquire_token_for_client(scopes=[EXO_SCOPE])
    return result["access_token"]


def test_imaplib_lists_the_four_demo_messages(mock_server):
    token = token_for(mock_server, 1)
    imap = connect(mock_server)
    assert imap.welcome.startswith(b"* OK The Microsoft Exchange IMAP4 service is ready. [")
    typ, _ = imap.authenticate("XOAUTH2", xoauth2(USER, token))
    assert typ == "OK"
    typ, data = imap.select("INBOX", readonly=True)
    assert (typ, data) == ("OK", [b"4"])
    typ, data = imap.search(None, "ALL")
    assert data == [b"1 2 3 4"]
    listed = []
    for num in data[0].split():
        typ, parts = imap.fetch(num, "(BODY.PEEK[HEADER.FIELDS (FROM DATE SUBJECT)])")
        headers = email.message_from_bytes(parts[0][1])
        listed.append((headers["From"], email.utils.parsedate_to_datetime(headers["Date"]).strftime("%Y-%m-%d %H:%M:%S"),
                       headers["Subject"]))
    assert listed == [
        ("Arthur Example <arthur@fabrikam.com>", "2022-11-15 16:49:03", "Test Mail"),
        ("Arthur Example <arthur@fabrikam.com>", "2022-11-16 14:28:34", "Test 2 Process"),
        ("Arthur Example <arthur@fabrikam.com>", "2022-11-16 14:49:35", "How are you?"),
        ("Arthur Example <arthur@fabrikam.com>", "2022-11-17 15:59:29", "My Mail"),
    ]
    typ, parts = imap.fetch("3", "(RFC822)")
    message = email.message_from_bytes(parts[0][1])
    assert message.is_multipart()
    assert [p.get_filename() for p in message.walk() if p.get_filename()] == ["notes.txt"]
    assert imap.logout()[0] == "BYE"


def test_imaplib_sees_the_wrong_object_id_failure(mock_server):
    imap = connect(mock_server)
    with pytest.raises(imaplib.IMAP4.error, match="AUTHENTICATE failed"):
        imap.authenticate("XOAUTH2", xoauth2(USER, token_for(mock_server, 2)))


def test_imaplib_sees_authenticated_but_not_connected(mock_server):
    imap = connect(mock_server)
    typ, _ = imap.authenticate("XOAUTH2", xoauth2(USER, token_for(mock_server, 4)))
    assert typ == "OK"
    with pytest.raises(imaplib.IMAP4.error, match="User is authenticated but not connected"):
        imap.select("INBOX")


def test_curl_fetches_one_message_with_oauth2_bearer(mock_server):
    token = token_for(mock_server, 1)
    url = f"imaps://{mock_server['imaps_addr']}/INBOX;UID=2"
    result = subprocess.run(
        ["curl", "--silent", "--show-error", "--cacert", mock_server["ca_file"], "--user", f"{USER}:",
         "--oauth2-bearer", token, url],
        capture_output=True, timeout=30, check=False)
    assert result.returncode == 0, result.stderr.decode()
    message = email.message_from_bytes(result.stdout)
    assert message["Subject"] == "Test 2 Process"
    assert message.get_content_type() == "multipart/alternative"
