"""pytest fixtures `m365` (a server per test) and `m365_session` (one per session).

Registered through the `pytest11` entry point of the m365-mock wheel. Options:
`--m365-mock-bin PATH` (else $M365_MOCK_BIN, else the wheel's binary) and
`--m365-mock-arg ARG` (repeatable: extra mock-server flags).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ._server import M365Mock, serve


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("m365-mock")
    group.addoption(
        "--m365-mock-bin", default=None, help="the mock-server binary (default: $M365_MOCK_BIN or the wheel's)"
    )
    group.addoption("--m365-mock-arg", action="append", default=[], help="an extra mock-server flag (repeatable)")


def _serve(config: pytest.Config):
    return serve(*config.getoption("--m365-mock-arg"), binary=config.getoption("--m365-mock-bin"))


@pytest.fixture
def m365(pytestconfig: pytest.Config) -> Iterator[M365Mock]:
    """A mock-server of this test's own, on free ports; stopped when the test ends."""
    with _serve(pytestconfig) as server:
        yield server


@pytest.fixture(scope="session")
def m365_session(pytestconfig: pytest.Config) -> Iterator[M365Mock]:
    """One mock-server shared by the whole session (don't move its clock or change its tenant)."""
    with _serve(pytestconfig) as server:
        yield server
