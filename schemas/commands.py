"""``floodwall schemas check`` — can the current event schemas read everything written with released ones?"""

from __future__ import annotations

import argparse
from pathlib import Path

from floodwall.cliargs import add_command_group
from floodwall.schemas.compat import check_released
from floodwall.schemas.registry import package_dirs


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``floodwall schemas check``; it exits 0 if every released version is readable, else 1."""
    sub = add_command_group(commands, "schemas", help="check the Avro event schemas")
    check = sub.add_parser(
        "check",
        help="check each current schema can read data of every released version (exit 1 if not)",
        description="Compare every current schema, as reader, with every released version of the same name, "
        "as writer, by the Avro specification's schema-resolution rules. Prints one line per released "
        "version: ok, or the problems. Exit status 0 when all are compatible, 1 otherwise.",
    )
    current_dir, released_dir = package_dirs()
    check.add_argument(
        "--schemas-dir",
        type=Path,
        metavar="DIR",
        default=None,
        help=f"directory of the current <name>.avsc schemas [default {current_dir}]",
    )
    check.add_argument(
        "--released-dir",
        type=Path,
        metavar="DIR",
        default=None,
        help=f"directory of the released <name>.v<N>.avsc schemas [default {released_dir}]",
    )
    check.set_defaults(handler=_check)


def _check(args: argparse.Namespace) -> int:
    current_dir, released_dir = package_dirs()
    results = check_released(args.schemas_dir or current_dir, args.released_dir or released_dir)
    if not results:
        print(f"no released schemas in {args.released_dir or released_dir}: nothing to check")
    for result in results:
        verdict = "ok" if result.ok else "; ".join(result.problems)
        print(f"{result.name} v{result.version}: {verdict}")
    return 0 if all(result.ok for result in results) else 1
