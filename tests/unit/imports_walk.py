"""Every import of Floodwall's own modules, read with ``ast`` (nothing is imported or run).

Shared by the layer test (tests/unit/test_layers.py) and the extras test (tests/unit/test_extras.py).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ROLE_FOLDERS = ("producers", "consumers", "autoscaler", "schemas", "loadgen")


@dataclass(frozen=True)
class Import:
    """One imported name: ``target`` is the module it resolves to (``floodwall.x.y`` or a third party's)."""

    path: Path
    line: int
    source: str
    target: str

    @property
    def where(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}"


def module_files() -> dict[str, Path]:
    """``floodwall.…`` module name → file, the role folders under their ``floodwall.<role>`` names."""
    found: dict[str, Path] = {}
    for folder in ("floodwall", *ROLE_FOLDERS):
        for path in sorted((ROOT / folder).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if folder == "floodwall" and parts[1] in ROLE_FOLDERS:
                continue  # floodwall/<role> is a link to the top-level folder, read once from there
            if folder != "floodwall":
                parts.insert(0, "floodwall")
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


@cache
def all_imports() -> tuple[Import, ...]:
    """Every import statement of every module, including those inside functions, relative ones resolved."""
    modules = module_files()
    return tuple(imp for name, path in modules.items() for imp in _imports_of(name, path, set(modules)))


def _imports_of(name: str, path: Path, known: set[str]) -> Iterator[Import]:
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield Import(path, node.lineno, name, alias.name)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            for alias in node.names:
                # `from floodwall.producers import bench` imports the module floodwall.producers.bench.
                candidate = f"{module}.{alias.name}"
                yield Import(path, node.lineno, name, candidate if candidate in known else module)
