"""What ``floodwall dlq`` reports and replays: summaries by reason and age, selections, replay plans. Pure.

``consumers.dlq_io`` reads the dead-letter topic and writes replays; ``consumers.dlq_cmd`` is the
command line. A replay is safe to repeat: the sink drops an event whose id it has processed already
(``processed_events``), so a replayed event is applied once however often it is replayed.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field

from floodwall.consumers.letters import EVENT_ID, StoredLetter
from floodwall.errors import ConfigError, FloodwallError
from floodwall.schemas.errors import SchemaError
from floodwall.schemas.registry import SchemaRegistry


class SelectionRefused(ConfigError):
    """A replay selection that is empty or ambiguous: nothing was replayed."""


class NothingToReplay(FloodwallError):
    """The selection matched no dead letter that can be replayed: nothing was replayed."""


def event_id_of(letter: StoredLetter, registry: SchemaRegistry) -> str | None:
    """The event id a dead letter carries: its header, else the decoded value's (when decodable now)."""
    header = letter.header(EVENT_ID)
    if header:
        return header
    try:
        return str(registry.decode(letter.value).record["event_id"])
    except (SchemaError, KeyError):
        return None


@dataclass(frozen=True)
class Entry:
    """A dead letter with its event id resolved (None: not decodable)."""

    letter: StoredLetter
    event_id: str | None


# ---- list -----------------------------------------------------------------------------------------


@dataclass
class ReasonSummary:
    """The dead letters of one error class: how many, from which topics, oldest and newest."""

    error_class: str
    count: int = 0
    truncated: int = 0
    source_topics: set[str] = field(default_factory=set)
    oldest_ms: int | None = None
    newest_ms: int | None = None

    def add(self, letter: StoredLetter) -> None:
        self.count += 1
        self.truncated += letter.truncated is not None
        self.source_topics.add(letter.source_topic or "?")
        at = letter.dead_lettered_ms
        if at is not None:
            self.oldest_ms = at if self.oldest_ms is None else min(self.oldest_ms, at)
            self.newest_ms = at if self.newest_ms is None else max(self.newest_ms, at)


def summarize(letters: Iterable[StoredLetter]) -> list[ReasonSummary]:
    """One summary per error class, the most frequent first."""
    by_class: dict[str, ReasonSummary] = {}
    for letter in letters:
        by_class.setdefault(letter.error_class, ReasonSummary(letter.error_class)).add(letter)
    return sorted(by_class.values(), key=lambda s: (-s.count, s.error_class))


def age(at_ms: int | None, now_ms: int) -> str:
    """``3d 4h``, ``2h 5m``, ``7m``, ``40s`` (``-`` when unknown)."""
    if at_ms is None:
        return "-"
    seconds = max(0, (now_ms - at_ms) // 1000)
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes}m"
    return f"{minutes}m" if minutes else f"{secs}s"


# ---- selection ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Selection:
    """Which dead letters: every given criterion must hold (criteria of one kind are alternatives)."""

    reasons: tuple[str, ...] = ()  # error classes
    source_topic: str | None = None
    source_partition: int | None = None
    source_offsets: tuple[int, int] | None = None  # inclusive
    event_ids: tuple[str, ...] = ()
    letters: tuple[tuple[int, int], ...] = ()  # (dlq partition, offset)
    everything: bool = False

    def check(self) -> None:
        """Raises SelectionRefused for an empty or ambiguous selection."""
        given = bool(self.reasons or self.source_topic or self.event_ids or self.letters) or (
            self.source_partition is not None or self.source_offsets is not None
        )
        if self.everything and given:
            raise SelectionRefused("--all selects every dead letter; it cannot be combined with a criterion")
        if not self.everything and not given:
            raise SelectionRefused(
                "say what to replay: --reason, --source-topic [--source-partition [--offsets A-B]], "
                "--event-id, --letter P@O, or --all for every dead letter; nothing replayed"
            )
        if self.source_partition is not None and self.source_topic is None:
            raise SelectionRefused(
                f"--source-partition {self.source_partition} is ambiguous without --source-topic "
                f"(each topic has its own partition {self.source_partition}); nothing replayed"
            )
        if self.source_offsets is not None and self.source_partition is None:
            raise SelectionRefused(
                "--offsets are a partition's offsets: give --source-topic and --source-partition too; "
                "nothing replayed"
            )
        for text in self.event_ids:
            if not is_uuid(text):
                raise SelectionRefused(f"--event-id {text!r} is not a UUID; nothing replayed")

    def matches(self, entry: Entry) -> bool:
        if self.everything:
            return True
        checks = [
            not self.reasons or entry.letter.error_class in self.reasons,
            self.source_topic is None or entry.letter.source_topic == self.source_topic,
            self.source_partition is None or entry.letter.source_partition == self.source_partition,
            self.source_offsets is None or _within(entry.letter.source_offset, self.source_offsets),
            not self.event_ids or _same_uuid(entry.event_id, self.event_ids),
            not self.letters or (entry.letter.partition, entry.letter.offset) in self.letters,
        ]
        return all(checks)


def is_uuid(text: str) -> bool:
    try:
        uuid.UUID(text)
    except ValueError:
        return False
    return True


def _within(offset: int | None, bounds: tuple[int, int]) -> bool:
    return offset is not None and bounds[0] <= offset <= bounds[1]


def _same_uuid(event_id: str | None, wanted: Collection[str]) -> bool:
    if event_id is None:
        return False
    try:
        return uuid.UUID(event_id) in {uuid.UUID(w) for w in wanted}
    except ValueError:
        return False


# ---- replay ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Skipped:
    """A selected dead letter that is not replayed, and why."""

    entry: Entry
    reason: str


@dataclass(frozen=True)
class ReplayPlan:
    """The dead letters to send back to their source topics (in source order), and those left out."""

    replay: list[Entry]
    skipped: list[Skipped]

    def by_topic(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for entry in self.replay:
            topic = entry.letter.source_topic or "?"
            counts[topic] = counts.get(topic, 0) + 1
        return counts


def plan_replay(entries: Sequence[Entry], selection: Selection, event_topics: Collection[str]) -> ReplayPlan:
    """The replay of the dead letters ``selection`` picks from ``entries``.

    Left out, with the reason: a letter without Floodwall's source headers, one whose source topic is not
    one of ``event_topics`` (never replayed anywhere else), a truncated one (its value is not the
    original), and further copies of a source record or event already in the plan. Raises
    SelectionRefused for an empty or ambiguous selection (two different records with one event id), and
    NothingToReplay when no selected letter is left to replay.
    """
    selection.check()
    chosen = [e for e in entries if selection.matches(e)]
    if not chosen:
        raise NothingToReplay("no dead letter matches the selection; nothing replayed")
    replay: list[Entry] = []
    skipped: list[Skipped] = []
    by_source: dict[tuple[str, int, int], Entry] = {}
    by_event: dict[str, Entry] = {}
    topics = ", ".join(sorted(event_topics))
    for entry in chosen:
        letter = entry.letter
        if letter.source_topic is None or letter.source_partition is None or letter.source_offset is None:
            skipped.append(Skipped(entry, "not a Floodwall dead letter (no source headers)"))
            continue
        if letter.source_topic not in event_topics:
            skipped.append(
                Skipped(entry, f"source topic {letter.source_topic!r} is not an event topic ({topics})")
            )
            continue
        if letter.truncated is not None:
            skipped.append(
                Skipped(entry, f"truncated ({letter.truncated}); the original is at {letter.source}")
            )
            continue
        source = (letter.source_topic, letter.source_partition, letter.source_offset)
        if source in by_source:
            skipped.append(Skipped(entry, f"a copy of dead letter {by_source[source].letter.coordinates}"))
            continue
        event = _event_key(entry.event_id)
        if event is not None and event in by_event:
            first = by_event[event]
            if first.letter.value != letter.value or first.letter.key != letter.key:
                raise SelectionRefused(
                    f"event id {entry.event_id} is carried by two different records (dead letters "
                    f"{first.letter.coordinates} and {letter.coordinates}): pick one with --letter P@O; "
                    f"nothing replayed"
                )
            skipped.append(Skipped(entry, f"the same event as dead letter {first.letter.coordinates}"))
            continue
        by_source[source] = entry
        if event is not None:
            by_event[event] = entry
        replay.append(entry)
    if not replay:
        raise NothingToReplay(
            f"{len(skipped)} dead letter(s) selected, none replayable ({skipped[0].reason}); nothing replayed"
        )
    replay.sort(key=lambda e: (e.letter.source_topic or "", e.letter.source_partition or 0,
                               e.letter.source_offset or 0))  # fmt: skip
    return ReplayPlan(replay, skipped)


def _event_key(event_id: str | None) -> str | None:
    """One spelling per event id (a UUID's canonical form), so copies are recognised."""
    if event_id is None:
        return None
    return str(uuid.UUID(event_id)) if is_uuid(event_id) else event_id


def parse_range(text: str) -> tuple[int, int]:
    """``A-B`` (inclusive) or ``A`` alone. Raises ValueError with a reason."""
    first, sep, last = text.partition("-")
    try:
        low = int(first)
        high = int(last) if sep else low
    except ValueError:
        raise ValueError(f"{text!r} is not an offset range A-B") from None
    if low < 0 or high < low:
        raise ValueError(f"{text!r}: want 0 <= A <= B")
    return low, high


def parse_letter(text: str) -> tuple[int, int]:
    """``P@O``: a dead letter's partition and offset in the dead-letter topic. Raises ValueError."""
    partition, sep, offset = text.partition("@")
    try:
        coordinates = int(partition), int(offset)
    except ValueError:
        raise ValueError(f"{text!r} is not PARTITION@OFFSET (e.g. 0@42)") from None
    if not sep or min(coordinates) < 0:
        raise ValueError(f"{text!r} is not PARTITION@OFFSET (e.g. 0@42)")
    return coordinates
