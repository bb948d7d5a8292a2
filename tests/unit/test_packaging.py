"""The built distribution: one import namespace (``floodwall``), the role folders inside it, data files kept.

The wheel is built from a copy of the source tree (so no build output lands in the checkout) with the
environment's own setuptools (``--no-build-isolation``: no download).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from email.message import Message
from email.parser import Parser
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from tests.unit.requirements import SDK_MODULES, import_name, libraries_imported_by

ROOT = Path(__file__).resolve().parents[2]
ROLES = ("producers", "consumers", "autoscaler", "schemas", "loadgen")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> zipfile.ZipFile:
    source = tmp_path_factory.mktemp("source")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, source / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for folder in ("floodwall", *ROLES):
        shutil.copytree(ROOT / folder, source / folder, symlinks=True, ignore=ignore)
    out = tmp_path_factory.mktemp("wheel")
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(out),
         str(source)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert built.returncode == 0, built.stderr[-3000:]
    (path,) = out.glob("floodwall-*.whl")
    return zipfile.ZipFile(path)


def test_only_floodwall_lands_in_site_packages(wheel: zipfile.ZipFile) -> None:
    top_level = {name.split("/", 1)[0] for name in wheel.namelist()}
    assert {t for t in top_level if not t.endswith(".dist-info")} == {"floodwall"}


def test_every_role_is_a_subpackage_of_floodwall(wheel: zipfile.ZipFile) -> None:
    names = set(wheel.namelist())
    for role in ROLES:
        assert f"floodwall/{role}/__init__.py" in names, role
    assert "floodwall/consumers/sink.py" in names and "floodwall/producers/producer.py" in names


def test_data_files_travel_with_their_packages(wheel: zipfile.ZipFile) -> None:
    names = set(wheel.namelist())
    assert "floodwall/schemas/avro/order_event.avsc" in names
    assert "floodwall/autoscaler/traces/flash-sale.csv" in names
    assert any(n.startswith("floodwall/db/migrations/") and n.endswith(".sql") for n in names)
    assert "floodwall/monitoring/alerts.yaml" in names


def metadata(wheel: zipfile.ZipFile) -> Message:
    (name,) = (n for n in wheel.namelist() if n.endswith(".dist-info/METADATA"))
    return Parser().parsestr(wheel.read(name).decode())


def requirements(wheel: zipfile.ZipFile, extra: str | None = None) -> list[Requirement]:
    """The wheel's Requires-Dist: the base install's (no marker), or what ``extra`` adds."""
    found = [Requirement(line) for line in metadata(wheel).get_all("Requires-Dist") or []]
    if extra is None:
        return [r for r in found if r.marker is None]
    return [r for r in found if r.marker is not None and r.marker.evaluate({"extra": extra})]


def test_the_base_install_requires_what_the_sdk_imports_and_nothing_else(wheel: zipfile.ZipFile) -> None:
    assert {import_name(r) for r in requirements(wheel)} == set(libraries_imported_by(SDK_MODULES))


def test_the_extras_travel_with_the_wheel(wheel: zipfile.ZipFile) -> None:
    extras = set(metadata(wheel).get_all("Provides-Extra") or [])
    assert extras == {"consumers", "autoscaler", "loadgen", "stack", "all", "dev"}
    assert {r.name for r in requirements(wheel, "autoscaler")} >= {"kubernetes"}
    assert {r.name for r in requirements(wheel, "consumers")} == {"psycopg"}
    (every_role,) = requirements(wheel, "all")  # one self-reference: pip resolves it to the role extras
    roles = {"consumers", "autoscaler", "loadgen", "stack"}
    assert (every_role.name, every_role.extras) == ("floodwall", roles)
    assert any(r.name == "floodwall" and r.extras == {"all"} for r in requirements(wheel, "dev"))


def test_no_module_imports_a_role_by_its_old_top_level_name() -> None:
    """Two names for one module would load it twice (two registries, isinstance failing across them)."""
    offenders = []
    for path in sorted(ROOT.glob("**/*.py")):
        if ".venv" in path.parts:
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            words = line.split()
            if len(words) >= 2 and words[0] in ("import", "from") and words[1].split(".")[0] in ROLES:
                offenders.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert not offenders, "\n".join(offenders)
