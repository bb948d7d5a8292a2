"""``floodwall produce``: emit events from JSON lines (stdin or a file) through the SDK.

However the run ends — every line read, malformed lines, the producer failing, Ctrl-C — it ends with
the summary (producers/produce_report.py) and an exit status that says whether every line got in.
"""

from __future__ import annotations

import argparse
import sys
import textwrap
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import BinaryIO

from floodwall.cliargs import add_settings_flags, settings_from_args
from floodwall.errors import ConfigError, FloodwallError
from floodwall.events.validation import EventValidationError
from floodwall.producers.config import ProducerSettings
from floodwall.producers.event_ids import EventIds, IdScheme, namespace_for
from floodwall.producers.jsonio import TYPES, event_from_json
from floodwall.producers.jsonlines import DEFAULT_MAX_LINE_BYTES, BadLine, ParsedLine, read_json_lines
from floodwall.producers.produce_report import ProduceReport
from floodwall.producers.producer import (
    EventProducer,
    EventRefused,
    ProducerClosed,
    ProducerFailed,
    ProducerQueueFull,
)
from floodwall.producers.spool import SpoolFull
from floodwall.schemas.errors import SchemaError

MAX_LINE_BYTES_LIMIT = 64 << 20
_CLOSE_AFTER_INTERRUPT_S = 1.0

EPILOG = f"""\
event ids:
  A line's own "event_id" is always used. For lines without one, --event-ids random (the default) makes a
  new id on every run, so running a file twice sends its events twice. --event-ids content derives the id
  from the line (uuid5 of its canonical JSON and its copy number among identical lines, in a namespace
  taken from the file's resolved path or from --id-namespace): a re-run after a partial failure gives
  every line the same id, and the sink applies each event once. Fixing, adding or deleting other lines
  changes no id. Standard input needs --id-namespace; so does a path reused for a new batch.

limits:
  Lines longer than --max-line-bytes (default {DEFAULT_MAX_LINE_BYTES}), invalid UTF-8, non-standard
  JSON (NaN), integers over 32 digits and nesting too deep for the parser are rejected with the line
  number; nothing of a rejected line is sent.

exit status:
  0    every line was accepted: acknowledged by the broker, or durably spooled while it is unreachable
  1    some line was rejected or failed, some event is unconfirmed, or the run stopped early (the
       summary says which and why)
  2    bad usage or settings (nothing was read)
  130  interrupted (Ctrl-C): the events emitted so far are flushed (Ctrl-C again stops the wait), then
       the summary is printed
"""


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    produce = commands.add_parser(
        "produce",
        help="emit events from JSON lines (stdin or a file)",
        description=textwrap.fill(
            "Emit order and inventory events, one JSON object per line, through the producer SDK. Each "
            f"object has a 'type' ({', '.join(TYPES)}) and the event's fields; see producers/jsonio.py. "
            "Invalid lines are rejected with their line number and the reason; the run goes on and ends "
            "with a summary of accepted, failed and rejected events.",
            width=100,
        ),
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    produce.add_argument("file", nargs="?", default="-", help="JSON-lines file (default: stdin)")
    produce.add_argument(
        "--event-ids",
        choices=[scheme.value for scheme in IdScheme],
        default=IdScheme.RANDOM.value,
        help="id of lines without an event_id: random, or content-derived for idempotent re-runs "
        "(see below) [default random]",
    )
    produce.add_argument(
        "--id-namespace",
        metavar="NAME",
        default=None,
        help="with --event-ids content: a UUID or a name for this batch [default: from the file's path]",
    )
    produce.add_argument(
        "--max-line-bytes",
        type=_line_limit,
        metavar="BYTES",
        default=DEFAULT_MAX_LINE_BYTES,
        help=f"longest line read; longer ones are rejected unread [default {DEFAULT_MAX_LINE_BYTES}]",
    )
    add_settings_flags(produce, ProducerSettings)
    produce.set_defaults(handler=_produce)


def _line_limit(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of bytes: {text!r}") from None
    if not 1 <= value <= MAX_LINE_BYTES_LIMIT:
        raise argparse.ArgumentTypeError(f"must be between 1 and {MAX_LINE_BYTES_LIMIT}, got {value}")
    return value


def _produce(args: argparse.Namespace) -> int:
    settings = settings_from_args(ProducerSettings, args)
    ids, report = _event_ids(args), ProduceReport()
    if ids.namespace is not None:
        report.ids_note = (
            f"event ids: derived from the lines' content in namespace {ids.namespace} ({ids.source})"
        )
    source = _open(args.file)
    try:
        run = _Run(settings, ids, report)
        try:
            run.feed(source, args.max_line_bytes)
            run.settle(settings.delivery_timeout_s + 10)
        finally:
            run.close()
    finally:
        if source is not sys.stdin.buffer:
            source.close()
    print("\n".join(report.summary(settings.spool_dir)), flush=True)
    return report.exit_status()


def _event_ids(args: argparse.Namespace) -> EventIds:
    """Raises ConfigError (before any I/O) when the options do not fit together."""
    scheme = IdScheme(args.event_ids)
    if scheme is IdScheme.RANDOM:
        if args.id_namespace is not None:
            raise ConfigError("--id-namespace only applies with --event-ids content")
        return EventIds(scheme)
    namespace, source = namespace_for(args.id_namespace, args.file)
    return EventIds(scheme, namespace, source)


def _open(name: str) -> BinaryIO:
    """The input as bytes: decoding is per line (producers/jsonlines.py), so one bad byte rejects one line."""
    if name == "-":
        return sys.stdin.buffer
    try:
        return Path(name).open("rb")
    except OSError as exc:
        raise FloodwallError(f"cannot read {name}: {exc.strerror}") from None


class _Run:
    """Feeds the lines to the producer and records every outcome in the report; never raises for a line.

    The producer starts with the first valid event: a file of bad lines is judged without a broker.
    """

    def __init__(self, settings: ProducerSettings, ids: EventIds, report: ProduceReport) -> None:
        self.settings, self.ids, self.report = settings, ids, report
        self.producer: EventProducer | None = None

    def feed(self, source: BinaryIO, max_line_bytes: int) -> None:
        """Emit every good line; stop early only on Ctrl-C, a producer beyond use or a read error."""
        try:
            for line in _with_progress(read_json_lines(source, max_line_bytes)):
                self.report.last_line = line.number
                if isinstance(line, BadLine):
                    self.report.reject(line.number, line.reason)
                elif not self._emit(line):
                    return
            self.report.read_all = True
        except KeyboardInterrupt:
            self.report.interrupted = True
        except OSError as exc:
            self.report.stop(f"cannot read further: {exc.strerror or exc}")

    def _emit(self, line: ParsedLine) -> bool:
        """Emit one line's event; False when the producer cannot take any more events."""
        number, value = line.number, line.value
        if not isinstance(value, dict):
            self.report.reject(number, f"not a JSON object (a JSON {_json_kind(value)})")
            return True
        try:
            event = event_from_json(value, self.ids.for_line(value))
        except EventValidationError as exc:
            self.report.reject(number, exc.reasons)
            return True
        try:
            if self.producer is None:
                self.producer = EventProducer(self.settings)
        except FloodwallError as exc:  # SpoolLocked: another process uses the spool directory
            self.report.refuse(number, str(exc))
            self.report.stop(f"the producer could not start ({exc})")
            return False
        try:
            self.report.emitted.append((number, self.producer.emit(event)))
        except (EventRefused, ProducerQueueFull) as exc:
            self.report.refuse(number, str(exc))
        except (ProducerFailed, ProducerClosed, SpoolFull) as exc:
            self.report.refuse(number, str(exc))
            self.report.stop(f"the producer takes no more events ({exc})")
            return False
        except (SchemaError, TypeError, OverflowError, ValueError) as exc:  # encoding what validation let by
            self.report.refuse(number, f"cannot be encoded: {type(exc).__name__}: {exc}")
        return True

    def settle(self, timeout: float) -> None:
        """Wait for the broker's acknowledgements (or the spool); a Ctrl-C stops the wait, not the summary."""
        if self.producer is None:
            return
        if self.report.interrupted and self.report.emitted:
            print(
                "floodwall: interrupted; flushing the events emitted so far (Ctrl-C again to stop waiting)",
                file=sys.stderr,
                flush=True,
            )
        try:
            self.producer.flush(timeout)
        except KeyboardInterrupt:
            self.report.interrupted = True
        except ProducerFailed as exc:
            self.report.stop(f"the producer failed ({exc})")

    def close(self) -> None:
        if self.producer is None:
            return
        timeout = _CLOSE_AFTER_INTERRUPT_S if self.report.interrupted else 30.0
        try:
            self.producer.close(timeout)
        except KeyboardInterrupt:
            self.report.interrupted = True


def _with_progress(lines: Iterable[ParsedLine | BadLine]) -> Iterator[ParsedLine | BadLine]:
    """The lines, with a note on stderr every 5 s: a long file shows it is moving."""
    last_report = time.monotonic()
    for line in lines:
        yield line
        if time.monotonic() - last_report > 5:
            print(f"... {line.number} lines read", file=sys.stderr, flush=True)
            last_report = time.monotonic()


def _json_kind(value: object) -> str:
    names = {list: "array", str: "string", bool: "boolean", int: "number", float: "number"}
    return "null" if value is None else names.get(type(value), type(value).__name__)
