"""``floodwall produce``: emit events from JSON lines (stdin or a file) through the SDK."""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import TextIO

from floodwall.cliargs import add_settings_flags, settings_from_args
from floodwall.errors import FloodwallError
from producers.config import ProducerSettings
from producers.delivery import Delivery, DeliveryStatus
from producers.jsonio import TYPES, event_from_json
from producers.producer import EventProducer
from producers.validation import EventValidationError

MAX_REASONS_SHOWN = 20


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    produce = commands.add_parser(
        "produce",
        help="emit events from JSON lines (stdin or a file)",
        description="Emit order and inventory events, one JSON object per line, through the producer SDK. "
        f"Each object has a 'type' ({', '.join(TYPES)}) and the event's fields; see producers/jsonio.py. "
        "Invalid lines are rejected with the reason and nothing of them is sent. Exit status 0 when every "
        "line was accepted (acknowledged by the broker or durably spooled), 1 otherwise.",
    )
    produce.add_argument("file", nargs="?", default="-", help="JSON-lines file (default: stdin)")
    add_settings_flags(produce, ProducerSettings)
    produce.set_defaults(handler=_produce)


def _produce(args: argparse.Namespace) -> int:
    settings = settings_from_args(ProducerSettings, args)
    source = _open(args.file)
    rejected: list[str] = []
    handles: list[Delivery] = []
    with EventProducer(settings) as producer:
        for number, line in _numbered(source):
            try:
                event = event_from_json(json.loads(line))
            except json.JSONDecodeError as exc:
                rejected.append(f"line {number}: not JSON ({exc.msg} at column {exc.colno})")
                continue
            except EventValidationError as exc:
                rejected.append(f"line {number}: " + "; ".join(str(p) for p in exc.problems))
                continue
            handles.append(producer.emit(event))
        pending = producer.flush(timeout=settings.delivery_timeout_s + 10)
    _summarise(handles, rejected, pending, settings)
    failed = sum(1 for h in handles if h.status is DeliveryStatus.FAILED)
    return 0 if not rejected and not failed and not pending else 1


def _open(name: str) -> TextIO:
    if name == "-":
        return sys.stdin
    try:
        return Path(name).open(encoding="utf-8")
    except OSError as exc:
        raise FloodwallError(f"cannot read {name}: {exc.strerror}") from None


def _numbered(source: TextIO) -> Iterable[tuple[int, str]]:
    last_report = time.monotonic()
    for number, line in enumerate(source, start=1):
        if line.strip():
            yield number, line
        if time.monotonic() - last_report > 5:
            print(f"... {number} lines read", file=sys.stderr, flush=True)
            last_report = time.monotonic()


def _summarise(
    handles: list[Delivery], rejected: list[str], pending: int, settings: ProducerSettings
) -> None:
    statuses = Counter(h.status for h in handles)
    acked, spooled = statuses[DeliveryStatus.ACKNOWLEDGED], statuses[DeliveryStatus.SPOOLED]
    total = len(handles) + len(rejected)
    print(
        f"accepted {acked + spooled} of {total} events: {acked} acknowledged by the broker, {spooled} spooled"
    )
    if spooled:
        print(
            f"  spooled events wait in {settings.spool_dir}; the next producer on that spool delivers "
            f"them once the broker is reachable"
        )
    failed = [h for h in handles if h.status is DeliveryStatus.FAILED]
    for handle in failed[:MAX_REASONS_SHOWN]:
        print(f"  failed: event {handle.event_id}: {handle.error}")
    if pending:
        print(f"  {pending} events still unconfirmed when the wait ended")
    if rejected:
        print(f"rejected {len(rejected)} lines:")
        for reason in rejected[:MAX_REASONS_SHOWN]:
            print(f"  {reason}")
        if len(rejected) > MAX_REASONS_SHOWN:
            print(f"  ... and {len(rejected) - MAX_REASONS_SHOWN} more")
