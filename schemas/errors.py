"""Errors of the event schemas: loading them, decoding messages and checking compatibility."""

from __future__ import annotations

from floodwall.errors import FloodwallError


class SchemaError(FloodwallError):
    """A schema file is missing or invalid, a schema name is unknown, or a record does not fit its schema."""


class DecodeError(SchemaError):
    """A message could not be decoded into an event."""


class MalformedMessage(DecodeError):
    """The bytes are not a single-object-encoded Avro message: too short, wrong marker, or a body that is
    truncated, garbage or followed by unread bytes."""


class UnknownFingerprint(DecodeError):
    """The message was written with a schema this registry does not know (by its CRC-64-AVRO fingerprint)."""

    def __init__(self, fingerprint: bytes) -> None:
        self.fingerprint = bytes(fingerprint)
        super().__init__(
            f"unknown writer schema fingerprint {self.fingerprint.hex()} "
            "(written by a newer or foreign producer? released schemas go in schemas/released/)"
        )

    def __reduce__(self) -> tuple[type[UnknownFingerprint], tuple[bytes]]:
        # Rebuild from the fingerprint, not the message, so the error survives pickling (worker processes).
        return (type(self), (self.fingerprint,))


class IncompatibleSchema(SchemaError):
    """Data written with one schema cannot be read with another (Avro schema resolution fails)."""
