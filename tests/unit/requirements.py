"""What pyproject.toml installs for each role, and which libraries each module really imports.

Shared by tests/unit/test_extras.py and the wheel's test (tests/unit/test_packaging.py). A library's
import name is its distribution's name canonicalised (``confluent-kafka`` → ``confluent_kafka``): true of
every library Floodwall runs on; one that differs would show up as a mismatch in those tests.
"""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from collections.abc import Iterable
from functools import cache
from pathlib import Path

from packaging.requirements import Requirement

from tests.unit.imports_walk import ROOT, Import, all_imports, module_files

PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
# The public API of the producer SDK (as in tests/unit/test_layers.py) and the entry point.
SDK_MODULES = (
    "floodwall.producers.producer",
    "floodwall.producers.config",
    "floodwall.producers.delivery",
    "floodwall.producers.metrics",
    "floodwall.cli",
)


def import_name(requirement: str | Requirement) -> str:
    """The top-level module a requirement (``psycopg[binary]>=3.2``) installs."""
    name = requirement.name if isinstance(requirement, Requirement) else Requirement(requirement).name
    return re.sub(r"[-_.]+", "_", name).lower()


def base_libraries() -> frozenset[str]:
    """What the base install (``dependencies``) brings, by import name."""
    return frozenset(import_name(r) for r in PROJECT["dependencies"])


def extra_libraries(extra: str) -> frozenset[str]:
    """What ``pip install 'floodwall[extra]'`` adds to the base, following ``floodwall[…]`` references."""
    found: set[str] = set()
    for text in PROJECT["optional-dependencies"][extra]:
        requirement = Requirement(text)
        if requirement.name == PROJECT["name"]:
            for inner in requirement.extras:
                found |= extra_libraries(inner)
        else:
            found.add(import_name(requirement))
    return frozenset(found)


def optional_libraries() -> frozenset[str]:
    """The libraries of the roles' extras that the base install lacks."""
    return extra_libraries("all") - base_libraries()


def libraries_imported_by(roots: Iterable[str]) -> dict[str, set[str]]:
    """Third-party library → the modules importing it, over every module ``roots`` reach: imports inside
    functions count (they run when the command does), imports under ``except ImportError`` do not (the
    code does without them)."""
    by_source: dict[str, list[Import]] = {}
    for imp in all_imports():
        if (imp.path, imp.line) not in _guarded(imp.path):
            by_source.setdefault(imp.source, []).append(imp)
    known = set(module_files())
    seen: set[str] = set()
    libraries: dict[str, set[str]] = {}
    todo = list(roots)
    while todo:
        module = todo.pop()
        if module in seen:
            continue
        seen.add(module)
        parts = module.split(".")
        todo += [p for p in (".".join(parts[:i]) for i in range(1, len(parts))) if p in known]  # packages
        for imp in by_source.get(module, []):
            top = imp.target.partition(".")[0]
            if top == "floodwall":
                todo += [imp.target] if imp.target in known else []
            elif top not in sys.stdlib_module_names:
                libraries.setdefault(top, set()).add(module)
    return libraries


@cache
def _guarded(path: Path) -> frozenset[tuple[Path, int]]:
    """The imports of ``path`` inside a ``try`` that catches ImportError or ModuleNotFoundError."""
    found: set[tuple[Path, int]] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Try) and any(_catches_import_error(h.type) for h in node.handlers):
            for statement in node.body:
                for inner in ast.walk(statement):
                    if isinstance(inner, ast.Import | ast.ImportFrom):
                        found.add((path, inner.lineno))
    return frozenset(found)


def _catches_import_error(caught: ast.expr | None) -> bool:
    names = caught.elts if isinstance(caught, ast.Tuple) else [caught]
    return any(isinstance(n, ast.Name) and n.id in ("ImportError", "ModuleNotFoundError") for n in names)
