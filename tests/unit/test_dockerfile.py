"""The image and the chart agree: the user the chart runs as, the entry point it calls, the packages inside.

No container engine here, so the Dockerfile is checked as text against pyproject.toml and the chart.
"""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def instructions() -> list[tuple[str, str]]:
    text = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1]) for line in lines]


def test_runs_as_the_non_root_user_the_chart_expects() -> None:
    users = [arg for op, arg in instructions() if op == "USER"]
    assert users, "the final stage must set USER"
    uid, gid = (int(x) for x in users[-1].split(":"))
    pod = yaml.safe_load((ROOT / "helm/floodwall/values.yaml").read_text())["podSecurityContext"]
    assert uid > 0 and (uid, gid) == (pod["runAsUser"], pod["runAsGroup"])


def test_entry_point_is_the_floodwall_cli_in_exec_form() -> None:
    entry = [arg for op, arg in instructions() if op == "ENTRYPOINT"]
    assert json.loads(entry[-1]) == ["floodwall"]  # exec form: floodwall is PID 1 and gets SIGTERM
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts["floodwall"] == "floodwall.cli:main"


def test_base_is_slim_python_311() -> None:
    bases = [arg.split()[0] for op, arg in instructions() if op == "FROM"]
    assert bases and all(re.fullmatch(r"python:3\.11-slim(-\w+)?", b) for b in bases), bases


def test_every_package_is_copied_and_not_ignored() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    packages = {p.rstrip("*") for p in project["tool"]["setuptools"]["packages"]["find"]["include"]}
    copied = {arg.split()[0] for op, arg in instructions() if op == "COPY" and not arg.startswith("--from")}
    assert packages <= copied, f"not copied into the image: {packages - copied}"
    ignored = {line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()}
    assert not (packages | {"pyproject.toml", "README.md"}) & ignored
