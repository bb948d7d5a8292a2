"""Where each partition's stored offset stands against its log, and what a reset would change. Pure.

The sink stores the next offset to apply per partition in PostgreSQL (``sink_offsets``). That offset
*fits the log* when ``log start <= stored <= log end``; outside that range the consumer stops the
partition rather than skip silently, and an operator decides with ``floodwall offsets reset``. This
module holds the arithmetic of that decision; ``consumers.offsets_io`` reads and writes the numbers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from floodwall.errors import FloodwallError


class Status(StrEnum):
    """How a stored offset relates to its partition's log."""

    OK = "ok"
    BEYOND_END = "beyond log end"
    BEFORE_START = "before log start"
    NO_STORED = "no stored offset"


OUT_OF_RANGE = frozenset({Status.BEYOND_END, Status.BEFORE_START})


class ResetRefused(FloodwallError):
    """A reset asked for something that cannot be done (an offset outside the log): nothing changed."""


def classify(stored: int | None, low: int, high: int) -> Status:
    """``stored`` against the log ``[low, high]``. ``stored == high`` is ok: caught up, waiting."""
    if stored is None:
        return Status.NO_STORED
    if stored > high:
        return Status.BEYOND_END
    if stored < low:
        return Status.BEFORE_START
    return Status.OK


@dataclass(frozen=True)
class PartitionOffsets:
    """One partition as ``floodwall offsets show`` reports it.

    ``stored``: ``sink_offsets.next_offset`` (None: no row yet). ``committed``: the group's Kafka-committed
    offset (None: none). ``low``/``high``: the log start and end (low and high watermarks)."""

    topic: str
    partition: int
    stored: int | None
    committed: int | None
    low: int
    high: int

    @property
    def status(self) -> Status:
        return classify(self.stored, self.low, self.high)

    @property
    def lag(self) -> int | None:
        """Log end minus stored offset; negative when the stored offset lies beyond the log end."""
        return None if self.stored is None else self.high - self.stored

    def as_json(self) -> dict[str, object]:
        return {
            "topic": self.topic,
            "partition": self.partition,
            "stored_offset": self.stored,
            "committed_offset": self.committed,
            "log_start": self.low,
            "log_end": self.high,
            "lag": self.lag,
            "status": str(self.status),
        }


def show_exit_status(rows: Sequence[PartitionOffsets]) -> int:
    """0 when every stored offset fits its log (or there is none yet), 1 when any lies outside."""
    return 1 if any(r.status in OUT_OF_RANGE for r in rows) else 0


@dataclass(frozen=True)
class Target:
    """Where a reset moves stored offsets: ``earliest`` (log start), ``latest`` (log end) or ``offset``."""

    kind: str
    offset: int | None = None

    def resolve(self, row: PartitionOffsets) -> int:
        """The new offset for ``row``. Raises ResetRefused for an offset outside ``[low, high]``."""
        if self.kind == "earliest":
            return row.low
        if self.kind == "latest":
            return row.high
        assert self.offset is not None, "an offset target carries its offset"
        if not row.low <= self.offset <= row.high:
            raise ResetRefused(
                f"{row.topic}[{row.partition}]: offset {self.offset} is outside the log "
                f"[{row.low}, {row.high}] (log start, log end); nothing changed"
            )
        return self.offset

    def describe(self) -> str:
        if self.kind == "offset":
            return f"offset {self.offset}"
        return {"earliest": "the log start", "latest": "the log end"}[self.kind]


@dataclass(frozen=True)
class Change:
    """One partition's stored offset moving from ``old`` (None: no row) to ``new``, with its log."""

    topic: str
    partition: int
    old: int | None
    new: int
    low: int
    high: int

    @property
    def status(self) -> Status:
        return classify(self.old, self.low, self.high)

    @property
    def start(self) -> int:
        """Where the consumer would read from without the reset. A partition without a stored offset, or
        whose offset precedes the log start, can only begin at the log start; one beyond the log end has no
        such place, and we count from the log start too (nothing below ``new`` is read)."""
        if self.old is None or self.status is not Status.OK:
            return self.low
        return self.old

    @property
    def skipped(self) -> int:
        """Events still in the log that will never be read because of the reset."""
        return max(0, self.new - self.start)

    @property
    def reread(self) -> int:
        """Events read a second time (only when moving back from an offset that fits the log)."""
        return max(0, self.start - self.new) if self.status is Status.OK else 0

    @property
    def lost(self) -> int:
        """Events the broker deleted before they were applied (stored offset before the log start)."""
        return self.low - self.old if self.old is not None and self.status is Status.BEFORE_START else 0

    def describe(self) -> str:
        """``orders[3]: 5000 -> 120 (…)``: the move and what it does to the events."""
        old = "none" if self.old is None else str(self.old)
        return f"{self.topic}[{self.partition}]: {old} -> {self.new} ({'; '.join(self._effects())})"

    def _effects(self) -> list[str]:
        effects = []
        if self.old is None:
            effects.append(f"no stored offset: the consumer would start at the log start {self.low}")
        elif self.status is Status.BEYOND_END:
            effects.append(
                f"stored offset lies {self.old - self.high} beyond the log end {self.high} (topic recreated "
                f"or broker data lost): which events below it were applied cannot be told from offsets"
            )
        if self.lost:
            effects.append(
                f"{self.lost} events (offsets {self.old}..{self.low - 1}) were deleted by the broker "
                f"before they were applied"
            )
        if self.skipped:
            effects.append(f"skips {self.skipped} events (offsets {self.start}..{self.new - 1})")
        if self.reread:
            effects.append(
                f"re-reads {self.reread} events (offsets {self.new}..{self.start - 1}; "
                f"already applied ones are dropped by event id)"
            )
        if self.status is Status.BEYOND_END:
            effects.append(
                f"reads {self.high - self.new} events from offset {self.new} "
                f"(any applied before are dropped by event id)"
            )
        elif not self.skipped and not self.reread:
            effects.append("skips and re-reads nothing")
        return effects


def plan_reset(rows: Sequence[PartitionOffsets], target: Target) -> list[Change]:
    """One Change per row. Raises ResetRefused (before anything is written) when ``target`` does not fit
    some partition's log."""
    return [Change(r.topic, r.partition, r.stored, target.resolve(r), r.low, r.high) for r in rows]


def summary(changes: Sequence[Change]) -> str:
    """``3 partitions: skips 120 events, re-reads 0``."""
    skipped = sum(c.skipped for c in changes)
    reread = sum(c.reread for c in changes)
    return f"{len(changes)} partition(s): skips {skipped} events, re-reads {reread}"
