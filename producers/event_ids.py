"""Event ids for lines that carry none: random, or derived from the line so that a re-run repeats them.

The sink applies each event id once (``processed_events`` is keyed by it), so a re-run of
``floodwall produce`` after a partial failure applies every event exactly once *if* each line gets the
same id as last time. ``content`` ids are ``uuid5(namespace, "<n>\\n<canonical JSON of the line>")``:

- The canonical JSON (sorted keys, no spaces) ignores formatting, so re-serialising the file keeps the ids.
- ``n`` counts identical lines in this input (1 for the first copy, 2 for the second, …): two identical
  restocks in one file stay two events, while fixing, deleting or inserting *other* lines — the usual
  repair after a rejected line — changes no id. (A line-number id would shift every later line then:
  a re-run would apply some events twice and drop new lines as duplicates of old ones.)
- The namespace keeps different inputs apart: by default it is derived from the file's absolute path,
  so re-running the same file (by any relative path or symlink) is idempotent and another file with
  an identical line is a different event. Standard input has no path: name the batch with
  ``--id-namespace``. Reusing one path for a new batch (a nightly export overwriting the last) needs a
  new ``--id-namespace`` per batch, or identical lines of the two batches count as one event.

A line's own ``event_id`` always wins.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from enum import StrEnum
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4, uuid5

from floodwall.errors import ConfigError

# Fixed for ever: changing it would change every content-derived id and break idempotent re-runs.
FLOODWALL_PRODUCE_NAMESPACE = UUID("5b0b1d3e-3f6a-5c59-9c1e-6a0f4c2d7e11")


class IdScheme(StrEnum):
    RANDOM = "random"
    CONTENT = "content"


class EventIds:
    """Hands out the id of each line without an ``event_id``. Not thread-safe (one per input)."""

    def __init__(self, scheme: IdScheme, namespace: UUID | None = None, source: str = "") -> None:
        if scheme is IdScheme.CONTENT and namespace is None:
            raise ConfigError("content-derived event ids need a namespace")
        self.scheme = scheme
        self.namespace = namespace
        self.source = source  # where the namespace came from, for the summary
        # Copies seen per content (keyed by a 64-bit digest, ~70 bytes a distinct line). A digest
        # collision only renumbers a copy, the same way on every run: ids stay distinct and repeatable.
        self._copies: dict[int, int] = {}

    def for_line(self, obj: Any) -> Callable[[], UUID]:
        """The id maker for one decoded line: called only when the line has no ``event_id``."""
        if self.scheme is IdScheme.RANDOM:
            return uuid4
        return lambda: self._derive(obj)

    def _derive(self, obj: Any) -> UUID:
        assert self.namespace is not None
        canonical = json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
        key = int.from_bytes(hashlib.blake2b(canonical.encode("ascii"), digest_size=8).digest(), "big")
        copy = self._copies.get(key, 0) + 1
        self._copies[key] = copy
        return uuid5(self.namespace, f"{copy}\n{canonical}")


def namespace_for(explicit: str | None, file: str) -> tuple[UUID, str]:
    """The namespace of content-derived ids and where it came from (for the summary).

    ``explicit`` (``--id-namespace``) is a UUID, or any name (hashed into one). Without it the input
    file's absolute path is used. Raises ConfigError when reading standard input without ``explicit``.
    """
    if explicit is not None:
        if not explicit.strip():
            raise ConfigError("--id-namespace must not be empty")
        try:
            return UUID(explicit), f"--id-namespace {explicit}"
        except ValueError:
            return uuid5(
                FLOODWALL_PRODUCE_NAMESPACE, "name:" + _printable(explicit)
            ), f"--id-namespace {explicit!r}"
    if file == "-":
        raise ConfigError(
            "--event-ids content on standard input needs --id-namespace NAME (name the batch, and give "
            "the same name when you re-run it), because there is no file path to derive it from"
        )
    # Resolved: a relative path, or a symlink, names the same file from anywhere; a symlink moved to a new
    # batch's file names the new batch.
    path = _printable(str(Path(file).resolve()))
    return uuid5(FLOODWALL_PRODUCE_NAMESPACE, "file:" + path), f"the path {path}"


def _printable(text: str) -> str:
    # Arguments and paths may hold undecodable bytes (surrogate escapes); uuid5 needs encodable text.
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
