"""Run Floodwall as if some libraries were not installed: the base install, here, without a second venv.

    python -m tests.unit.without_extras psycopg,rich -c 'import floodwall.producers.producer'
    python -m tests.unit.without_extras psycopg,rich floodwall autoscale

A finder placed first on ``sys.meta_path`` refuses each named top-level package (and its submodules) with
the same ``ModuleNotFoundError`` Python raises for a package that is absent, before any other import.
"""

from __future__ import annotations

import importlib.abc
import runpy
import sys
from collections.abc import Sequence
from importlib.machinery import ModuleSpec
from types import ModuleType


class Refuse(importlib.abc.MetaPathFinder):
    """Finds nothing for the ``blocked`` top-level names: each import of one fails as if absent."""

    def __init__(self, blocked: frozenset[str]) -> None:
        self.blocked = blocked

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> ModuleSpec | None:
        if fullname.partition(".")[0] in self.blocked:
            raise ModuleNotFoundError(f"No module named {fullname!r}", name=fullname)
        return None


def main(argv: list[str]) -> None:
    blocked, *rest = argv
    sys.meta_path.insert(0, Refuse(frozenset(blocked.split(","))))
    if rest[0] == "-c":
        exec(compile(rest[1], "<without_extras>", "exec"), {"__name__": "__main__"})
        return
    if rest[0] != "floodwall":
        raise SystemExit(f"usage: {__doc__}")
    sys.argv = rest  # what the entry point reads: the real `python -m floodwall ARGS`
    runpy.run_module("floodwall", run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main(sys.argv[1:])
