"""The m365-mock wheel as a user meets it: installed into a fresh venv (frontends/python/run-tests).

The fixtures come from the wheel's pytest11 entry point; nothing here imports a conftest.
"""

from __future__ import annotations

import imaplib
import os
import shutil
import subprocess
import sys

import msal
import pytest

import m365_mock


def poller_app(m365: m365_mock.M365Mock) -> msal.ConfidentialClientApplication:
    return msal.ConfidentialClientApplication(
        m365.poller.client_id,
        client_credential=m365.poller.secret,
        authority=m365.authority,
        instance_discovery=False,
        http_client=m365.http_client,
    )


def imap_inbox_subjects(m365: m365_mock.M365Mock, token: str) -> list[str]:
    with imaplib.IMAP4_SSL(m365.imaps_host, m365.imaps_port, ssl_context=m365.ssl_context()) as imap:
        imap.authenticate("XOAUTH2", m365.xoauth2(m365_mock.TEST_USER, token))
        typ, data = imap.select("INBOX", readonly=True)
        assert typ == "OK", data
        typ, data = imap.fetch("1:*", "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
        assert typ == "OK", data
        return [part[1].decode().split(":", 1)[1].strip() for part in data if isinstance(part, tuple)]


def test_import_and_binary_on_path() -> None:
    assert m365_mock.find_binary().endswith("mock-server")
    on_path = shutil.which("mock-server")
    assert on_path is not None and os.path.dirname(on_path) == os.path.dirname(sys.executable)
    out = subprocess.run(["mock-server", "--help"], capture_output=True, text=True, timeout=60, check=True).stdout
    assert "--ready-file" in out
    checker = shutil.which("oauth-mail-check")
    assert checker is not None and os.path.dirname(checker) == os.path.dirname(sys.executable)
    out = subprocess.run([checker, "--help"], capture_output=True, text=True, timeout=60, check=True).stdout
    assert "--client-id" in out or "client" in out.lower()


def test_msal_token_then_imaplib_reads_inbox(m365: m365_mock.M365Mock) -> None:
    assert m365.authority.startswith(m365.https_url + "/")
    result = poller_app(m365).acquire_token_for_client(scopes=[m365_mock.EXO_SCOPE])
    assert "access_token" in result, {k: v for k, v in result.items() if k != "access_token"}
    assert imap_inbox_subjects(m365, result["access_token"]) == list(m365_mock.TEST_USER_SUBJECTS)
    outcomes = [(e.get("protocol"), e.get("outcome")) for e in m365.journal()]
    assert ("imap", "authenticated") in outcomes, outcomes


def test_removed_mailbox_permission_is_journaled_with_reason_and_fix(m365: m365_mock.M365Mock) -> None:
    m365.admin(
        "remove-mailbox-permission",
        identity=m365_mock.TEST_USER,
        user=m365.poller.service_principal_id,
        access_rights="FullAccess",
    )
    token = poller_app(m365).acquire_token_for_client(scopes=[m365_mock.EXO_SCOPE])["access_token"]
    with pytest.raises(imaplib.IMAP4.error):
        imap_inbox_subjects(m365, token)
    refused = [e for e in m365.journal() if e.get("protocol") == "imap" and e.get("outcome") != "authenticated"]
    assert refused, m365.journal()
    last = refused[-1]
    assert last["outcome"] in ("refused", "not_connected"), last
    assert last["reason"] and last["fix"], last
    assert "Add-MailboxPermission" in last["fix"], last["fix"]


def test_admin_refusal_raises_admin_error(m365_session: m365_mock.M365Mock) -> None:
    with pytest.raises(m365_mock.AdminError) as e:
        m365_session.admin("remove-mailbox-permission", identity="nobody@contoso.com", user="x")
    assert e.value.status >= 400


def test_clock_moves_and_token_expires(m365: m365_mock.M365Mock) -> None:
    token = poller_app(m365).acquire_token_for_client(scopes=[m365_mock.EXO_SCOPE])["access_token"]
    m365.advance_clock(2 * 3600)
    with pytest.raises(imaplib.IMAP4.error):
        imap_inbox_subjects(m365, token)
    last = [e for e in m365.journal() if e.get("protocol") == "imap"][-1]
    assert last["outcome"] == "refused" and last["reason"], last


def test_armed_fault_fires_once(m365: m365_mock.M365Mock) -> None:
    m365.arm_fault("token", "throttled", retry_after=30, times=1)
    first = poller_app(m365).acquire_token_for_client(scopes=[m365_mock.EXO_SCOPE])
    assert first.get("error") == "temporarily_unavailable", first.get("error")
    faults = [e for e in m365.journal() if e.get("outcome") == "fault"]
    assert len(faults) == 1, faults
    # MSAL itself keeps answering 429 until Retry-After passes, so ask with a fresh app
    # (its own throttle cache): the fault fired once and is spent.
    second = poller_app(m365).acquire_token_for_client(scopes=[m365_mock.EXO_SCOPE])
    assert "access_token" in second, second.get("error")


def test_missing_binary_is_a_clear_error(tmp_path) -> None:
    missing = tmp_path / "no-such-mock-server"
    with pytest.raises(m365_mock.MockServerError, match="not found"), m365_mock.serve(binary=missing, timeout=5):
        pass


def test_binary_that_exits_reports_its_output(tmp_path) -> None:
    broken = tmp_path / "mock-server"
    broken.write_text("#!/bin/sh\necho 'cannot start: broken on purpose' >&2\nexit 3\n")
    broken.chmod(0o755)
    with (
        pytest.raises(m365_mock.MockServerError, match="broken on purpose") as e,
        m365_mock.serve(binary=broken, timeout=5),
    ):
        pass
    assert "code 3" in str(e.value)


def test_env_var_picks_the_binary(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("M365_MOCK_BIN", str(tmp_path / "absent"))
    with pytest.raises(m365_mock.MockServerError, match="M365_MOCK_BIN"):
        m365_mock.find_binary()


def test_binary_that_never_gets_ready_times_out_with_its_output(tmp_path) -> None:
    hanging = tmp_path / "mock-server"
    hanging.write_text("#!/bin/sh\necho 'stuck on purpose' >&2\nexec sleep 600\n")
    hanging.chmod(0o755)
    with (
        pytest.raises(m365_mock.MockServerError, match="no ready file within 1 s") as e,
        m365_mock.serve(binary=hanging, timeout=1),
    ):
        pass
    assert "stuck on purpose" in str(e.value)
