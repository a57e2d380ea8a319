"""The admin API driven over HTTP with requests, against the real binary, the way a CI job
in any language breaks and repairs the tenant while the server runs.

Each test starts its own server (server_process.running_server): the verbs change state
that the session server of conftest.py shares with other tests.
"""
import imaplib

import pytest
import requests
from conftest import CONTOSO, EXO_SCOPE, app_id
from server_process import connect_imaps, running_server, xoauth2

USER = "test.user@contoso.com"
POLLER_SP = "00000000-0000-4000-8000-00000000c001"


def admin(server, verb, **params):
    r = requests.post(f"{server['https_url']}/_mock/admin/{verb}", json=params, verify=server["ca_file"],
                      timeout=10)
    return r.status_code, r.json()


def token(server, nn=1, secret="poller-secret-value"):
    r = requests.post(f"{server['https_url']}/{CONTOSO}/oauth2/v2.0/token", data={
        "grant_type": "client_credentials", "client_id": app_id(nn), "client_secret": secret, "scope": EXO_SCOPE,
    }, verify=server["ca_file"], timeout=10)
    return r


def imap_session(server, user=USER):
    """AUTHENTICATE then SELECT INBOX with imaplib; returns the two answers' texts."""
    access = token(server).json()["access_token"]
    imap = connect_imaps(server)
    try:
        typ, data = imap.authenticate("XOAUTH2", xoauth2(user, access))
        auth = (typ, data[0].decode())
        try:
            typ, data = imap.select("INBOX")
            return auth, (typ, data[0].decode())
        except imaplib.IMAP4.error as e:
            return auth, ("BAD", str(e))
    finally:
        try:
            imap.logout()
        except (imaplib.IMAP4.abort, OSError):
            pass


@pytest.fixture()
def server():
    with running_server() as s:
        yield s


def test_remove_and_add_mailbox_permission_over_http(server):
    assert imap_session(server)[1] == ("OK", "4")
    assert admin(server, "remove-mailbox-permission", identity=USER, user=POLLER_SP,
                 access_rights="FullAccess") == (200, {"ok": True})
    auth, select = imap_session(server)
    assert auth == ("OK", "AUTHENTICATE completed.")
    assert "User is authenticated but not connected." in select[1]
    assert admin(server, "add-mailbox-permission", identity=USER, user=POLLER_SP,
                 access_rights="FullAccess") == (200, {"ok": True})
    assert imap_session(server)[1] == ("OK", "4")


def test_unknown_identity_is_named(server):
    status, body = admin(server, "add-mailbox-permission", identity="test.userx@contoso.com", user=POLLER_SP)
    assert status == 404
    assert body["message"] == "no mailbox test.userx@contoso.com in tenant Contoso"


def test_fault_fires_exactly_once_and_journal_says_why(server):
    status, _body = admin(server, "add-fault", hook="token", kind="throttled", retry_after=3, times=1)
    assert status == 200
    r = token(server)
    assert r.status_code == 429 and r.headers["Retry-After"] == "3"
    assert token(server).status_code == 200
    _, faults = admin(server, "get-faults")
    assert faults["faults"][0]["fired"] == 1
    _, journal = admin(server, "get-journal")
    outcomes = [e["outcome"] for e in journal["entries"]]
    assert outcomes == ["fault", "issued"]
    assert "scripted fault #1" in journal["entries"][0]["reason"]
    last = journal["last_seq"]
    _, later = admin(server, "get-journal", after=last)
    assert later["entries"] == []


def test_clock_advance_expires_the_session(server):
    access = token(server).json()["access_token"]
    imap = connect_imaps(server)
    imap.authenticate("XOAUTH2", xoauth2(USER, access))
    assert admin(server, "advance-clock", seconds=7200)[0] == 200
    with pytest.raises(imaplib.IMAP4.abort, match="AccessTokenExpired"):
        imap.noop()


def test_deliver_and_read_back(server):
    eml = "From: a@example.com\r\nSubject: Python delivery\r\n\r\nHi\r\n"
    status, body = admin(server, "deliver", mailbox=USER, eml=eml)
    assert status == 200 and body["uid"] == 5
    _, listed = admin(server, "get-messages", mailbox=USER)
    assert listed["messages"][-1]["subject"] == "Python delivery"
    assert admin(server, "reset") == (200, {"ok": True})
    _, listed = admin(server, "get-messages", mailbox=USER)
    assert len(listed["messages"]) == 4
