"""Start the real mock-server binary once per test session, on a free port.

The binary comes from MOCK_SERVER_BIN (scripts/test-all sets it) or target/debug.
Clients trust its CA through REQUESTS_CA_BUNDLE, exactly as a user would.
"""
import json
import os
import pathlib
import subprocess
import tempfile
import time

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
CONTOSO = "c0ffee00-1111-4222-8333-444455556666"
FABRIKAM = "fab00000-1111-4222-8333-444455556666"
EXO_SCOPE = "https://outlook.office365.com/.default"


def app_id(nn: int) -> str:
    return f"00000000-0000-4000-8000-00000000a{nn:03d}"


@pytest.fixture(scope="session")
def mock_server():
    binary = os.environ.get("MOCK_SERVER_BIN", str(ROOT / "target" / "debug" / "mock-server"))
    workdir = tempfile.mkdtemp(prefix="mock-server-pytest-")
    ready_file = pathlib.Path(workdir) / "ready.json"
    log = open(pathlib.Path(workdir) / "server.log", "wb")
    proc = subprocess.Popen(
        [binary, "--https-port", "0", "--imaps-port", "0", "--imap-port", "0", "--smtp-port", "0", "--ready-file", str(ready_file)],
        stdout=log, stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 30
    while not ready_file.exists():
        if proc.poll() is not None:
            raise RuntimeError(f"mock-server exited with {proc.returncode}; see {log.name}")
        if time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError("mock-server wrote no ready file within 30 s")
        time.sleep(0.02)
    ready = json.loads(ready_file.read_text())
    os.environ["REQUESTS_CA_BUNDLE"] = ready["ca_file"]
    yield ready
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()
