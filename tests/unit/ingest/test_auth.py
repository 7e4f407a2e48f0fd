import base64

import pytest

from services.ingest.auth import presented_secret, token_accepted

TOKENS = ["current-token-0123456789", "previous-token-0123456789"]


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


@pytest.mark.parametrize(
    "header, accepted",
    [
        ("Bearer current-token-0123456789", True),
        ("bearer previous-token-0123456789", True),  # scheme is case-insensitive; rotation: both work
        ("Bearer  current-token-0123456789 ", True),
        (basic("alertmanager", "current-token-0123456789"), True),  # basic_auth with the token as password
        (basic("anyone", "previous-token-0123456789"), True),
        ("Bearer current-token-012345678", False),  # one character short
        ("Bearer current-token-0123456789x", False),
        (basic("current-token-0123456789", ""), False),  # the token as user name is not a password
        ("Basic !!!not-base64", False),
        ("Token current-token-0123456789", False),
        ("Bearer", False),
        ("", False),
        (None, False),
    ],
)
def test_credentials(header, accepted):
    assert token_accepted(presented_secret(header), TOKENS) is accepted


def test_no_configured_tokens_accept_nothing():
    assert not token_accepted("anything-at-all-12345", [])
