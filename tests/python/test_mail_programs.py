"""Interop: mail programs configured as their own documentation configures Office 365,
with only the host, port, CA and authority changed to the mock's, each reading the
INBOX of test.user@contoso.com before and after an access-token expiry.

The server is our own (server_process.running_server) with --test-controls, so the
tests move its clock, and --token-lifetime 240: the programs judge expiry by their own
clock, which does not move, and a 240 s token is one they treat as due for refresh
(MSAL: under 5 minutes left; emailproxy: under its 10 minute margin) — while the server,
its clock advanced by 600 s, refuses the old token, which each test checks too.
docs/_incoming/mail-programs.md says how each program is configured.
"""
import asyncio
import contextlib
import email
import imaplib
import pathlib
import ssl

import aioimaplib
import msal
import pytest
from conftest import app_id
from server_process import advance_clock, connect_imaps, running_server, xoauth2
from test_msal_delegated import session

USER = "test.user@contoso.com"
PASSWORD = "Passw0rd!"
# The scopes Microsoft's "Authenticate an IMAP, POP or SMTP connection using OAuth" page names.
IMAP_SCOPE = "https://outlook.office365.com/IMAP.AccessAsUser.All"
INBOX_COUNT = 4
HERE = pathlib.Path(__file__).resolve().parent
TEMPLATES = HERE / "mail_programs"


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


def expire(server, old_token):
    """Advance the server clock past the access token's life and check it is refused."""
    advance_clock(server, 600)
    assert refused_over_imaplib(server, old_token)


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
    assert status == "OK" and len(subjects) == INBOX_COUNT and all(subjects), subjects

    advance_clock(server, 600)
    status, _ = asyncio.run(aioimaplib_read(server, first["access_token"]))
    assert status == "NO"  # the server refuses the expired token

    account = app.get_accounts(username=USER)[0]
    second = app.acquire_token_silent([IMAP_SCOPE], account=account)
    assert second and second.get("token_source") == "identity_provider", second
    assert second["access_token"] != first["access_token"]
    status, after = asyncio.run(aioimaplib_read(server, second["access_token"]))
    assert status == "OK" and after == subjects
