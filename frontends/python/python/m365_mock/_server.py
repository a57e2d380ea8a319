"""Start the mock-server binary on free ports and drive it through its admin API."""

from __future__ import annotations

import contextlib
import json
import os
import pathlib
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import requests

#: The demo tenant (fixtures/demo-tenant.json, mock-server/src/demo.rs).
CONTOSO = "c0ffee00-1111-4222-8333-444455556666"
CONTOSO_DOMAIN = "contoso.onmicrosoft.com"
FABRIKAM = "fab00000-1111-4222-8333-444455556666"
EXO_SCOPE = "https://outlook.office365.com/.default"
TEST_USER = "test.user@contoso.com"
SHARED_INBOX = "shared.inbox@contoso.com"
TEST_USER_SUBJECTS = ("Test Mail", "Test 2 Process", "How are you?", "My Mail")


@dataclass(frozen=True)
class DemoApp:
    """One app registration of the demo tenant."""

    nn: int
    display_name: str
    client_id: str
    object_id: str
    service_principal_id: str
    secret: str | None


def _app(nn: int, name: str, secret: str | None) -> DemoApp:
    ids = [f"00000000-0000-4000-8000-00000000{kind}{nn:03d}" for kind in "abc"]
    return DemoApp(nn, name, ids[0], ids[1], ids[2], secret)


#: App 01: everything set up right; reads test.user@contoso.com.
POLLER = _app(1, "Mail Poller", "poller-secret-value")

START_TIMEOUT = 30.0
_PORT_FLAGS = ("--https-port", "--imaps-port", "--imap-port", "--smtp-port", "--pop3s-port", "--pop3-port")


class MockServerError(RuntimeError):
    """The server could not start, or the admin API refused a request."""


class AdminError(MockServerError):
    """The admin API answered with an error (`status`, `error`, `message`)."""

    def __init__(self, verb: str, status: int, body: dict[str, Any]):
        self.verb = verb
        self.status = status
        self.error = body.get("error")
        self.message = body.get("message", "")
        super().__init__(f"{verb}: HTTP {status} {self.error}: {self.message}")


def find_binary(binary: str | os.PathLike[str] | None = None) -> str:
    """The mock-server to run: `binary`, else $M365_MOCK_BIN, else the wheel's, else PATH."""
    candidates: list[str] = []
    if binary is not None:
        candidates.append(os.fspath(binary))
    elif os.environ.get("M365_MOCK_BIN"):
        candidates.append(os.environ["M365_MOCK_BIN"])
    else:
        exe = "mock-server.exe" if sys.platform == "win32" else "mock-server"
        for scheme in (None, f"{os.name}_user"):
            try:
                scripts = sysconfig.get_path("scripts", scheme) if scheme else sysconfig.get_path("scripts")
            except KeyError:
                continue
            candidates.append(os.path.join(scripts, exe))
        found = shutil.which("mock-server")
        if found:
            candidates.append(found)
    for c in candidates:
        if os.path.isfile(c) and os.access(c, os.X_OK):
            return c
    where = ", ".join(candidates) or "nowhere"
    raise MockServerError(
        f"mock-server binary not found (looked at {where}); install the m365-mock wheel or set M365_MOCK_BIN"
    )


def _host_port(addr: str) -> tuple[str, int]:
    host, port = addr.rsplit(":", 1)
    return host, int(port)


class M365Mock:
    """A running mock-server: addresses, CA, the demo tenant, and the admin API.

    Made by `serve()` or the pytest fixtures `m365` / `m365_session`.
    """

    def __init__(self, ready: dict[str, Any], process: subprocess.Popen[bytes], workdir: pathlib.Path):
        self.ready = ready
        self.process = process
        self.workdir = workdir
        self.https_url: str = ready["https_url"]
        self.ca_file: str = ready["ca_file"]
        self.tenants: list[dict[str, Any]] = ready.get("tenants", [])
        self.imaps_host, self.imaps_port = _host_port(ready["imaps_addr"])
        self.imap_host, self.imap_port = _host_port(ready["imap_addr"])
        self.smtp_host, self.smtp_port = _host_port(ready["smtp_addr"])
        self.pop3s_host, self.pop3s_port = _host_port(ready["pop3s_addr"])
        self.pop3_host, self.pop3_port = _host_port(ready["pop3_addr"])
        #: A `requests.Session` trusting only the mock's CA (pass it to MSAL as http_client).
        self.http_client = requests.Session()
        self.http_client.verify = self.ca_file
        self.http_client.trust_env = False
        self.test_user = TEST_USER
        self.poller = POLLER
        self.scope = EXO_SCOPE

    # --- the demo tenant -------------------------------------------------------------
    def authority_for(self, tenant: str = CONTOSO) -> str:
        """The authority URL of a tenant (id or domain) served by this server."""
        for t in self.tenants:
            if tenant == t.get("id") or tenant in t.get("domains", []):
                return t["authority"]
        return f"{self.https_url}/{tenant}"

    @property
    def authority(self) -> str:
        """The demo tenant's (Contoso's) authority, for MSAL's `authority=`."""
        return self.authority_for(CONTOSO)

    @property
    def token_endpoint(self) -> str:
        return f"{self.authority}/oauth2/v2.0/token"

    # --- the admin API ---------------------------------------------------------------
    def admin(self, verb: str, **params: Any) -> Any:
        """Run one admin verb (`add-mailbox-permission`, `get-clock`, …) with snake_case parameters.

        `get-*` verbs are sent as GET with query parameters, the others as POST with a JSON body.
        Returns the decoded JSON answer; raises `AdminError` on refusal.
        """
        url = f"{self.https_url}/_mock/admin/{verb}"
        if verb.startswith("get-"):
            r = self.http_client.get(url, params={k: str(v) for k, v in params.items()}, timeout=30)
        else:
            r = self.http_client.post(url, json=params, timeout=30)
        try:
            body = r.json() if r.content else None
        except ValueError:
            body = {"error": "not_json", "message": r.text[:500]}
        if r.status_code >= 400:
            raise AdminError(verb, r.status_code, body if isinstance(body, dict) else {})
        return body

    def journal(self) -> list[dict[str, Any]]:
        """Every journal entry so far (all pages), oldest first: `outcome`, `reason`, `fix`, `protocol`, …"""
        entries: list[dict[str, Any]] = []
        after = 0
        while True:
            batch = self.admin("get-journal", after=after).get("entries", [])
            entries.extend(batch)
            if len(batch) < 1000 or not isinstance(batch[-1].get("seq"), int):
                return entries
            after = batch[-1]["seq"]

    def clear_journal(self) -> Any:
        return self.admin("clear-journal")

    def refusals(self) -> list[dict[str, Any]]:
        """The journal entries that say something went wrong: refused, not_connected, ended, fault."""
        return [e for e in self.journal() if e.get("outcome") in ("refused", "not_connected", "ended", "fault")]

    def advance_clock(self, seconds: float) -> Any:
        """Move the server's clock forward (tokens issued before expire without sleeping)."""
        return self.admin("advance-clock", seconds=seconds)

    def freeze_clock(self) -> Any:
        return self.admin("freeze-clock")

    def resume_clock(self) -> Any:
        return self.admin("resume-clock")

    def clock(self) -> Any:
        return self.admin("get-clock")

    def arm_fault(self, hook: str, kind: str, **fields: Any) -> Any:
        """Arm a fault, e.g. `arm_fault("token", "throttled", retry_after=30, times=1)`."""
        return self.admin("add-fault", hook=hook, kind=kind, **fields)

    def faults(self) -> Any:
        return self.admin("get-faults")

    def clear_faults(self) -> Any:
        return self.admin("clear-faults")

    def deliver(self, mailbox: str, eml: str | bytes, folder: str = "INBOX") -> Any:
        if isinstance(eml, bytes):
            import base64

            return self.admin("deliver", mailbox=mailbox, folder=folder, eml_base64=base64.b64encode(eml).decode())
        return self.admin("deliver", mailbox=mailbox, folder=folder, eml=eml)

    def reset(self) -> Any:
        return self.admin("reset")

    # --- mail helpers ----------------------------------------------------------------
    def ssl_context(self):  # -> ssl.SSLContext
        import ssl

        return ssl.create_default_context(cafile=self.ca_file)

    @staticmethod
    def xoauth2(user: str, token: str):
        """The authobject for imaplib's `authenticate("XOAUTH2", ...)`."""
        return lambda _challenge: f"user={user}\x01auth=Bearer {token}\x01\x01".encode()

    @property
    def log(self) -> str:
        """What the server wrote to stdout/stderr so far."""
        return (self.workdir / "server.log").read_text(errors="replace")

    def __repr__(self) -> str:
        return f"M365Mock(https_url={self.https_url!r}, imaps={self.imaps_host}:{self.imaps_port})"


@contextlib.contextmanager
def serve(
    *extra_args: str,
    binary: str | os.PathLike[str] | None = None,
    timeout: float = START_TIMEOUT,
    ca_dir: str | os.PathLike[str] | None = None,
) -> Iterator[M365Mock]:
    """Start mock-server on free ports (own CA folder, own temp dir); stop it on exit.

    >>> with serve() as m365:
    ...     print(m365.authority, m365.imaps_port)
    """
    exe = find_binary(binary)
    workdir = pathlib.Path(tempfile.mkdtemp(prefix="m365-mock-"))
    ready_file = workdir / "ready.json"
    args: list[str] = [exe]
    for flag in _PORT_FLAGS:
        args += [flag, "0"]
    args += ["--ca-dir", os.fspath(ca_dir or workdir / "ca"), "--ready-file", str(ready_file), *extra_args]
    log_path = workdir / "server.log"
    proc: subprocess.Popen[bytes] | None = None
    try:
        with open(log_path, "wb") as log:
            try:
                proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
            except OSError as e:
                raise MockServerError(f"could not run {exe}: {e}") from e
        ready = _wait_ready(proc, ready_file, log_path, timeout)
        server = M365Mock(ready, proc, workdir)
        try:
            yield server
        finally:
            server.http_client.close()
    finally:
        if proc is not None:
            _stop(proc)
        shutil.rmtree(workdir, ignore_errors=True)


def _wait_ready(
    proc: subprocess.Popen[bytes], ready_file: pathlib.Path, log_path: pathlib.Path, timeout: float
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        if ready_file.exists():
            try:
                return json.loads(ready_file.read_text())
            except ValueError:
                pass  # written atomically, but be lenient
        if proc.poll() is not None:
            raise MockServerError(
                f"mock-server exited with code {proc.returncode} before it was ready; its output:\n" + _tail(log_path)
            )
        if time.monotonic() > deadline:
            _stop(proc)
            raise MockServerError(
                f"mock-server wrote no ready file within {timeout:g} s; its output:\n" + _tail(log_path)
            )
        time.sleep(0.02)


def _tail(path: pathlib.Path, limit: int = 4000) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "(no output)"
    return text[-limit:] or "(no output)"


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m m365_mock [args]`: run the packaged mock-server in the foreground."""
    exe = find_binary()
    return subprocess.call([exe, *(sys.argv[1:] if argv is None else argv)])
