"""Drop-in proof: unmodified MSAL for Python, azure-identity and imaplib against
`mock-server --real-hosts`, with MSAL's DEFAULT authority host and instance discovery on.

Nothing here names the mock: the names are Microsoft's, resolved by the hosts file and
trusted through the system CA bundle, both replaced only inside the private mount
namespace tests/dropin/run.sh makes (REQUESTS_CA_BUNDLE points requests at that bundle,
as `mock-server trust install` tells a user to).
"""
import base64
import imaplib
import json
import os
import pathlib
import tempfile
import threading

import msal
import requests
from azure.identity import CertificateCredential, ClientSecretCredential

ROOT = pathlib.Path(__file__).resolve().parents[2]
CERTS = ROOT / "fixtures" / "certs"
TENANT = "contoso.onmicrosoft.com"
AUTHORITY = f"https://login.microsoftonline.com/{TENANT}"
POLLER = "00000000-0000-4000-8000-00000000a001"
DESKTOP = "00000000-0000-4000-8000-00000000a008"
SECRET = "poller-secret-value"
USER = "test.user@contoso.com"
PASSWORD = "Passw0rd!"
APP_SCOPE = "https://outlook.office365.com/.default"
IMAP = "https://outlook.office.com/IMAP.AccessAsUser.All"


def claims(jwt):
    body = jwt.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))


def imap_login(token):
    """imaplib to Microsoft's IMAP host and port, with the default TLS context."""
    with imaplib.IMAP4_SSL("outlook.office365.com", 993) as imap:
        auth = f"user={USER}\x01auth=Bearer {token}\x01\x01".encode()
        imap.authenticate("XOAUTH2", lambda _: auth)
        status, data = imap.select("INBOX", readonly=True)
        assert status == "OK" and int(data[0]) >= 1, data
        imap.logout()


def test_msal_client_credentials_with_the_default_authority_then_imap():
    app = msal.ConfidentialClientApplication(POLLER, client_credential=SECRET, authority=AUTHORITY)
    result = app.acquire_token_for_client(scopes=[APP_SCOPE])
    assert "access_token" in result, result
    assert claims(result["access_token"])["aud"] == "https://outlook.office365.com"
    imap_login(result["access_token"])


def test_msal_password_grant_without_any_port_workaround():
    # MSAL calls https://login.microsoftonline.com/common/userrealm/… on port 443 first.
    app = msal.PublicClientApplication(DESKTOP, authority=AUTHORITY)
    result = app.acquire_token_by_username_password(USER, PASSWORD, scopes=[IMAP])
    assert "access_token" in result, result
    assert claims(result["access_token"])["upn"] == USER
    imap_login(result["access_token"])


def approve(flow, errors):
    """A person on the verification page MSAL printed (Microsoft's own URL)."""
    try:
        url = flow["verification_uri"]
        s = requests.Session()
        s.post(url, data={"otc": flow["user_code"]}, timeout=10)
        done = s.post(url, data={"otc": flow["user_code"], "login": USER, "passwd": PASSWORD, "action": "accept"},
                      timeout=10).text
        assert "You have signed in" in done, done
    except Exception as e:  # reported by the test
        errors.append(e)


def test_msal_device_code_flow():
    app = msal.PublicClientApplication(DESKTOP, authority=AUTHORITY)
    flow = app.initiate_device_flow(scopes=[IMAP])
    assert "user_code" in flow, flow
    errors = []
    person = threading.Thread(target=approve, args=(flow, errors))
    person.start()
    result = app.acquire_token_by_device_flow(flow)
    person.join(timeout=30)
    assert not errors, errors
    assert claims(result["access_token"])["upn"] == USER


def test_azure_identity_client_secret_credential():
    token = ClientSecretCredential(TENANT, POLLER, SECRET).get_token(APP_SCOPE)
    assert claims(token.token)["appid"] == POLLER
    imap_login(token.token)


def test_azure_identity_certificate_credential():
    with tempfile.NamedTemporaryFile("w", suffix=".pem") as pem:
        pem.write((CERTS / "mail-poller.key").read_text() + (CERTS / "mail-poller.crt").read_text())
        pem.flush()
        token = CertificateCredential(TENANT, POLLER, certificate_path=pem.name).get_token(APP_SCOPE)
    assert claims(token.token)["appid"] == POLLER


def test_the_names_resolve_here_only_inside_the_namespace():
    import socket
    assert socket.gethostbyname("login.microsoftonline.com") == "127.0.0.1"
    assert os.environ.get("MOCK_DROPIN_INSIDE") == "1"
