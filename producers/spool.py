"""A durable, bounded on-disk spool for events the broker could not take.

Layout: ``DIR/segment-NNNNNN.log`` files of records ``[length u32][crc32 u32][seq u64][payload]``, the
payload being ``[topic length u16][topic][key length u32][key][value]``. The newest segment is the active
one (appended to); older ones are sealed. Each record carries the producer's emit sequence number, so a
replay can restore emission order even when older messages (purged from the client's queue) were spooled
after newer ones.

Guarantees: a record is durable once :meth:`Spool.sync` returned after its :meth:`Spool.append`; a torn
record at the end (a crash mid-write) is cut off at the next open; the spool never grows past
``max_bytes`` (:class:`SpoolFull` instead); one process at a time (:class:`SpoolLocked`). Spooled events
carry customer ids: the directory is created 0700 and every file in it is 0600 (segments an older release
left wider are narrowed when the spool opens).
"""

from __future__ import annotations

import fcntl
import logging
import os
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from floodwall.errors import FloodwallError
from floodwall.privatefs import make_private_dir, open_private

log = logging.getLogger(__name__)

_HEADER = struct.Struct("<IIQ")  # payload length, crc32(seq + payload), seq
_NO_KEY = 0xFFFFFFFF


class SpoolError(FloodwallError):
    """The spool cannot take or give back events."""


class SpoolFull(SpoolError):
    """Accepting the event would exceed the spool's size bound; the event was not accepted."""


class SpoolLocked(SpoolError):
    """Another process uses this spool directory."""


@dataclass(frozen=True, slots=True)
class SpoolRecord:
    seq: int
    topic: str
    key: bytes | None
    value: bytes

    def encode(self) -> bytes:
        topic = self.topic.encode()
        key_len = _NO_KEY if self.key is None else len(self.key)
        payload = b"".join(
            (struct.pack("<H", len(topic)), topic, struct.pack("<I", key_len), self.key or b"", self.value)
        )
        seq = struct.pack("<Q", self.seq)
        return _HEADER.pack(len(payload), zlib.crc32(seq + payload), self.seq) + payload


def _decode_payload(seq: int, payload: bytes) -> SpoolRecord:
    (topic_len,) = struct.unpack_from("<H", payload, 0)
    topic = payload[2 : 2 + topic_len].decode()
    pos = 2 + topic_len
    (key_len,) = struct.unpack_from("<I", payload, pos)
    pos += 4
    key = None if key_len == _NO_KEY else payload[pos : pos + key_len]
    pos += 0 if key is None else key_len
    return SpoolRecord(seq, topic, key, payload[pos:])


def _scan(path: Path) -> tuple[list[tuple[int, int, int]], int]:
    """(seq, offset, size) of each intact record, and the byte length of the intact prefix."""
    data = path.read_bytes()
    entries, pos = [], 0
    while pos + _HEADER.size <= len(data):
        length, crc, seq = _HEADER.unpack_from(data, pos)
        end = pos + _HEADER.size + length
        if end > len(data) or zlib.crc32(data[pos + 8 : end]) != crc:
            break
        entries.append((seq, pos, end - pos))
        pos = end
    return entries, pos


class Spool:
    """The spool in ``directory`` (created if needed), bounded to ``max_bytes``."""

    def __init__(self, directory: Path, max_bytes: int) -> None:
        self.directory = directory
        self.max_bytes = max_bytes
        make_private_dir(directory)
        self._lock_file = os.fdopen(open_private(directory / "spool.lock", os.O_WRONLY), "w")
        try:
            fcntl.flock(self._lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._lock_file.close()
            raise SpoolLocked(
                f"spool {directory} is in use by another process; give each producer its own"
            ) from None
        self._segments: dict[Path, tuple[int, int]] = {}  # path -> (events, bytes)
        self._max_seq = -1
        for path in sorted(directory.glob("segment-*.log")):
            self._recover(path)
        self._active_path, self._active = self._open_new_segment()

    def _recover(self, path: Path) -> None:
        os.close(open_private(path, os.O_RDONLY))  # narrows a segment an older release wrote 0644
        entries, intact = _scan(path)
        if intact < path.stat().st_size:
            log.warning("spool %s: cutting a torn record at byte %d (crash during a write)", path, intact)
            with path.open("r+b") as fh:
                fh.truncate(intact)
        if not entries:
            path.unlink()
            return
        self._segments[path] = (len(entries), intact)
        self._max_seq = max(self._max_seq, max(seq for seq, _, _ in entries))

    def _open_new_segment(self) -> tuple[Path, BinaryIO]:
        last = max((int(p.stem.split("-")[1]) for p in self._segments), default=0)
        path = self.directory / f"segment-{last + 1:06d}.log"
        handle = os.fdopen(open_private(path, os.O_WRONLY | os.O_APPEND), "ab")
        self._segments[path] = (0, 0)
        _fsync_dir(self.directory)  # the new file's name must survive a crash too
        return path, handle

    @property
    def events(self) -> int:
        return sum(n for n, _ in self._segments.values())

    @property
    def bytes(self) -> int:
        return sum(b for _, b in self._segments.values())

    def is_empty(self) -> bool:
        return self.events == 0

    def next_seq(self) -> int:
        """A sequence number above every spooled one (so a restarted producer keeps the order)."""
        return self._max_seq + 1

    def append(self, record: SpoolRecord) -> None:
        """Write ``record`` to the active segment (durable after the next :meth:`sync`). Raises SpoolFull."""
        data = record.encode()
        if self.bytes + len(data) > self.max_bytes:
            raise SpoolFull(
                f"spool {self.directory} is full ({self.bytes} of {self.max_bytes} bytes): the broker has "
                f"been unreachable too long; the event was not accepted (raise spool_max_bytes or restore "
                f"the broker)"
            )
        self._active.write(data)
        events, size = self._segments[self._active_path]
        self._segments[self._active_path] = (events + 1, size + len(data))
        self._max_seq = max(self._max_seq, record.seq)

    def sync(self) -> None:
        """Make every appended record durable (flush + fsync)."""
        self._active.flush()
        os.fsync(self._active.fileno())

    def seal(self) -> list[Path]:
        """Close the active segment and start a new one; return every sealed segment holding records."""
        self.sync()
        self._active.close()
        sealed = [p for p, (n, _) in self._segments.items() if n > 0]
        if self._segments[self._active_path][0] == 0:
            del self._segments[self._active_path]
            self._active_path.unlink()
        self._active_path, self._active = self._open_new_segment()
        return sorted(sealed)

    def read(self, segments: list[Path]) -> list[SpoolRecord]:
        """All records of ``segments``, in emit (sequence) order."""
        records = []
        for path in segments:
            data = path.read_bytes()
            for seq, offset, size in _scan(path)[0]:
                records.append(_decode_payload(seq, data[offset + _HEADER.size : offset + size]))
        records.sort(key=lambda r: r.seq)
        return records

    def discard(self, segments: list[Path]) -> None:
        """Delete replayed segments."""
        for path in segments:
            path.unlink(missing_ok=True)
            self._segments.pop(path, None)
        _fsync_dir(self.directory)

    def close(self) -> None:
        self.sync()
        self._active.close()
        if self._segments.get(self._active_path, (1, 0))[0] == 0:
            self._active_path.unlink(missing_ok=True)
            self._segments.pop(self._active_path, None)
        self._lock_file.close()


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
