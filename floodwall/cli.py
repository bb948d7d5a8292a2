"""The ``floodwall`` command: one entry point dispatching to each role's commands."""

from __future__ import annotations

import argparse
import sys

from floodwall import __version__
from floodwall import bench as bench_commands
from floodwall import topics_cli as topics_commands
from floodwall.autoscaler import commands as autoscale_commands
from floodwall.consumers import commands as consume_commands
from floodwall.consumers import dlq_cmd as dlq_commands
from floodwall.consumers import offsets_cmd as offsets_commands
from floodwall.db import commands as db_commands
from floodwall.errors import ConfigError, FloodwallError
from floodwall.loadgen import commands as loadgen_commands
from floodwall.loadgen import demo as demo_command
from floodwall.producers import commands as produce_commands
from floodwall.schemas import commands as schemas_commands
from floodwall.stack import commands as stack_commands


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="floodwall",
        description="Kafka-buffered ingestion of e-commerce events into a Patroni-managed PostgreSQL.",
    )
    parser.add_argument("--version", action="version", version=f"floodwall {__version__}")
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")
    stack_commands.register(commands)
    db_commands.register(commands)
    topics_commands.register(commands)
    schemas_commands.register(commands)
    produce_commands.register(commands)
    consume_commands.register(commands)
    offsets_commands.register(commands)
    dlq_commands.register(commands)
    autoscale_commands.register(commands)
    bench_commands.register(commands)
    demo_command.register(commands)
    loadgen_commands.register(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one command; a user's mistake ends with one ``floodwall: error: …`` line, never a traceback.

    Exit status: 0 success, 1 failure at run time, 2 bad usage or configuration, 130 interrupted.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_help()
        return 2
    try:
        return int(handler(args))
    except ConfigError as exc:
        print(f"floodwall: error: {exc}", file=sys.stderr)
        return 2
    except FloodwallError as exc:
        print(f"floodwall: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("floodwall: interrupted", file=sys.stderr)
        return 130
