"""Interop: unmodified MSAL for Python against the mock's identity platform.

Only the authority URL and the trusted CA change, as for a user's own application.
"""
import base64
import hashlib
import json
import pathlib
import time

import jwt
import msal
import pytest
import requests
from cryptography import x509

from conftest import CONTOSO, EXO_SCOPE, FABRIKAM, ROOT, app_id

CERTS = ROOT / "fixtures" / "certs"


def claims_of(token: str) -> dict:
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def header_of(token: str) -> dict:
    h = token.split(".")[0]
    return json.loads(base64.urlsafe_b64decode(h + "=" * (-len(h) % 4)))


def cca(server, client_id, credential, tenant=CONTOSO):
    # A new application object per call: MSAL caches 400 answers for 60 s per object.
    return msal.ConfidentialClientApplication(
        client_id,
        client_credential=credential,
        authority=f"{server['https_url']}/{tenant}",
        instance_discovery=False,
        azure_region=False,
    )


def verify_with_jwks(server, token):
    """Check the signature with PyJWT and the published JWKS, as a resource server would."""
    jwks = requests.get(f"{server['https_url']}/{CONTOSO}/discovery/v2.0/keys", timeout=10).json()
    kid = header_of(token)["kid"]
    key = next(k for k in jwks["keys"] if k["kid"] == kid)
    return jwt.decode(
        token,
        jwt.PyJWK(key).key,
        algorithms=["RS256"],
        audience="https://outlook.office365.com",
        issuer=f"https://sts.windows.net/{CONTOSO}/",
    )


def assert_app_token(server, result, appidacr):
    assert "access_token" in result, result
    assert result["token_type"] == "Bearer"
    assert result["expires_in"] == 3599
    assert "refresh_token" not in result
    claims = verify_with_jwks(server, result["access_token"])
    assert claims["appid"] == app_id(1)
    assert claims["appidacr"] == appidacr
    assert claims["oid"] == "00000000-0000-4000-8000-00000000c001"
    assert claims["tid"] == CONTOSO
    assert claims["idtyp"] == "app"
    assert claims["ver"] == "1.0"
    assert claims["roles"] == ["IMAP.AccessAsApp", "POP.AccessAsApp", "SMTP.SendAsApp"]
    assert claims["exp"] - claims["iat"] == 3900
    return claims


def test_secret(mock_server):
    result = cca(mock_server, app_id(1), "poller-secret-value").acquire_token_for_client(scopes=[EXO_SCOPE])
    assert_app_token(mock_server, result, "1")


def test_secret_with_domain_authority(mock_server):
    app = cca(mock_server, app_id(1), "poller-secret-value", tenant="contoso.onmicrosoft.com")
    result = app.acquire_token_for_client(scopes=[EXO_SCOPE])
    assert_app_token(mock_server, result, "1")
    # The second call is served from MSAL's token cache.
    again = app.acquire_token_for_client(scopes=[EXO_SCOPE])
    assert again["access_token"] == result["access_token"]
    assert again.get("token_source") == "cache"


def test_certificate_pfx_sha256_thumbprint_ps256(mock_server):
    credential = {"private_key_pfx_path": str(CERTS / "mail-poller.pfx"), "passphrase": "mail-poller"}
    app = cca(mock_server, app_id(1), credential)
    result = app.acquire_token_for_client(scopes=[EXO_SCOPE])
    assert_app_token(mock_server, result, "2")


def test_certificate_pem_with_public_certificate_ps256(mock_server):
    credential = {
        "private_key": (CERTS / "mail-poller.key").read_text(),
        "public_certificate": (CERTS / "mail-poller.crt").read_text(),
    }
    result = cca(mock_server, app_id(1), credential).acquire_token_for_client(scopes=[EXO_SCOPE])
    assert_app_token(mock_server, result, "2")


def test_certificate_pem_with_sha1_thumbprint_rs256(mock_server):
    cert = x509.load_pem_x509_certificate((CERTS / "mail-poller.crt").read_bytes())
    from cryptography.hazmat.primitives import hashes
    thumbprint = cert.fingerprint(hashes.SHA1()).hex().upper()
    credential = {"private_key": (CERTS / "mail-poller.key").read_text(), "thumbprint": thumbprint}
    result = cca(mock_server, app_id(1), credential).acquire_token_for_client(scopes=[EXO_SCOPE])
    assert_app_token(mock_server, result, "2")


def assert_error(result, error, code, text):
    assert result.get("error") == error, result
    assert result.get("error_codes") == [code], result
    assert result["error_description"].startswith(f"AADSTS{code}: "), result
    assert text in result["error_description"], result


def test_wrong_secret(mock_server):
    result = cca(mock_server, app_id(1), "not-the-secret").acquire_token_for_client(scopes=[EXO_SCOPE])
    assert_error(result, "invalid_client", 7000215,
                 "Ensure the secret being sent in the request is the client secret value, not the client secret ID")


def test_secret_id_instead_of_value(mock_server):
    result = cca(mock_server, app_id(1), "00000000-0000-4000-8000-00000000d001").acquire_token_for_client(
        scopes=[EXO_SCOPE])
    assert_error(result, "invalid_client", 7000215, "Invalid client secret provided.")


def test_expired_secret(mock_server):
    result = cca(mock_server, app_id(7), "expired-secret").acquire_token_for_client(scopes=[EXO_SCOPE])
    assert_error(result, "invalid_client", 7000222,
                 "The provided client secret keys for app '00000000-0000-4000-8000-00000000a007' are expired.")


def test_unknown_tenant(mock_server):
    # MSAL discovers the authority when the application object is built; it raises
    # "Unable to get authority configuration", chained to the identity platform's
    # 400 answer (AADSTS90002), as against login.microsoftonline.com.
    with pytest.raises(ValueError) as info:
        cca(mock_server, app_id(1), "poller-secret-value", tenant="nowhere.onmicrosoft.com")
    assert "Unable to get authority configuration" in str(info.value)
    message = str(info.value.__context__)
    assert "HTTP status: 400" in message, message
    body = json.loads(message.split("Error: ", 1)[1])
    assert body["error"] == "invalid_tenant"
    assert body["error_codes"] == [90002]
    assert body["error_description"].startswith("AADSTS90002: Tenant 'nowhere.onmicrosoft.com' not found.")


def test_app_of_another_tenant(mock_server):
    result = cca(mock_server, app_id(1), "poller-secret-value", tenant=FABRIKAM).acquire_token_for_client(
        scopes=[EXO_SCOPE])
    assert_error(result, "unauthorized_client", 700016,
                 f"Application with identifier '{app_id(1)}' was not found in the directory 'Fabrikam'.")


def test_delegated_scope_in_client_credentials(mock_server):
    result = cca(mock_server, app_id(1), "poller-secret-value").acquire_token_for_client(
        scopes=["https://outlook.office.com/IMAP.AccessAsUser.All"])
    assert_error(result, "invalid_scope", 1002012,
                 "Client credential flows must have a scope value with /.default suffixed")


def test_graph_audience_token_is_issued_without_exchange_roles(mock_server):
    result = cca(mock_server, app_id(1), "poller-secret-value").acquire_token_for_client(
        scopes=["https://graph.microsoft.com/.default"])
    claims = claims_of(result["access_token"])
    assert claims["aud"] == "https://graph.microsoft.com"
    assert "roles" not in claims
