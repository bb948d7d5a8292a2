"""The docs stay in the repository: every citation names a file (and section) that exists, and the port map
in docs/stack.md is the one the code binds."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic import BaseModel

from floodwall.autoscaler.config import AutoscalerSettings
from floodwall.consumers.config import ConsumerSettings
from floodwall.stack.config import StackSettings

ROOT = Path(__file__).resolve().parents[2]
SKIP_DIRS = {".git", ".venv", ".mypy_cache", ".ruff_cache", ".pytest_cache", "__pycache__", "node_modules"}
TEXT_SUFFIXES = {".py", ".md", ".yaml", ".yml", ".sql", ".toml", ".sh", ".json", ".txt", ".cfg", ".tpl", ""}
# `docs/x.md`, optionally followed by `, "Section"` or `, section "Section"`.
CITATION = re.compile(r'docs/([a-z_-]+\.md)(?:, (?:section )?"([^"]+)")?')
PORT_SETTINGS = (
    "etcd_client_port", "etcd_peer_port", "pg_base_port", "patroni_rest_base_port",
    "haproxy_write_port", "haproxy_read_port", "haproxy_stats_port", "prometheus_port",
)  # fmt: skip
MARKDOWN_LINK = re.compile(r"\]\(([^)#\s]+\.md)(?:#[^)]*)?\)")


def _repo_files() -> list[Path]:
    files = []
    for path in ROOT.rglob("*"):
        parts = path.relative_to(ROOT).parts
        if set(parts) & SKIP_DIRS or path.is_dir():
            continue
        # floodwall/<role> are symlinks to the top-level folders: read each file once.
        if len(parts) > 2 and (ROOT / parts[0] / parts[1]).is_symlink():
            continue
        if path == Path(__file__).resolve():  # names what it looks for
            continue
        if path.suffix in TEXT_SUFFIXES or path.name in {"Makefile", "Dockerfile"}:
            files.append(path)
    return files


FILES = _repo_files()


def _headings(doc: Path) -> set[str]:
    return {line.lstrip("#").strip() for line in doc.read_text().splitlines() if line.startswith("#")}


def test_no_file_cites_the_design_notes_outside_the_repository() -> None:
    citing = [str(f.relative_to(ROOT)) for f in FILES if "DESIGN.md" in f.read_text(errors="replace")]
    assert citing == []


def test_every_docs_citation_names_an_existing_file_and_section() -> None:
    broken = []
    for path in FILES:
        for match in CITATION.finditer(path.read_text(errors="replace")):
            name, section = match.groups()
            doc = ROOT / "docs" / name
            if not doc.is_file():
                broken.append(f"{path.relative_to(ROOT)}: docs/{name} does not exist")
            elif section and not any(section in heading for heading in _headings(doc)):
                broken.append(f'{path.relative_to(ROOT)}: docs/{name} has no section "{section}"')
    assert broken == []


MARKDOWN = sorted(p for p in FILES if p.suffix == ".md")


@pytest.mark.parametrize("doc", MARKDOWN, ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_markdown_links_resolve(doc: Path) -> None:
    targets = [t for t in MARKDOWN_LINK.findall(doc.read_text()) if "://" not in t]
    assert [t for t in targets if not (doc.parent / t).is_file()] == []


def _default(settings: type[BaseModel], name: str) -> int:
    value = settings.model_fields[name].default
    assert isinstance(value, int)
    return value


def _ports_section() -> str:
    text = (ROOT / "docs" / "stack.md").read_text()
    return text.split("\n## Ports\n", 1)[1].split("\n## ", 1)[0]


def test_the_port_map_in_docs_stack_md_is_the_one_the_code_binds() -> None:
    section = _ports_section()
    broker = _default(StackSettings, "broker_port")
    expected = {f"{broker + 2 * i}/{broker + 2 * i + 1}" for i in range(3)}  # brokers 1..3, client/controller
    for name in PORT_SETTINGS:
        assert f"`{name}`" in section, f"docs/stack.md, Ports, does not name the setting {name}"
        expected.add(str(_default(StackSettings, name)))
    for base in ("pg_base_port", "patroni_rest_base_port"):
        first = _default(StackSettings, base)
        expected.add(f"{first}\N{EN DASH}{first + 2}")  # 3 nodes, as the table writes a range
    for service in (ConsumerSettings, AutoscalerSettings):
        expected.add(str(_default(service, "metrics_port")))
    missing = sorted(port for port in expected if port not in section)
    assert missing == [], f"docs/stack.md, Ports, lacks {missing}"
