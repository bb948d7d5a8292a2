"""Trace files (``.fwt``): a run's whole event stream, recorded once and replayable any number of times.

Layout (integers little-endian)::

    b"FWTRACE1"  u32 n  header (n bytes of JSON: profile and workload settings)
    records:     f64 send time (s from the profile's start)  u16 key length  u32 value length  key  value
    footer (JSON: counts and the model's prediction)  u32 footer length  b"FWTREND1"

A record's value is the event exactly as the SDK puts it on the wire (Avro single-object encoding) and
its key is the event's Kafka key. The JSON is written with sorted keys and no timestamps, so the same
settings and seed give byte-identical files. Files are written to a temporary name and renamed into
place: a reader never sees half a trace.
"""

from __future__ import annotations

import json
import os
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO, Any, NamedTuple

from floodwall.errors import FloodwallError
from floodwall.privatefs import make_private_dir, open_private

MAGIC = b"FWTRACE1"
END_MAGIC = b"FWTREND1"
_RECORD = struct.Struct("<dHI")
_U32 = struct.Struct("<I")
_BUFFER = 1 << 20


class TraceError(FloodwallError):
    """A trace file is missing, truncated or not a trace."""


class TraceRecord(NamedTuple):
    t: float
    key: bytes
    value: bytes


def shard_of(key: bytes, shards: int) -> int:
    """Which of ``shards`` sender processes sends events with this key (stable across processes and
    runs, unlike ``hash()``). One key → one process keeps each order's and each SKU's events in order."""
    return zlib.crc32(key) % shards


def _dumps(document: dict[str, Any]) -> bytes:
    return json.dumps(document, sort_keys=True, separators=(",", ":")).encode()


class TraceWriter:
    """Writes a trace; :meth:`close` adds the footer and renames the file into place."""

    def __init__(self, path: Path, header: dict[str, Any]) -> None:
        self.path = path
        self._tmp = path.with_name(path.name + ".tmp")
        make_private_dir(path.parent)
        # Events with customer ids: 0600 like every file Floodwall writes (floodwall/privatefs.py).
        self._file: IO[bytes] = os.fdopen(
            open_private(self._tmp, os.O_WRONLY | os.O_TRUNC), "wb", buffering=_BUFFER
        )
        body = _dumps(header)
        self._file.write(MAGIC + _U32.pack(len(body)) + body)
        self.records = 0

    def write(self, t: float, key: bytes, value: bytes) -> None:
        self._file.write(_RECORD.pack(t, len(key), len(value)))
        self._file.write(key)
        self._file.write(value)
        self.records += 1

    def close(self, footer: dict[str, Any]) -> None:
        body = _dumps({**footer, "records": self.records})
        self._file.write(body + _U32.pack(len(body)) + END_MAGIC)
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        os.replace(self._tmp, self.path)

    def abort(self) -> None:
        self._file.close()
        self._tmp.unlink(missing_ok=True)

    def __enter__(self) -> TraceWriter:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc_type is not None:
            self.abort()


@dataclass(frozen=True)
class Trace:
    """An opened trace file: its header and footer, and its records on demand."""

    path: Path
    header: dict[str, Any]
    footer: dict[str, Any]
    _records_at: int
    _records_end: int

    @property
    def events(self) -> int:
        return int(self.footer["records"])

    def records(self, shard: int = 0, shards: int = 1) -> Iterator[TraceRecord]:
        """The records in file order (ascending send time), only those of ``shard`` of ``shards``."""
        with self.path.open("rb", buffering=_BUFFER) as file:
            file.seek(self._records_at)
            position = self._records_at
            while position < self._records_end:
                head = file.read(_RECORD.size)
                if len(head) < _RECORD.size:
                    raise TraceError(f"{self.path}: truncated record at byte {position}")
                t, key_len, value_len = _RECORD.unpack(head)
                key = file.read(key_len)
                value = file.read(value_len)
                position += _RECORD.size + key_len + value_len
                if shards == 1 or shard_of(key, shards) == shard:
                    yield TraceRecord(t, key, value)


def open_trace(path: Path) -> Trace:
    """Read a trace's header and footer. Raises TraceError when it is missing or damaged."""
    try:
        with path.open("rb") as file:
            size = file.seek(0, os.SEEK_END)
            file.seek(0)
            head = file.read(len(MAGIC) + _U32.size)
            if len(head) < len(MAGIC) + _U32.size or not head.startswith(MAGIC):
                raise TraceError(f"{path} is not a Floodwall trace file")
            (header_len,) = _U32.unpack(head[len(MAGIC) :])
            header = json.loads(file.read(header_len))
            records_at = file.tell()
            tail_len = _U32.size + len(END_MAGIC)
            file.seek(max(size - tail_len, 0))
            tail = file.read(tail_len)
            if not tail.endswith(END_MAGIC):
                raise TraceError(f"{path} is truncated (no end marker): was its recording interrupted?")
            (footer_len,) = _U32.unpack(tail[: _U32.size])
            records_end = size - tail_len - footer_len
            file.seek(records_end)
            footer = json.loads(file.read(footer_len))
    except FileNotFoundError:
        raise TraceError(f"trace file {path} does not exist") from None
    except OSError as exc:
        raise TraceError(f"trace file {path} cannot be read: {exc.strerror}") from None
    except ValueError as exc:  # JSON (or UTF-8) damage
        raise TraceError(f"{path} has a damaged header or footer: {exc}") from None
    return Trace(path, header, footer, records_at, records_end)
