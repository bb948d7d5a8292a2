"""The registry of event schemas: encoders for the current schemas, and a decoder for any known writer schema.

Current schemas (``schemas/avro/<name>.avsc``) are what producers write and consumers read with. Released
versions (``schemas/released/<name>.v<N>.avsc``) are immutable history: messages written with them may still
sit in Kafka, so the decoder knows them by fingerprint and resolves them to the current schema of the same
name (Avro schema resolution fills in defaults, promotes types and drops removed fields).
"""

from __future__ import annotations

import functools
import importlib.resources
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from importlib.resources.abc import Traversable
from io import BytesIO
from typing import Any

from fastavro import schemaless_reader, schemaless_writer
from fastavro.read import SchemaResolutionError
from fastavro.schema import SchemaParseException, UnknownType, parse_schema

from floodwall.schemas.errors import IncompatibleSchema, MalformedMessage, SchemaError, UnknownFingerprint
from floodwall.schemas.framing import HEADER_LEN, MARKER, explain, fingerprint64, split

_CURRENT_FILE = re.compile(r"([A-Za-z_][A-Za-z0-9_-]*)\.avsc")
_RELEASED_FILE = re.compile(r"([A-Za-z_][A-Za-z0-9_-]*)\.v([1-9][0-9]*)\.avsc")


@dataclass(frozen=True)
class EventSchema:
    """One event schema as loaded from its file."""

    name: str  # the file stem without version, e.g. "order_event"
    full_name: str  # e.g. "floodwall.events.OrderEvent"
    version: int | None  # None: the current working schema; N: released version N
    parsed: dict[str, Any]  # fastavro's parsed form
    fingerprint: bytes  # CRC-64-AVRO of the Parsing Canonical Form, as in the message header
    raw: dict[str, Any]  # the JSON as written in the file

    @property
    def label(self) -> str:
        """``order_event`` for a current schema, ``order_event v1`` for a released one."""
        return self.name if self.version is None else f"{self.name} v{self.version}"


@dataclass(frozen=True)
class Decoded:
    """A decoded event: its schema name, the record as read with the current schema, and the writer schema."""

    name: str
    record: dict[str, Any]
    writer: EventSchema


def package_dirs() -> tuple[Traversable, Traversable]:
    """The ``avro`` (current) and ``released`` schema directories shipped inside the ``schemas`` package."""
    root = importlib.resources.files("floodwall.schemas")
    return root / "avro", root / "released"


def load_schema_file(path: Traversable, name: str, version: int | None) -> EventSchema:
    """Load one ``.avsc`` file holding a named record schema.

    Raises SchemaError (naming the file) if it is unreadable, not JSON, not a valid Avro schema (fastavro also
    rejects defaults that do not fit their field) or not a record."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SchemaError(f"cannot read schema {path}: {exc}") from exc
    if not isinstance(raw, dict) or raw.get("type") != "record":
        raise SchemaError(f"schema {path}: an event schema must be a JSON object of type record")
    try:
        parsed = parse_schema(raw)
    except (SchemaParseException, UnknownType, ValueError, TypeError, KeyError) as exc:
        raise SchemaError(f"schema {path} is not a valid Avro schema: {exc}") from exc
    if not isinstance(parsed, dict):  # cannot happen for a record; narrows the type
        raise SchemaError(f"schema {path} did not parse to a record")
    return EventSchema(
        name=name,
        full_name=str(parsed["name"]),
        version=version,
        parsed=parsed,
        fingerprint=fingerprint64(raw),
        raw=raw,
    )


def load_current(directory: Traversable) -> dict[str, EventSchema]:
    """The current schemas in ``directory`` (``<name>.avsc``) by name.

    Raises SchemaError if the directory is missing or empty, a file name is not ``<name>.avsc``, a file is
    invalid, or two files define the same record full name."""
    found: dict[str, EventSchema] = {}
    for path in _schema_files(directory):
        match = _CURRENT_FILE.fullmatch(path.name)
        if match is None:
            raise SchemaError(f"current schema file {path} must be named <name>.avsc (no version)")
        schema = load_schema_file(path, match[1], None)
        for other in found.values():
            if other.full_name == schema.full_name:
                raise SchemaError(f"{other.name} and {schema.name} both define record {schema.full_name}")
        found[schema.name] = schema
    if not found:
        raise SchemaError(f"no current schemas (*.avsc) in {directory}")
    return found


def load_released(directory: Traversable) -> list[EventSchema]:
    """The released schemas in ``directory`` (``<name>.v<N>.avsc``), sorted by name and version; an empty
    list if there are none. Raises SchemaError if the directory is missing, a file name has no version, or a
    file is invalid."""
    released: list[EventSchema] = []
    for path in _schema_files(directory):
        match = _RELEASED_FILE.fullmatch(path.name)
        if match is None:
            raise SchemaError(f"released schema file {path} must be named <name>.v<N>.avsc")
        released.append(load_schema_file(path, match[1], int(match[2])))
    return sorted(released, key=lambda s: (s.name, s.version or 0))


def _schema_files(directory: Traversable) -> list[Traversable]:
    if not directory.is_dir():
        raise SchemaError(f"schema directory {directory} does not exist")
    return sorted((p for p in directory.iterdir() if p.name.endswith(".avsc")), key=lambda p: p.name)


class SchemaRegistry:
    """Current and released event schemas, indexed by name and by fingerprint. Immutable once built, so one
    instance may be shared by threads."""

    def __init__(self, current: Mapping[str, EventSchema], released: list[EventSchema]) -> None:
        self._current = dict(current)
        self._released = list(released)
        self._by_fingerprint: dict[bytes, EventSchema] = {}
        # Current schemas win over released ones with the same fingerprint: the binary layout is the same, but
        # logical types and defaults (absent from the canonical form) must come from the current schema.
        for schema in [*self._released, *self._current.values()]:
            self._by_fingerprint[schema.fingerprint] = schema
        self._encoders: dict[tuple[str, bool], Callable[[Mapping[str, Any]], bytes]] = {}

    @classmethod
    @functools.cache
    def default(cls) -> SchemaRegistry:
        """The registry of the schemas shipped in the ``schemas`` package, loaded once per process.

        Raises SchemaError if the shipped schema files are missing or invalid."""
        current_dir, released_dir = package_dirs()
        return cls(load_current(current_dir), load_released(released_dir))

    @classmethod
    def from_dirs(cls, current_dir: Traversable, released_dir: Traversable) -> SchemaRegistry:
        """A registry of the ``*.avsc`` in ``current_dir`` and the ``*.v<N>.avsc`` in ``released_dir`` (any
        ``pathlib.Path`` will do). Raises SchemaError as ``load_current`` and ``load_released`` do."""
        return cls(load_current(current_dir), load_released(released_dir))

    def names(self) -> list[str]:
        """The names of the current schemas, sorted."""
        return sorted(self._current)

    def current(self, name: str) -> EventSchema:
        """The current schema called ``name``. Raises SchemaError naming the known names if there is none."""
        try:
            return self._current[name]
        except KeyError:
            raise SchemaError(f"unknown event schema {name!r}; known: {', '.join(self.names())}") from None

    def released(self) -> list[EventSchema]:
        """Every released schema, sorted by name and version."""
        return list(self._released)

    def encoder(self, name: str) -> Callable[[Mapping[str, Any]], bytes]:
        """A function turning a record into a complete single-object message with the current schema ``name``.

        The function is thread-safe and raises SchemaError (naming the field when it can) if the record
        does not fit the schema; extra keys are ignored and missing fields with a default get it. ``encoder``
        itself raises SchemaError for an unknown name."""
        return self._encoder(name, primitive=False)

    def primitive_encoder(self, name: str) -> Callable[[Mapping[str, Any]], bytes]:
        """As :meth:`encoder`, for records that already hold the logical types' primitive values (UUIDs as
        strings, timestamps as microseconds, as ``to_record()`` builds them): the same bytes, written with
        the ``logicalType`` annotations dropped (they do not change the binary form), so fastavro skips a
        conversion call per such field — about 1.4 µs of its ~11 µs per order event."""
        return self._encoder(name, primitive=True)

    def _encoder(self, name: str, primitive: bool) -> Callable[[Mapping[str, Any]], bytes]:
        encode = self._encoders.get((name, primitive))
        if encode is None:
            schema = self.current(name)
            writing = parse_schema(_without_logical_types(schema.raw)) if primitive else schema.parsed
            encode = _fastavro_encoder(schema, MARKER + schema.fingerprint, writing)
            self._encoders[(name, primitive)] = encode
        return encode

    def decode(self, message: bytes) -> Decoded:
        """The event in a single-object message, read with the current schema of the writer schema's name.

        Raises UnknownFingerprint if the writer schema is not known, MalformedMessage if the message is too
        short, has the wrong marker, or its body is truncated, garbage or followed by unread bytes, and
        IncompatibleSchema if the writer's data cannot be resolved to the current schema."""
        fingerprint, _ = split(message[:HEADER_LEN])
        writer = self._by_fingerprint.get(fingerprint)
        if writer is None:
            raise UnknownFingerprint(fingerprint)
        reader = self._current.get(writer.name)
        if reader is None:
            raise IncompatibleSchema(f"{writer.label} has no current schema to read it with")
        stream = BytesIO(message)
        stream.seek(HEADER_LEN)
        try:
            # Same schema: skip resolution (fastavro would otherwise compare the two schemas on every call).
            record = schemaless_reader(stream, writer.parsed, None if reader is writer else reader.parsed)
        except SchemaResolutionError as exc:
            raise IncompatibleSchema(f"cannot read {writer.label} data as {reader.label}: {exc}") from exc
        except Exception as exc:
            # Untrusted bytes make fastavro fail in many ways (EOFError, StopIteration, ValueError,
            # IndexError, UnicodeDecodeError, OverflowError...); each means the body does not fit its schema.
            raise MalformedMessage(
                f"{writer.label} body is malformed: {type(exc).__name__}: {exc or 'truncated'}"
            ) from exc
        unread = len(message) - stream.tell()
        if unread:
            raise MalformedMessage(f"{writer.label} body is followed by {unread} unread bytes")
        if not isinstance(record, dict):
            raise MalformedMessage(f"{writer.label} body is not a record")
        return Decoded(name=reader.name, record=record, writer=writer)


def _fastavro_encoder(
    schema: EventSchema, header: bytes, writing: dict[str, Any] | str | list[Any]
) -> Callable[[Mapping[str, Any]], bytes]:
    """``header`` + the record written with the parsed schema ``writing`` (``schema``'s, or its primitive
    twin); a failure is explained against ``schema`` itself."""
    parsed = schema.parsed

    def encode(record: Mapping[str, Any]) -> bytes:
        stream = BytesIO()
        stream.write(header)
        try:
            schemaless_writer(stream, writing, record)
        except Exception as exc:
            raise SchemaError(f"cannot encode {schema.name}: {explain(exc, record, parsed)}") from exc
        return stream.getvalue()

    return encode


def _without_logical_types(schema: Any) -> Any:
    """``schema`` with every ``{"type": <primitive>, "logicalType": ...}`` replaced by the primitive."""
    if isinstance(schema, dict):
        if "logicalType" in schema and isinstance(schema.get("type"), str):
            return schema["type"]
        return {key: _without_logical_types(value) for key, value in schema.items()}
    if isinstance(schema, list):
        return [_without_logical_types(value) for value in schema]
    return schema
