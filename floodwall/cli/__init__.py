"""The ``floodwall`` command: one entry point dispatching to each role's commands.

Only the invoked command's module is imported. ``floodwall --help`` lists every command from
:data:`COMMANDS` without loading any role, so it works with the base install (the producer SDK), and a
command whose libraries come with an extra that is not installed ends with one line naming that extra.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

from floodwall import __version__
from floodwall.errors import ConfigError, FloodwallError


@dataclass(frozen=True)
class Command:
    """A top-level command: ``module``'s ``register`` adds it (with this same ``help``, which the listing
    shows without importing it). ``extra`` is the extra of pyproject.toml that installs the libraries it
    needs beyond the base install; None when the base install has them all."""

    name: str
    module: str
    help: str
    extra: str | None = None


COMMANDS = (
    Command("stack", "floodwall.stack.commands",
            "run the local embedded stack (broker, etcd, Patroni x3, HAProxy, Prometheus)", "stack"),
    Command("db", "floodwall.db.commands", "manage the sink database schema", "consumers"),
    Command("topics", "floodwall.cli.topics", "manage the sink's Kafka topics"),
    Command("schemas", "floodwall.schemas.commands", "check the Avro event schemas"),
    Command("produce", "floodwall.producers.commands", "emit events from JSON lines (stdin or a file)"),
    Command("consume", "floodwall.consumers.commands",
            "run one consumer of the sink fleet (orders + inventory topics -> PostgreSQL)", "consumers"),
    Command("offsets", "floodwall.consumers.offsets_cmd",
            "show the sink's stored offsets against the Kafka logs; reset them deliberately", "consumers"),
    Command("dlq", "floodwall.consumers.dlq_cmd",
            "list, show and replay dead letters (events the sink could not apply)"),
    Command("autoscale", "floodwall.autoscaler.commands",
            "replica control for the consumer fleet (simulate policies against traffic traces)",
            "autoscaler"),
    Command("bench", "floodwall.cli.bench", "run a benchmark and print its figures as JSON", "consumers"),
    Command("demo", "floodwall.loadgen.demo",
            "the main job: replay a flash sale through the local stack with autoscaling, verify, report",
            "all"),
    Command("loadgen", "floodwall.loadgen.commands",
            "replay flash-sale traffic through the SDK and verify the outcome in PostgreSQL", "loadgen"),
)  # fmt: skip
_BY_NAME = {command.name: command for command in COMMANDS}
# The libraries (import names) that only an extra installs: one of them missing is a missing extra; any
# other missing module is a bug and keeps its traceback.
OPTIONAL_LIBRARIES = frozenset({"psycopg", "kubernetes", "urllib3", "rich", "matplotlib"})


class MissingExtra(ConfigError):
    """The command needs libraries of an extra that is not installed."""

    def __init__(self, extra: str) -> None:
        super().__init__(f"this command needs the '{extra}' extra: pip install 'floodwall[{extra}]'")


def build_parser(commands: Sequence[Command] = COMMANDS) -> argparse.ArgumentParser:
    """The command line with each of ``commands`` registered by its own module, with its flags and
    subcommands. All of them by default: that imports every role, so it needs every extra
    (ModuleNotFoundError otherwise)."""
    parser = _top_parser()
    group = parser.add_subparsers(title="commands", metavar="COMMAND")
    for command in commands:
        importlib.import_module(command.module).register(group)
    return parser


def _listing() -> argparse.ArgumentParser:
    """Every command by name and help and nothing imported: ``--help``, ``--version``, picking one."""
    parser = _top_parser()
    group = parser.add_subparsers(title="commands", metavar="COMMAND", dest="command")
    for command in COMMANDS:
        # Its flags are its own parser's: here they are left over, unparsed (parse_known_args).
        group.add_parser(command.name, help=command.help, add_help=False)
    return parser


def _top_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="floodwall",
        description="Kafka-buffered ingestion of e-commerce events into a Patroni-managed PostgreSQL.",
    )
    parser.add_argument("--version", action="version", version=f"floodwall {__version__}")
    return parser


@contextmanager
def _extra_of(command: Command) -> Iterator[None]:
    """A library that only an extra installs, missing while ``command`` loads or runs: MissingExtra."""
    try:
        yield
    except ModuleNotFoundError as exc:
        library = (exc.name or "").partition(".")[0]
        if command.extra is None or library not in OPTIONAL_LIBRARIES:
            raise
        raise MissingExtra(command.extra) from None


def main(argv: list[str] | None = None) -> int:
    """Run one command; a user's mistake ends with one ``floodwall: error: …`` line, never a traceback.

    Exit status: 0 success, 1 failure at run time, 2 bad usage or configuration (a missing extra
    included), 130 interrupted, 141 the output's reader went away (``| head``).
    """
    listing = _listing()
    command = _BY_NAME.get(listing.parse_known_args(argv)[0].command or "")
    try:
        if command is None:
            listing.print_help()
            return 2
        with _extra_of(command):
            args = build_parser([command]).parse_args(argv)
            handler = getattr(args, "handler", None)
            if handler is None:
                listing.print_help()
                return 2
            status = int(handler(args))
            sys.stdout.flush()  # here, not at exit: a closed pipe is then caught below
            return status
    except ConfigError as exc:
        print(f"floodwall: error: {exc}", file=sys.stderr)
        return 2
    except FloodwallError as exc:
        print(f"floodwall: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("floodwall: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (`| head`): what is left of the output has nowhere to go. Point stdout at
        # /dev/null so the interpreter's own flush at exit does not fail a second time.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141  # a shell's status for a command ended by SIGPIPE
