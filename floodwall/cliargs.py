"""Command-line flags generated from a settings model, so flags, env names and help never drift apart; and
the one shape of a command that groups subcommands."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Collection
from pathlib import Path
from typing import Any, TypeVar

from floodwall.redact import mask_value
from floodwall.settings import ENV_PREFIX, ServiceSettings, is_json_field, load_settings

S = TypeVar("S", bound=ServiceSettings)
# What runs a command: its parsed arguments in, its exit status out.
Handler = Callable[[argparse.Namespace], int]


def add_command_group(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
    name: str,
    help: str,
    description: str | None = None,
) -> argparse._SubParsersAction[argparse.ArgumentParser]:
    """Add ``floodwall <name> COMMAND`` and return what its subcommands are added to.

    The command does nothing itself: one subcommand is required, and every such command lists its
    subcommands alike (titled "commands", shown as COMMAND).
    """
    group = commands.add_parser(name, help=help, description=description)
    return group.add_subparsers(title="commands", metavar="COMMAND", required=True)


def doc_body(doc: str | None) -> str | None:
    """A module docstring less its summary line: the description of the command the module implements."""
    return doc.split("\n\n", 1)[1] if doc else None


def add_settings_command(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
    name: str,
    cls: type[ServiceSettings],
    handler: Handler,
    *,
    help: str,
    description: str | None = None,
    only: Collection[str] | None = None,
    **parser_options: Any,
) -> argparse.ArgumentParser:
    """Add the command ``name``, run by ``handler``, with ``--config`` and a flag per field of ``cls`` (or of
    the ``only`` subset); its own arguments go on the parser this returns. ``parser_options`` (epilog,
    formatter_class, …) go to argparse."""
    parser = commands.add_parser(name, help=help, description=description, **parser_options)
    add_settings_flags(parser, cls, only)
    parser.set_defaults(handler=handler)
    return parser


def add_settings_flags(
    parser: argparse.ArgumentParser,
    cls: type[ServiceSettings],
    only: Collection[str] | None = None,
    config_flag: bool = True,
) -> None:
    """Add ``--config`` and one ``--kebab-name`` flag per field of ``cls`` (or of the ``only`` subset).

    A command built from two settings classes adds ``--config`` with the first only (``config_flag``);
    the one file then holds a table for each.
    """
    if config_flag:
        parser.add_argument(
            "--config",
            type=Path,
            metavar="FILE",
            default=None,
            help=f"TOML file with a [{cls.section}] table (env {ENV_PREFIX}CONFIG)",
        )
    group = parser.add_argument_group(
        f"{cls.section} settings", f"each also from env {ENV_PREFIX}<NAME> or the config file; flags win"
    )
    for name, info in cls.model_fields.items():
        if only is not None and name not in only:
            continue
        default = mask_value(name, info.get_default(call_default_factory=True))
        help_text = f"{info.description} [env {ENV_PREFIX}{name.upper()}; default {default}]"
        flag = "--" + name.replace("_", "-")
        if is_json_field(cls, name):  # decoded by load_settings, so a mistake is one line naming no value
            group.add_argument(flag, dest=name, metavar="JSON", default=argparse.SUPPRESS, help=help_text)
        elif info.annotation is bool:
            group.add_argument(
                flag,
                dest=name,
                action=argparse.BooleanOptionalAction,
                default=argparse.SUPPRESS,
                help=help_text,
            )
        else:
            group.add_argument(flag, dest=name, metavar="VALUE", default=argparse.SUPPRESS, help=help_text)


def settings_from_args(cls: type[S], args: argparse.Namespace) -> S:
    """Build the settings: flags given on the command line > env > config file > defaults."""
    overrides: dict[str, Any] = {
        name: getattr(args, name) for name in cls.model_fields if hasattr(args, name)
    }
    return load_settings(cls, overrides, getattr(args, "config", None))
