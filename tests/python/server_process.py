"""Start an extra mock-server process with chosen flags, for tests that must not share
the session server of conftest.py: they move its clock (--test-controls) or serve
another fixture. Same start-up protocol as conftest.py: --ready-file, port 0 everywhere.
"""
import contextlib
import json
import os
import pathlib
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
    log = open(pathlib.Path(workdir) / "server.log", "wb")
    proc = subprocess.Popen(
        [binary, "--https-port", "0", "--imaps-port", "0", "--imap-port", "0", "--smtp-port", "0", "--ready-file", str(ready_file),
         *extra_args],
        stdout=log, stderr=subprocess.STDOUT,
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
        log.close()


def advance_clock(server, seconds):
    """Move the server's clock (needs --test-controls); returns the server's new time."""
    r = requests.post(f"{server['https_url']}/_mock/clock/advance", data={"seconds": str(seconds)},
                      verify=server["ca_file"], timeout=10)
    r.raise_for_status()
    return r.json()["now"]
