"""Interop: real POP3 clients against the mock's Exchange Online POP3 (995 and 110).

CPython's poplib with a token from MSAL for Python. poplib has no AUTH helper, so the
tests send `AUTH XOAUTH2` and then the base64 line, as users do (Microsoft's two-line
exchange). curl (pop3s://, --oauth2-bearer) reads CAPA and sends the two lines as well;
with --sasl-ir it sends the single-line form only when the line fits 255 bytes (RFC 2449),
which no real token does, so a short bearer shows Exchange's refusal of that form.

These tests never delete mail: the server is shared with the IMAP interop tests.
"""
import base64
import email
import poplib
import ssl
import subprocess

import msal
import pytest

from conftest import CONTOSO, EXO_SCOPE, app_id

USER = "test.user@contoso.com"
SECRETS = {1: "poller-secret-value", 2: "wrong-oid-secret", 4: "no-permission-secret"}


def token_for(server, nn):
    app = msal.ConfidentialClientApplication(
        app_id(nn), client_credential=SECRETS[nn], authority=f"{server['https_url']}/{CONTOSO}",
        instance_discovery=False, azure_region=False)
    result = app.acquire_token_for_client(scopes=[EXO_SCOPE])
    return result["access_token"]


def blob(user, token):
    return base64.b64encode(f"user={user}\x01auth=Bearer {token}\x01\x01".encode()).decode()


def connect(server):
    host, port = server["pop3s_addr"].rsplit(":", 1)
    ctx = ssl.create_default_context(cafile=server["ca_file"])
    return poplib.POP3_SSL(host, int(port), context=ctx, timeout=10)


def xoauth2(pop, user, token):
    """The two-line exchange: AUTH XOAUTH2, `+ `, then the blob on its own line."""
    assert pop._shortcmd("AUTH XOAUTH2") == b"+ "
    return pop._shortcmd(blob(user, token))


def test_poplib_lists_and_retrieves_the_demo_messages(mock_server):
    pop = connect(mock_server)
    assert pop.getwelcome().startswith(b"+OK Microsoft Exchange POP3 server ready (tcpproxy/15.20.9137.005). [")
    assert pop.capa() == {"TOP": [], "UIDL": [], "SASL": ["PLAIN", "XOAUTH2"], "USER": []}
    assert xoauth2(pop, USER, token_for(mock_server, 1)) == b"+OK User successfully authenticated."
    count, octets = pop.stat()
    assert count == 4
    resp, listing, _ = pop.list()
    sizes = [int(line.split()[1]) for line in listing]
    assert len(sizes) == 4 and sum(sizes) == octets
    subjects = []
    for n in range(1, 5):
        resp, lines, size = pop.retr(n)
        assert resp == b"+OK"
        message = email.message_from_bytes(b"\r\n".join(lines) + b"\r\n")
        subjects.append(message["Subject"])
        # poplib counts each line plus CRLF: what LIST announced.
        assert size == sizes[n - 1]
    assert subjects == ["Test Mail", "Test 2 Process", "How are you?", "My Mail"]
    resp, lines, _ = pop.top(3, 0)
    assert b"Subject: How are you?" in lines
    assert pop.uidl()[0] == b"+OK"
    assert pop.quit() == b"+OK Microsoft Exchange Server POP3 server signing off."


def test_poplib_sees_the_wrong_object_id_failure(mock_server):
    pop = connect(mock_server)
    with pytest.raises(poplib.error_proto, match="Authentication failure: unknown user name or bad password"):
        xoauth2(pop, USER, token_for(mock_server, 2))


def test_poplib_sees_authenticated_but_not_connected(mock_server):
    pop = connect(mock_server)
    assert xoauth2(pop, USER, token_for(mock_server, 4)) == b"+OK User successfully authenticated."
    with pytest.raises(poplib.error_proto, match="User is authenticated but not connected"):
        pop.stat()


def test_poplib_user_pass_is_basic_auth_and_refused(mock_server):
    pop = connect(mock_server)
    assert pop.user(USER) == b"+OK"
    with pytest.raises(poplib.error_proto, match="Basic authentication is disabled"):
        pop.pass_("Passw0rd!")


def test_single_line_auth_is_refused_and_the_connection_closed(mock_server):
    pop = connect(mock_server)
    with pytest.raises(poplib.error_proto, match=r"Protocol error\. Connection is closed\. 10"):
        pop._shortcmd("AUTH XOAUTH2 " + blob(USER, token_for(mock_server, 1)))
    assert pop.file.readline() == b""


def test_poplib_stls_on_port_110(mock_server):
    host, port = mock_server["pop3_addr"].rsplit(":", 1)
    pop = poplib.POP3(host, int(port), timeout=10)
    assert pop.capa() == {"TOP": [], "UIDL": [], "STLS": []}
    pop.stls(context=ssl.create_default_context(cafile=mock_server["ca_file"]))
    assert "SASL" in pop.capa()
    assert xoauth2(pop, USER, token_for(mock_server, 1)) == b"+OK User successfully authenticated."
    assert pop.stat()[0] == 4
    pop.quit()


def curl(server, *args):
    return subprocess.run(["curl", "-sS", "--max-time", "20", "--cacert", server["ca_file"], *args],
                          capture_output=True, text=True, check=False)


def test_curl_lists_over_pop3s_with_two_line_xoauth2(mock_server):
    port = mock_server["pop3s_addr"].rsplit(":", 1)[1]
    r = curl(mock_server, "-v", f"pop3s://localhost:{port}/", "-u", f"{USER}:",
             "--oauth2-bearer", token_for(mock_server, 1))
    assert r.returncode == 0, r.stderr
    assert [line.split()[0] for line in r.stdout.splitlines()] == ["1", "2", "3", "4"]
    # Two lines: AUTH XOAUTH2 alone, the continuation, then the blob.
    assert "> AUTH XOAUTH2" in r.stderr and "> AUTH XOAUTH2 " not in r.stderr
    assert "< + " in r.stderr
    assert "< +OK User successfully authenticated." in r.stderr


def test_curl_sasl_ir_with_a_real_token_still_uses_two_lines(mock_server):
    port = mock_server["pop3s_addr"].rsplit(":", 1)[1]
    r = curl(mock_server, "-v", "--sasl-ir", f"pop3s://localhost:{port}/1", "-u", f"{USER}:",
             "--oauth2-bearer", token_for(mock_server, 1))
    assert r.returncode == 0, r.stderr
    assert "Subject: Test Mail" in r.stdout


def test_curl_sasl_ir_single_line_form_is_refused(mock_server):
    port = mock_server["pop3s_addr"].rsplit(":", 1)[1]
    r = curl(mock_server, "-v", "--sasl-ir", f"pop3s://localhost:{port}/", "-u", f"{USER}:",
             "--oauth2-bearer", "short")
    assert r.returncode == 67, r.stderr  # CURLE_LOGIN_DENIED
    assert "< -ERR Protocol error. Connection is closed. 10" in r.stderr
