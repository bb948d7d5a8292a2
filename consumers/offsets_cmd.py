"""``floodwall offsets show|reset`` — the sink's stored offsets against the Kafka logs, and a deliberate move.

The sink's progress lives in PostgreSQL (``sink_offsets``); a consumer stops a partition whose stored
offset does not fit the log instead of skipping silently. ``show`` says which ones, ``reset`` moves them
(in PostgreSQL, and in Kafka for the group when Kafka lets it) after showing what that skips or re-reads.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import ClassVar

from pydantic import Field

from floodwall.cliargs import add_command_group, add_settings_flags, settings_from_args
from floodwall.consumers import offsets_io
from floodwall.consumers.offset_plan import (
    OUT_OF_RANGE,
    Change,
    PartitionOffsets,
    ResetRefused,
    Status,
    Target,
    plan_reset,
    show_exit_status,
    summary,
)
from floodwall.db.config import resolve_database_url
from floodwall.dburl import DatabaseUrl, database_url_field
from floodwall.errors import ConfigError, FloodwallError
from floodwall.kafkaconn import SinkGroupSettings, connection_conf
from floodwall.localstack import resolve_bootstrap_servers, state_dir_field

SAFE_WHILE_RUNNING = (
    "A reset while consumers run is safe: a batch advances a partition's stored offset only from the "
    "offset it started at, so a running consumer's next batch on a reset partition is fenced, applies "
    "nothing and re-reads the stored offset (an idle partition picks the reset up with its next event; a "
    "stopped one at the consumer's next check, about 10 s). Moving back re-reads events; those already "
    "applied are dropped by event id, so that is harmless. Moving forward skips events for good."
)


class OffsetsSettings(SinkGroupSettings):
    """Where the sink's group, its topics and its database are."""

    section: ClassVar[str] = "offsets"

    # An operator's tool: by default it finds the local stack's broker (resolve_bootstrap_servers).
    bootstrap_servers: str = Field("", description="Kafka bootstrap servers (default: the local stack's)")
    database_url: DatabaseUrl = database_url_field()
    state_dir: Path = state_dir_field()
    offsets_timeout_s: float = Field(
        15.0, gt=0, le=600, description="how long to wait for Kafka or PostgreSQL to answer"
    )


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    sub = add_command_group(
        commands,
        "offsets",
        help="show the sink's stored offsets against the Kafka logs; reset them deliberately",
        description="The sink stores each partition's next offset in PostgreSQL with the rows. When that "
        "offset does not fit the log (topic recreated, broker data lost, retention deleted unapplied "
        "events) the consumer stops the partition instead of skipping: `show` finds such partitions, "
        "`reset` moves them on purpose.",
    )
    show = sub.add_parser(
        "show",
        help="per partition: stored and committed offsets, log start and end, lag, status",
        description="Per partition: the offset stored in PostgreSQL, the group's Kafka-committed offset, "
        "the log start and end (low and high watermarks), lag (log end - stored) and a status: ok, "
        "beyond log end, before log start, no stored offset. Exit status 0 when no stored offset lies "
        "outside its log, 1 when one does.",
    )
    _group_flag(show, required=False)
    show.add_argument("--topic", dest="topics", action="append", metavar="T",
                      help="a topic to show (repeatable; default: orders and inventory topics)")  # fmt: skip
    show.add_argument("--json", action="store_true", help="one JSON document instead of the table")
    add_settings_flags(show, OffsetsSettings, only=set(OffsetsSettings.model_fields) - {"group_id"})
    show.set_defaults(handler=_show)

    reset = sub.add_parser(
        "reset",
        help="move stored offsets to the log start, the log end or an offset (asks first)",
        description="Move the stored offsets of the group's partitions in PostgreSQL, and commit the same "
        "offsets to Kafka for the group when it has no members (Kafka refuses commits from outside a "
        "group with members; those commit the new offsets after their next batch). Shows old -> new per "
        "partition with the events skipped or re-read, and asks unless --yes. " + SAFE_WHILE_RUNNING,
    )
    _group_flag(reset, required=True)
    reset.add_argument("--topic", required=True, metavar="T", help="the topic whose offsets move")
    reset.add_argument("--partition", dest="partitions", action="append", type=_non_negative, metavar="P",
                       help="a partition to move (repeatable; default: all of the topic's)")  # fmt: skip
    to = reset.add_mutually_exclusive_group(required=True)
    to.add_argument("--to-earliest", action="store_true", help="to the log start (re-read what is kept)")
    to.add_argument("--to-latest", action="store_true", help="to the log end (skip everything unread)")
    to.add_argument("--to-offset", type=_non_negative, metavar="N",
                    help="to offset N, which must lie within [log start, log end]")  # fmt: skip
    reset.add_argument("--yes", action="store_true", help="do not ask (required without a terminal)")
    add_settings_flags(
        reset,
        OffsetsSettings,
        only=set(OffsetsSettings.model_fields) - {"group_id", "orders_topic", "inventory_topic"},
    )
    reset.set_defaults(handler=_reset)


def _group_flag(parser: argparse.ArgumentParser, required: bool) -> None:
    default = OffsetsSettings.model_fields["group_id"].default
    parser.add_argument("--group", dest="group_id", metavar="G", required=required, default=argparse.SUPPRESS,
                        help=f"the consumer group [env FLOODWALL_GROUP_ID; default {default}]")  # fmt: skip


def _non_negative(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{value} is negative")
    return value


def _connect(s: OffsetsSettings) -> offsets_io.OffsetsIO:
    return offsets_io.OffsetsIO(
        resolve_bootstrap_servers(s.bootstrap_servers, s.state_dir),
        connection_conf(s.kafka_connection),
        resolve_database_url(s.database_url, s.state_dir),
        s.group_id,
        s.offsets_timeout_s,
    )


# ---- show -----------------------------------------------------------------------------------------


def _show(args: argparse.Namespace) -> int:
    s = settings_from_args(OffsetsSettings, args)
    topics = args.topics or [s.orders_topic, s.inventory_topic]
    with _connect(s) as io:
        rows = io.read(topics)
    if args.json:
        print(json.dumps({"group": s.group_id, "partitions": [r.as_json() for r in rows]}, indent=2))
    else:
        print(render_table(rows))
        _hint(rows, s.group_id)
    return show_exit_status(rows)


COLUMNS = ("TOPIC", "PARTITION", "STORED", "COMMITTED", "LOG START", "LOG END", "LAG", "STATUS")


def render_table(rows: list[PartitionOffsets]) -> str:
    """Aligned columns, ``-`` where there is no offset."""
    cells = [COLUMNS] + [
        (r.topic, str(r.partition), _or_dash(r.stored), _or_dash(r.committed), str(r.low), str(r.high),
         _or_dash(r.lag), str(r.status))
        for r in rows
    ]  # fmt: skip
    widths = [max(len(row[i]) for row in cells) for i in range(len(COLUMNS))]
    return "\n".join(
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells
    )


def _or_dash(value: int | None) -> str:
    return "-" if value is None else str(value)


def _hint(rows: list[PartitionOffsets], group: str) -> None:
    bad = [r for r in rows if r.status in OUT_OF_RANGE]
    if bad:
        print(
            f"\n{len(bad)} partition(s) stopped: the stored offset lies outside the log. Decide what to "
            f"re-read or skip, then: floodwall offsets reset --group {group} --topic {bad[0].topic} "
            f"--partition {bad[0].partition} --to-earliest (see --help)"
        )
    elif rows and all(r.status is Status.NO_STORED for r in rows):
        print(f"\nno stored offsets for group {group!r}: is that the sink's group?", file=sys.stderr)


# ---- reset ----------------------------------------------------------------------------------------


def _reset(args: argparse.Namespace) -> int:
    s = settings_from_args(OffsetsSettings, args)
    if not args.yes and not sys.stdin.isatty():
        raise ConfigError(
            "reset asks for confirmation, and stdin is not a terminal: pass --yes (nothing changed)"
        )
    target = _target(args)
    with _connect(s) as io:
        rows = _selected(io.read([args.topic]), args.topic, args.partitions)
        changes = plan_reset(rows, target)
        members = io.member_count()
        _print_plan(s.group_id, target, changes, members)
        if not args.yes and not _confirm(f"Reset {len(changes)} partition(s)? [y/N] "):
            print("nothing changed")
            return 1
        replaced = io.store(changes)
        _print_stored(changes, replaced)
        if members:
            return 0
        try:
            io.commit(changes)
        except FloodwallError as exc:
            raise FloodwallError(
                f"the stored offsets are reset in PostgreSQL, but Kafka's committed offsets are not ({exc}); "
                f"the consumers commit them after their next batch"
            ) from None
        print(f"committed to Kafka for group {s.group_id}")
    return 0


def _target(args: argparse.Namespace) -> Target:
    if args.to_earliest:
        return Target("earliest")
    if args.to_latest:
        return Target("latest")
    return Target("offset", args.to_offset)


def _selected(
    rows: list[PartitionOffsets], topic: str, partitions: list[int] | None
) -> list[PartitionOffsets]:
    """The rows of the partitions asked for (all when none). Raises ResetRefused for a partition that
    does not exist."""
    if not partitions:
        return rows
    known = {r.partition for r in rows}
    missing = sorted(set(partitions) - known)
    if missing:
        last = max(known, default=-1)
        raise ResetRefused(f"topic {topic} has no partition {missing[0]} (it has 0..{last}); nothing changed")
    return [r for r in rows if r.partition in set(partitions)]


def _print_plan(group: str, target: Target, changes: list[Change], members: int) -> None:
    print(f"Reset of group {group}'s stored offsets to {target.describe()}:")
    for change in changes:
        print("  " + change.describe())
    print(summary(changes))
    if members:
        print(
            f"Kafka: the group has {members} member(s); Kafka takes commits only from them, so they commit "
            f"the new offsets after their next batch on each partition."
        )
    else:
        print("Kafka: the group has no members; its committed offsets are set to the same.")
    print(
        "Safe while consumers run: their next batch on these partitions is fenced and re-reads the stored "
        "offset; re-read events already applied are dropped by event id."
    )


def _confirm(question: str) -> bool:
    try:
        answer = input(question)
    except EOFError:
        return False
    return answer.strip().lower() in {"y", "yes"}


def _print_stored(changes: list[Change], replaced: dict[tuple[str, int], int | None]) -> None:
    for c in changes:
        was = replaced.get((c.topic, c.partition))
        moved = "" if was == c.old else f" (it had moved to {'none' if was is None else was} since the plan)"
        print(f"stored {c.topic}[{c.partition}] = {c.new}{moved}")
