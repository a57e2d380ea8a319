"""Interop: unmodified MSAL for Python as a public client (demo app 08, "Desktop Mail
Client") against the mock's delegated flows, and the resulting token over IMAP.

The server here is our own process (server_process.py), started with --test-controls so
the tests can move its clock, and with a 240 s token lifetime: MSAL treats any access
token with less than 5 minutes left as expired, so acquire_token_silent goes to the
refresh token instead of its cache.
"""
import base64
import imaplib
import json
import pathlib
import shutil
import tempfile
import threading
import urllib.parse

import msal
import pytest
import requests
from conftest import CONTOSO, ROOT, app_id
from server_process import advance_clock, running_server, xoauth2
from server_process import connect_imaps as connect

USER = "test.user@contoso.com"
PASSWORD = "Passw0rd!"
IMAP = "https://outlook.office.com/IMAP.AccessAsUser.All"
SCP = "IMAP.AccessAsUser.All POP.AccessAsUser.All SMTP.Send"


@pytest.fixture(scope="module")
def server():
    with running_server("--test-controls", "--token-lifetime", "240") as s:
        yield s


class PortKeepingSession(requests.Session):
    """MSAL for Python builds the ROPC pre-flight URL from the authority's host name
    alone (`https://{hostname}/common/userrealm/{upn}`, msal/authority.py), so on a
    non-default port it calls port 443. Put the server's port back, as a user on a
    non-443 port must; against the mock on port 443 (--https-port 443) no rewrite is needed."""

    def __init__(self, server):
        super().__init__()
        self.netloc = urllib.parse.urlsplit(server["https_url"]).netloc
        self.host = self.netloc.rsplit(":", 1)[0]

    def request(self, method, url, *args, **kwargs):
        prefix = f"https://{self.host}/common/userrealm/"
        if url.startswith(prefix):
            url = f"https://{self.netloc}/common/userrealm/" + url[len(prefix):]
        return super().request(method, url, *args, **kwargs)


def session(server):
    s = PortKeepingSession(server)
    # trust_env=False: a REQUESTS_CA_BUNDLE set for another server must not win over
    # this server's CA (requests lets the environment override Session.verify).
    s.trust_env = False
    s.verify = server["ca_file"]
    return s


def pca(server, client_id=None, tenant=CONTOSO):
    # A new application object per call: MSAL caches 400 answers for 60 s per object.
    return msal.PublicClientApplication(
        client_id or app_id(8), authority=f"{server['https_url']}/{tenant}",
        instance_discovery=False, http_client=session(server))


def claims_of(token):
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def assert_user_token(result):
    assert "access_token" in result, result
    claims = claims_of(result["access_token"])
    assert claims["aud"] == "https://outlook.office.com"
    assert claims["scp"] == SCP
    assert claims["upn"] == USER and claims["unique_name"] == USER
    assert claims["oid"] == "00000000-0000-4000-8000-00000000e001"
    assert claims["appid"] == app_id(8) and claims["appidacr"] == "0"
    assert claims["amr"] == ["pwd"] and claims["acr"] == "1" and claims["idtyp"] == "user"
    assert "roles" not in claims
    assert result["id_token_claims"]["preferred_username"] == USER
    assert result["id_token_claims"]["aud"] == app_id(8)
    assert "refresh_token" in result
    return claims


def assert_error(result, error, code, text=""):
    assert result.get("error") == error, result
    assert result.get("error_codes") == [code], result
    assert result["error_description"].startswith(f"AADSTS{code}: "), result
    assert text in result["error_description"], result


def test_ropc_signs_in_and_msal_builds_the_account(server):
    app = pca(server)
    result = app.acquire_token_by_username_password(USER, PASSWORD, scopes=[IMAP])
    assert_user_token(result)
    # Entra does not echo offline_access in `scope`; the refresh token is the sign of it.
    assert f"{IMAP} " in result["scope"] + " " and "offline_access" not in result["scope"]
    accounts = app.get_accounts()
    assert [a["username"] for a in accounts] == [USER]
    # client_info made the home account id "<oid>.<tid>".
    assert accounts[0]["home_account_id"] == f"00000000-0000-4000-8000-00000000e001.{CONTOSO}"


@pytest.mark.parametrize("user,password,scopes,error,code,text", [
    (USER, "wrong", [IMAP], "invalid_grant", 50126, "invalid username or password"),
    ("nobody@contoso.com", PASSWORD, [IMAP], "invalid_grant", 50034, "does not exist in the contoso.onmicrosoft.com directory"),
    ("shared.inbox@contoso.com", "anything", [IMAP], "invalid_grant", 50057, "The user account is disabled."),
    (USER, PASSWORD, ["https://outlook.office.com/EWS.AccessAsUser.All"], "invalid_grant", 65001,
     "has not consented to use the application"),
])
def test_ropc_errors_as_msal_surfaces_them(server, user, password, scopes, error, code, text):
    result = pca(server).acquire_token_by_username_password(user, password, scopes=scopes)
    assert_error(result, error, code, text)
    if code == 65001:
        assert result.get("suberror") == "consent_required"


def test_ropc_with_a_confidential_app_and_no_credential_is_invalid_client(server):
    result = pca(server, client_id=app_id(1)).acquire_token_by_username_password(USER, PASSWORD, scopes=[IMAP])
    assert_error(result, "invalid_client", 7000218, "'client_assertion' or 'client_secret'")


def test_ropc_lockout_and_its_end(server):
    for _ in range(9):
        r = pca(server).acquire_token_by_username_password("imap.disabled@contoso.com", "guess", scopes=[IMAP])
        assert r.get("error_codes") == [50126], r
    r = pca(server).acquire_token_by_username_password("imap.disabled@contoso.com", "guess", scopes=[IMAP])
    assert_error(r, "invalid_grant", 50053, "too many times")
    r = pca(server).acquire_token_by_username_password("imap.disabled@contoso.com", PASSWORD, scopes=[IMAP])
    assert_error(r, "invalid_grant", 50053)
    advance_clock(server, 61)
    r = pca(server).acquire_token_by_username_password("imap.disabled@contoso.com", PASSWORD, scopes=[IMAP])
    assert "access_token" in r, r


def test_ropc_for_a_user_who_needs_mfa():
    # A copy of the demo fixture with test.user flagged; its files are linked beside it.
    folder = pathlib.Path(tempfile.mkdtemp(prefix="mfa-fixture-"))
    fixture = json.loads((ROOT / "fixtures" / "demo-tenant.json").read_text())
    fixture["tenants"][0]["users"][0]["mfa_required"] = True
    (folder / "tenant.json").write_text(json.dumps(fixture))
    for sub in ("keys", "certs", "mail"):
        (folder / sub).symlink_to(ROOT / "fixtures" / sub)
    try:
        with running_server("--fixture", str(folder / "tenant.json")) as mfa_server:
            r = pca(mfa_server).acquire_token_by_username_password(USER, PASSWORD, scopes=[IMAP])
            assert_error(r, "invalid_grant", 50076, "you must use multi-factor authentication")
    finally:
        shutil.rmtree(folder)


def play_person(server, flow, action="accept", password=PASSWORD, errors=None):
    """What a person does in a browser: open the page, type the code, sign in."""
    try:
        s = session(server)
        url = flow["verification_uri"]
        assert "name=\"otc\"" in s.get(url, timeout=10).text
        page = s.post(url, data={"otc": flow["user_code"]}, timeout=10).text
        assert "Desktop Mail Client" in page and "name=\"passwd\"" in page
        done = s.post(url, data={"otc": flow["user_code"], "login": USER, "passwd": password, "action": action},
                      timeout=10).text
        expected = "You have signed in to the Desktop Mail Client application" if action == "accept" else "declined"
        assert expected in done, done
    except Exception as e:  # reported by the test thread
        (errors if errors is not None else []).append(e)


def test_device_flow_with_a_person_on_the_verification_page(server):
    app = pca(server)
    flow = app.initiate_device_flow(scopes=[IMAP])
    assert flow["verification_uri"] == f"{server['https_url']}/devicelogin"
    assert flow["message"] == (f"To sign in, use a web browser to open the page {flow['verification_uri']} "
                               f"and enter the code {flow['user_code']} to authenticate.")
    assert flow["expires_in"] == 900 and flow["interval"] == 5
    errors = []
    person = threading.Thread(target=play_person, args=(server, flow), kwargs={"errors": errors})
    person.start()
    result = app.acquire_token_by_device_flow(flow)
    person.join(timeout=30)
    assert not errors, errors
    assert_user_token(result)


def test_device_flow_declined(server):
    app = pca(server)
    flow = app.initiate_device_flow(scopes=[IMAP])
    errors = []
    play_person(server, flow, action="cancel", errors=errors)
    assert not errors, errors
    assert_error(app.acquire_token_by_device_flow(flow), "authorization_declined", 65004)


def test_device_flow_expired_and_bad_code(server):
    app = pca(server)
    flow = app.initiate_device_flow(scopes=[IMAP])
    advance_clock(server, 901)
    assert_error(app.acquire_token_by_device_flow(flow), "expired_token", 70019)
    flow = app.initiate_device_flow(scopes=[IMAP])
    flow["device_code"] = "not-a-device-code"
    assert_error(app.acquire_token_by_device_flow(flow), "bad_verification_code", 70018)


def test_auth_code_flow_unattended_with_prompt_none(server):
    app = pca(server)
    flow = app.initiate_auth_code_flow([IMAP], redirect_uri="http://localhost:8400", login_hint=USER, prompt="none")
    r = session(server).get(flow["auth_uri"], allow_redirects=False, timeout=10)
    assert r.status_code == 302, r.text
    location = urllib.parse.urlsplit(r.headers["Location"])
    assert f"{location.scheme}://{location.netloc}" == "http://localhost:8400"
    response = dict(urllib.parse.parse_qsl(location.query))
    result = app.acquire_token_by_auth_code_flow(flow, response)
    assert_user_token(result)
    # The code is single-use.
    again = pca(server).acquire_token_by_auth_code_flow(flow, response)
    assert_error(again, "invalid_grant", 54005)


def test_refresh_through_acquire_token_silent_after_expiry(server):
    app = pca(server)
    first = app.acquire_token_by_username_password(USER, PASSWORD, scopes=[IMAP])
    assert_user_token(first)
    advance_clock(server, 600)  # the 240 s access token is now expired on the server too
    account = app.get_accounts(username=USER)[0]
    second = app.acquire_token_silent([IMAP], account=account)
    assert second is not None
    assert second["token_source"] == "identity_provider"
    assert second["access_token"] != first["access_token"]
    assert claims_of(second["access_token"])["exp"] >= claims_of(first["access_token"])["exp"] + 600
    # 91 days of inactivity: the refresh token is refused (AADSTS700082).
    advance_clock(server, 91 * 86400)
    failed = app.acquire_token_silent_with_error([IMAP], account=account)
    assert_error(failed, "invalid_grant", 700082, "expired due to inactivity")


def test_delegated_token_over_imaplib(server):
    token = pca(server).acquire_token_by_username_password(USER, PASSWORD, scopes=[IMAP])["access_token"]
    for mailbox, count in ((USER, b"4"), ("shared.inbox@contoso.com", b"2")):
        imap = connect(server)
        assert imap.authenticate("XOAUTH2", xoauth2(mailbox, token))[0] == "OK"
        assert imap.select("INBOX", readonly=True) == ("OK", [count])
        imap.logout()
    imap = connect(server)
    typ, data = imap.authenticate("XOAUTH2", xoauth2("imap.disabled@contoso.com", token))
    assert (typ, data) == ("OK", [b"AUTHENTICATE completed."])
    with pytest.raises(imaplib.IMAP4.error, match="User is authenticated but not connected."):
        imap.select("INBOX")
