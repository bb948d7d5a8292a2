"""The one place that decides what is secret and masks it."""

from __future__ import annotations

import psycopg
import pytest

from floodwall.redact import MASK, conninfo_secrets, error_line, is_secret_key, mask_mapping, mask_text


@pytest.mark.parametrize(
    "key",
    ["sasl.password", "sasl.username", "ssl.key.password", "ssl.key.pem", "ssl.keystore.password",
     "sasl.oauthbearer.client.secret", "ssl_key", "database_password", "api_token"],
)  # fmt: skip
def test_secret_keys(key: str) -> None:
    assert is_secret_key(key)


@pytest.mark.parametrize("key", ["security.protocol", "socket.timeout.ms", "client.rack", "database_url"])
def test_plain_keys(key: str) -> None:
    assert not is_secret_key(key)


def test_mask_mapping_keeps_keys_and_plain_values() -> None:
    config = {"security.protocol": "SASL_SSL", "sasl.password": "pw", "ssl.key.pem": {"a": "pem"}}
    assert mask_mapping(config) == {
        "security.protocol": "SASL_SSL",
        "sasl.password": MASK,
        "ssl.key.pem": MASK,
    }


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("postgresql://shop:pw@db:5432/x", "postgresql://shop:***@db:5432/x"),
        ("postgres://shop:p@ss@db/x", "postgres://shop:***@db/x"),  # libpq splits at the last '@'
        (
            "postgresql://shop@db/x?password=pw&sslmode=require",
            "postgresql://shop@db/x?password=***&sslmode=require",
        ),
        ("host=db password=pw user=shop", "host=db password=*** user=shop"),
        ("host=db password = 'p w\\'x' user=shop", "host=db password = *** user=shop"),
        ("PASSWORD=pw", "PASSWORD=***"),
        ("postgresql://db:5432/x", "postgresql://db:5432/x"),  # no user info: nothing to mask
        ('password authentication failed for user "shop"', 'password authentication failed for user "shop"'),
    ],
)
def test_mask_text(text: str, masked: str) -> None:
    assert mask_text(text) == masked


def test_known_secrets_are_masked_anywhere() -> None:
    assert mask_text("server said: pw-1 is wrong", ["pw-1", ""]) == "server said: *** is wrong"


def test_conninfo_secrets_include_the_decoded_password() -> None:
    assert "p@ss" in conninfo_secrets("postgresql://shop:p%40ss@db/x")
    assert conninfo_secrets("host=db user=shop") == ()


def test_error_line_masks_the_password_of_the_conninfo() -> None:
    url = "postgresql://shop:s3cret@db/x"
    assert error_line(psycopg.OperationalError("boom: s3cret\nmore"), url) == f"boom: {MASK}"
    assert error_line(psycopg.OperationalError("")) == "OperationalError"
