"""The one way the Python tests start mock-server, and the client helpers they share.

`running_server(*flags)` starts the real binary (MOCK_SERVER_BIN, which scripts/test-all
sets, or target/debug/mock-server) on port 0 everywhere and yields its ready file's
content once it exists. conftest.py's session server uses it; tests that must not share
that server (they move its clock or change its directory) start their own with it.
"""
import contextlib
import imaplib
import json
import os
import pathlib
import ssl
import subprocess
import tempfile
import time

import requests

ROOT = pathlib.Path(__file__).resolve().parents[2]


@contextlib.contextmanager
def running_server(*extra_args):
    binary = os.environ.get("MOCK_SERVER_BIN", str(ROOT / "target" / "debug" / "mock-server"))
    workdir = tempfile.mkdtemp(prefix="mock-server-pytest-")
    ready_file = pathlib.Path(workdir) / "ready.json"
    with open(pathlib.Path(workdir) / "server.log", "wb") as log:
        proc = subprocess.Popen(
            [binary, "--https-port", "0", "--imaps-port", "0", "--imap-port", "0", "--pop3s-port", "0", "--pop3-port", "0", "--smtp-port", "0",
             "--ready-file", str(ready_file),
             *extra_args],
            stdout=log, stderr=subprocess.STDOUT,
            # A CA of its own: the binary's default folder is the user's, shared by every start.
            env={**os.environ, "MOCK_SERVER_CA_DIR": str(pathlib.Path(workdir) / "ca")},
        )
        try:
            deadline = time.monotonic() + 30
            while not ready_file.exists():
                if proc.poll() is not None:
                    raise RuntimeError(f"mock-server exited with {proc.returncode}; see {log.name}")
                if time.monotonic() > deadline:
                    raise RuntimeError("mock-server wrote no ready file within 30 s")
                time.sleep(0.02)
            ready = json.loads(ready_file.read_text())
            ready["log"] = log.name
            yield ready
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()


def connect_imaps(server):
    """imaplib over implicit TLS to the server's IMAP port, trusting its CA."""
    host, port = server["imaps_addr"].rsplit(":", 1)
    return imaplib.IMAP4_SSL(host, int(port), ssl_context=ssl.create_default_context(cafile=server["ca_file"]))


def xoauth2(user, token):
    """The authobject for imaplib's authenticate("XOAUTH2", ...)."""
    return lambda _challenge: f"user={user}\x01auth=Bearer {token}\x01\x01".encode()


def advance_clock(server, seconds):
    """Move the server's clock (needs --test-controls); returns the server's new time."""
    r = requests.post(f"{server['https_url']}/_mock/clock/advance", data={"seconds": str(seconds)},
                      verify=server["ca_file"], timeout=10)
    r.raise_for_status()
    return r.json()["now"]
