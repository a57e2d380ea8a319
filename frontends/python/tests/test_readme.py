"""The README's examples, run as a reader would run them (pytest file, then the serve() script)."""

from __future__ import annotations

import pathlib
import re
import subprocess
import sys

README = pathlib.Path(__file__).resolve().parents[1] / "README.md"


def python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.DOTALL)


def test_readme_pytest_example_passes(tmp_path: pathlib.Path) -> None:
    (example,) = [b for b in python_blocks() if "def test_" in b]
    (tmp_path / "test_mail.py").write_text(example)
    r = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_mail.py"],
        check=False,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    assert "4 passed" in r.stdout, r.stdout


def test_readme_serve_example_runs(tmp_path: pathlib.Path) -> None:
    (example,) = [b for b in python_blocks() if "m365_mock.serve()" in b]
    r = subprocess.run(
        [sys.executable, "-c", example], check=False, cwd=tmp_path, capture_output=True, text=True, timeout=300
    )
    assert r.returncode == 0, r.stdout + r.stderr
    assert "('OK', [b'4'])" in r.stdout, r.stdout
    assert "imap authenticated" in r.stdout, r.stdout
    assert "poller-secret-value" not in r.stdout + r.stderr
