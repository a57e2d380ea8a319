"""m365-mock: an offline Microsoft 365 mail-authentication stand-in for tests.

`serve()` starts the packaged `mock-server` on free ports and yields an `M365Mock`;
with pytest, the fixtures `m365` (one server per test) and `m365_session` (one per
session) do the same (registered through the `pytest11` entry point).
"""

from ._server import (
    CONTOSO,
    CONTOSO_DOMAIN,
    EXO_SCOPE,
    FABRIKAM,
    POLLER,
    SHARED_INBOX,
    TEST_USER,
    TEST_USER_SUBJECTS,
    AdminError,
    DemoApp,
    M365Mock,
    MockServerError,
    find_binary,
    serve,
)

__all__ = [
    "CONTOSO",
    "CONTOSO_DOMAIN",
    "EXO_SCOPE",
    "FABRIKAM",
    "POLLER",
    "SHARED_INBOX",
    "TEST_USER",
    "TEST_USER_SUBJECTS",
    "AdminError",
    "DemoApp",
    "M365Mock",
    "MockServerError",
    "find_binary",
    "serve",
]
