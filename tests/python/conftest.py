"""Start the real mock-server binary once per test session, on a free port
(server_process.running_server).

Clients trust its CA through REQUESTS_CA_BUNDLE, exactly as a user would.
"""
import os
import pathlib

import pytest
from server_process import running_server

ROOT = pathlib.Path(__file__).resolve().parents[2]
CONTOSO = "c0ffee00-1111-4222-8333-444455556666"
FABRIKAM = "fab00000-1111-4222-8333-444455556666"
EXO_SCOPE = "https://outlook.office365.com/.default"


def app_id(nn: int) -> str:
    return f"00000000-0000-4000-8000-00000000a{nn:03d}"


@pytest.fixture(scope="session")
def mock_server():
    with running_server() as ready:
        os.environ["REQUESTS_CA_BUNDLE"] = ready["ca_file"]
        yield ready
