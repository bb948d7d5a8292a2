"""Avro single-object encoding: the wire layout of every Floodwall event.

A message is ``C3 01`` + the 8-byte little-endian CRC-64-AVRO fingerprint of the writer schema's Parsing
Canonical Form + the Avro binary body (https://avro.apache.org/docs/1.12.0/specification/#single-object-encoding).
Bodies are written and read by fastavro.
"""

from __future__ import annotations

from typing import Any

from fastavro.schema import fingerprint, to_parsing_canonical_form
from fastavro.validation import ValidationError, validate

from floodwall.schemas.errors import MalformedMessage

MARKER = b"\xc3\x01"
HEADER_LEN = 10

_FINGERPRINT_LEN = 8


def fingerprint64(schema: str | list[Any] | dict[str, Any]) -> bytes:
    """The 8 header bytes identifying ``schema`` (raw JSON or fastavro-parsed): CRC-64-AVRO of its Parsing
    Canonical Form, little-endian. Docs, defaults, aliases and logical types do not change it."""
    # fastavro returns the hex of the little-endian byte sequence, exactly the bytes the header needs.
    return bytes.fromhex(fingerprint(to_parsing_canonical_form(schema), "CRC-64-AVRO"))


def frame(fingerprint: bytes, body: bytes) -> bytes:
    """The single-object message for ``body`` written with the schema of ``fingerprint``.

    Raises ValueError if the fingerprint is not 8 bytes (a programming error, not bad data)."""
    if len(fingerprint) != _FINGERPRINT_LEN:
        raise ValueError(f"a fingerprint is {_FINGERPRINT_LEN} bytes, got {len(fingerprint)}")
    return MARKER + fingerprint + body


def split(message: bytes) -> tuple[bytes, bytes]:
    """``(fingerprint, body)`` of a single-object message; the body is not checked here.

    Raises MalformedMessage if the message is shorter than the header or does not start with C3 01."""
    if len(message) < HEADER_LEN:
        raise MalformedMessage(f"message too short: {len(message)} bytes, a header alone is {HEADER_LEN}")
    if message[:2] != MARKER:
        raise MalformedMessage(
            f"not an Avro single-object message: marker {bytes(message[:2]).hex()}, want c301"
        )
    return bytes(message[2:HEADER_LEN]), bytes(message[HEADER_LEN:])


def explain(exc: Exception, record: object, schema: Any) -> str:
    """A one-line reason why ``record`` could not be written: fastavro's field-level validation message when
    it finds the problem, else the original exception. Only called on the error path, so it may be slow."""
    try:
        validate(record, schema, raise_errors=True)
    except ValidationError as verr:
        return "; ".join(str(e) for e in verr.errors) or str(verr)
    except Exception:  # validation choking on the record would tell no more than the original exception
        pass
    return f"{type(exc).__name__}: {exc}"
