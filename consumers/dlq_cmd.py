"""``floodwall dlq list|show|replay`` — what is in the dead-letter topic, why, and sending it back.

A dead letter is an event the sink could not apply (undecodable, unknown writer schema, invalid, refused
by the database), with its original key, value, headers and timestamp and Floodwall's headers saying
where it came from and why. Once the cause is fixed (the schema deployed, the database rule relaxed),
``replay`` sends the originals back to their source topics; the sink applies each event once, however
often it is replayed (it drops event ids it has processed).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import ClassVar

from pydantic import Field

from floodwall.cliargs import add_command_group, add_settings_command, doc_body, settings_from_args
from floodwall.consumers.dlq_io import DlqReader, replay
from floodwall.consumers.dlq_plan import (
    Entry,
    ReplayPlan,
    Selection,
    SelectionRefused,
    age,
    event_id_of,
    is_uuid,
    parse_letter,
    parse_range,
    plan_replay,
    summarize,
)
from floodwall.consumers.letters import (
    ERROR_MESSAGE,
    SCHEMA_FINGERPRINT,
    SOURCE_TIMESTAMP,
    StoredLetter,
    header_lines,
)
from floodwall.errors import FloodwallError
from floodwall.kafkaconn import EventTopicsSettings, TopicName, connection_conf
from floodwall.localstack import resolve_bootstrap_servers, state_dir_field
from floodwall.schemas.errors import SchemaError
from floodwall.schemas.registry import SchemaRegistry

REPLAY_IS_SAFE = (
    "Replaying is safe to repeat: the sink drops an event whose id it has processed already, so each "
    "event is applied at most once. Letters whose source topic is not the orders or inventory topic, and "
    "truncated letters, are never replayed."
)


class DlqSettings(EventTopicsSettings):
    """Where the dead-letter topic and the event topics are."""

    section: ClassVar[str] = "dlq"

    bootstrap_servers: str = Field("", description="Kafka bootstrap servers (default: the local stack's)")
    dlq_topic: TopicName = Field("dlq", description="dead-letter topic")
    state_dir: Path = state_dir_field()
    dlq_command_timeout_s: float = Field(
        15.0, gt=0, le=600, description="how long to wait for Kafka to answer"
    )


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    sub = add_command_group(
        commands,
        "dlq",
        help="list, show and replay dead letters (events the sink could not apply)",
        description=doc_body(__doc__),
    )
    listing = add_settings_command(
        sub,
        "list",
        DlqSettings,
        _list,
        help="dead letters by reason: counts, oldest and newest; --entries for each one",
        description="Read the dead-letter topic to its end (nothing is committed) and summarize it by "
        "error class: how many, from which topics, how long ago the oldest and newest were "
        "dead-lettered, how many were truncated.",
    )
    listing.add_argument("--reason", dest="reasons", action="append", metavar="CLASS",
                         help="only this error class, e.g. UnknownFingerprint (repeatable)")  # fmt: skip
    listing.add_argument("--entries", action="store_true", help="also one line per dead letter")
    listing.add_argument("--json", action="store_true", help="one JSON document instead of the table")

    show = add_settings_command(
        sub,
        "show",
        DlqSettings,
        _show,
        help="one dead letter with its headers and, when decodable, its event",
        description="Show the dead letter at PARTITION@OFFSET of the dead-letter topic (as `list "
        "--entries` names them), or every dead letter carrying --event-id.",
    )
    show.add_argument("letter", nargs="?", type=_letter_arg, metavar="P@O", help="e.g. 0@42")
    show.add_argument("--event-id", metavar="UUID", help="the dead letter(s) of this event instead")
    show.add_argument("--json", action="store_true", help="JSON instead of text")

    again = add_settings_command(
        sub,
        "replay",
        DlqSettings,
        _replay,
        help="send selected dead letters back to their source topics (--dry-run first)",
        description="Send the original records of the selected dead letters (key, value and original "
        "headers, plus floodwall.replay.of) back to their source topics, keyed as the originals, in "
        "source offset order. Criteria combine (all must hold); repeat one to allow several values. "
        + REPLAY_IS_SAFE,
    )
    again.add_argument("--reason", dest="reasons", action="append", metavar="CLASS", help="error class")
    again.add_argument("--source-topic", metavar="T", help="dead letters of this source topic")
    again.add_argument("--source-partition", type=_whole, metavar="P", help="… and partition")
    again.add_argument("--offsets", type=_range_arg, metavar="A-B", help="… and source offsets A to B")
    again.add_argument("--event-id", dest="event_ids", action="append", metavar="UUID", help="an event")
    again.add_argument("--letter", dest="letters", action="append", type=_letter_arg, metavar="P@O",
                       help="a dead letter by its partition@offset in the dead-letter topic")  # fmt: skip
    again.add_argument("--all", dest="everything", action="store_true", help="every dead letter")
    again.add_argument("--dry-run", action="store_true", help="print what would be replayed; send nothing")


def _whole(text: str) -> int:
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number >= 0")
    return int(text)


def _letter_arg(text: str) -> tuple[int, int]:
    try:
        return parse_letter(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _range_arg(text: str) -> tuple[int, int]:
    try:
        return parse_range(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _reader(s: DlqSettings) -> DlqReader:
    bootstrap = resolve_bootstrap_servers(s.bootstrap_servers, s.state_dir)
    return DlqReader(bootstrap, connection_conf(s.kafka_connection), s.dlq_topic, s.dlq_command_timeout_s)


def _entries(reader: DlqReader, registry: SchemaRegistry) -> Iterator[Entry]:
    def progress(read: int, total: int) -> None:
        print(f"read {read} of {total} dead letters…", file=sys.stderr)

    for letter in reader.letters(progress):
        yield Entry(letter, event_id_of(letter, registry))


def _now_ms() -> int:
    return int(time.time() * 1000)


# ---- list -----------------------------------------------------------------------------------------


def _list(args: argparse.Namespace) -> int:
    s = settings_from_args(DlqSettings, args)
    registry = SchemaRegistry.default()
    kept: list[Entry] = []
    with _reader(s) as reader:
        for entry in _entries(reader, registry):
            if not args.reasons or entry.letter.error_class in args.reasons:
                kept.append(Entry(dataclasses.replace(entry.letter, value=b""), entry.event_id))  # no values
    summaries, now = summarize(e.letter for e in kept), _now_ms()
    if args.json:
        reasons = [
            {"error_class": r.error_class, "count": r.count, "truncated": r.truncated,
             "source_topics": sorted(r.source_topics), "oldest_ms": r.oldest_ms, "newest_ms": r.newest_ms}
            for r in summaries
        ]  # fmt: skip
        document: dict[str, object] = {"topic": s.dlq_topic, "total": len(kept), "reasons": reasons}
        if args.entries:
            document["entries"] = [_entry_json(e) for e in kept]
        print(json.dumps(document, indent=2))
        return 0
    print(f"dead-letter topic {s.dlq_topic}: {len(kept)} dead letter(s)")
    if summaries:
        rows = [("REASON", "COUNT", "OLDEST", "NEWEST", "SOURCE TOPICS", "TRUNCATED")] + [
            (r.error_class, str(r.count), age(r.oldest_ms, now), age(r.newest_ms, now),
             ",".join(sorted(r.source_topics)), str(r.truncated))
            for r in summaries
        ]  # fmt: skip
        print(_table(rows))
    if args.entries and kept:
        print()
        rows = [("LETTER", "SOURCE", "REASON", "AGE", "EVENT ID", "MESSAGE")] + [
            (e.letter.coordinates, e.letter.source, e.letter.error_class, age(e.letter.dead_lettered_ms, now),
             e.event_id or "-", (e.letter.header(ERROR_MESSAGE) or "")[:80])
            for e in kept
        ]  # fmt: skip
        print(_table(rows))
    return 0


def _table(rows: Sequence[tuple[str, ...]]) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in rows)


def _entry_json(entry: Entry) -> dict[str, object]:
    letter = entry.letter
    return {
        "letter": letter.coordinates,
        "source_topic": letter.source_topic,
        "source_partition": letter.source_partition,
        "source_offset": letter.source_offset,
        "error_class": letter.error_class,
        "error_message": letter.header(ERROR_MESSAGE),
        "event_id": entry.event_id,
        "dead_lettered_ms": letter.dead_lettered_ms,
        "timestamp_ms": letter.timestamp_ms,
        "truncated": letter.truncated,
    }


# ---- show -----------------------------------------------------------------------------------------


def _show(args: argparse.Namespace) -> int:
    if (args.letter is None) == (args.event_id is None):
        raise SelectionRefused("give either a dead letter P@O or --event-id (one of them)")
    if args.event_id is not None and not is_uuid(args.event_id):
        raise SelectionRefused(f"--event-id {args.event_id!r} is not a UUID")
    s = settings_from_args(DlqSettings, args)
    registry = SchemaRegistry.default()
    with _reader(s) as reader:
        if args.letter is not None:
            found = reader.letter(*args.letter)
            if found is None:
                raise FloodwallError(
                    f"no dead letter at {args.letter[0]}@{args.letter[1]} in {s.dlq_topic} (see `dlq list "
                    f"--entries`; retention may have deleted it)"
                )
            shown = [Entry(found, event_id_of(found, registry))]
        else:
            wanted = Selection(event_ids=(args.event_id,))
            shown = [e for e in _entries(reader, registry) if wanted.matches(e)]
            if not shown:
                raise FloodwallError(f"no dead letter carries event id {args.event_id} in {s.dlq_topic}")
    if args.json:
        print(json.dumps([_show_json(e, registry) for e in shown], indent=2, default=str))
        return 0
    if len(shown) > 1:
        print(f"{len(shown)} dead letters carry event id {args.event_id}\n")
    print("\n\n".join(_describe(e, registry, _now_ms()) for e in shown))
    return 0


def _describe(entry: Entry, registry: SchemaRegistry, now: int) -> str:
    letter = entry.letter
    stamp = letter.header(SOURCE_TIMESTAMP)
    lines = [
        f"dead letter {letter.coordinates} (dead-lettered {age(letter.dead_lettered_ms, now)} ago)",
        f"source:    {letter.source}" + (f" (event time {age(int(stamp), now)} ago)" if stamp else ""),
        f"reason:    {letter.error_class}: {letter.header(ERROR_MESSAGE) or ''}",
        f"event id:  {entry.event_id or '-'}",
        f"key:       {_printable(letter.key)}",
        f"value:     {len(letter.value)} bytes, schema fingerprint {letter.header(SCHEMA_FINGERPRINT) or '-'}"
        + (f", TRUNCATED ({letter.truncated})" if letter.truncated else ""),
        "headers:",
        *("  " + line for line in header_lines(letter.headers)),
    ]
    record, problem = _decoded(letter, registry)
    if record is not None:
        lines.append("event:     " + json.dumps(record, default=str, sort_keys=True))
    else:
        lines.append(f"event:     not decodable now ({problem}); first bytes: {letter.value[:64].hex()}")
    return "\n".join(lines)


def _show_json(entry: Entry, registry: SchemaRegistry) -> dict[str, object]:
    record, problem = _decoded(entry.letter, registry)
    return {
        **_entry_json(entry),
        "key": _printable(entry.letter.key),
        "value_bytes": len(entry.letter.value),
        "headers": header_lines(entry.letter.headers),
        "event": record,
        "decode_error": problem,
    }


def _decoded(letter: StoredLetter, registry: SchemaRegistry) -> tuple[dict[str, object] | None, str | None]:
    try:
        return registry.decode(letter.value).record, None
    except SchemaError as exc:
        return None, f"{type(exc).__name__}: {exc}"


def _printable(data: bytes | None) -> str:
    if data is None:
        return "(none)"
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return "0x" + data.hex()


# ---- replay ---------------------------------------------------------------------------------------


def _replay(args: argparse.Namespace) -> int:
    selection = Selection(
        reasons=tuple(args.reasons or ()),
        source_topic=args.source_topic,
        source_partition=args.source_partition,
        source_offsets=args.offsets,
        event_ids=tuple(args.event_ids or ()),
        letters=tuple(args.letters or ()),
        everything=args.everything,
    )
    selection.check()  # before any I/O
    s = settings_from_args(DlqSettings, args)
    with _reader(s) as reader:
        plan = plan_replay(list(_entries(reader, SchemaRegistry.default())), selection,
                           {s.orders_topic, s.inventory_topic})  # fmt: skip
    _print_plan(plan)
    counts = ", ".join(f"{topic} {n}" for topic, n in sorted(plan.by_topic().items()))
    if args.dry_run:
        print(f"dry run: would replay {len(plan.replay)} dead letter(s) ({counts}); nothing sent")
        return 0
    bootstrap = resolve_bootstrap_servers(s.bootstrap_servers, s.state_dir)
    sent = replay(bootstrap, connection_conf(s.kafka_connection), s.dlq_topic, plan.replay,
                  s.dlq_command_timeout_s)  # fmt: skip
    print(f"replayed {sent} dead letter(s) ({counts}); skipped {len(plan.skipped)}")
    return 0


def _print_plan(plan: ReplayPlan) -> None:
    for entry in plan.replay:
        letter = entry.letter
        print(
            f"replay {letter.coordinates}: {letter.source} {letter.error_class} event {entry.event_id or '-'}"
        )
    for skipped in plan.skipped:
        print(f"skip   {skipped.entry.letter.coordinates}: {skipped.entry.letter.source}: {skipped.reason}")
