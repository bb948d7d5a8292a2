"""Dependencies by role: the base install runs the producer SDK and the ``floodwall`` command, each role's
extra brings exactly what its commands import, and a missing extra is one line naming it.

The subprocess tests run the real entry point with the extras' libraries refused at import
(tests/unit/without_extras.py), as on a base install.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from pathlib import Path

import pytest

from floodwall.cli import COMMANDS, OPTIONAL_LIBRARIES, Command, build_parser
from tests.helpers import clean_env
from tests.unit.requirements import (
    PROJECT,
    SDK_MODULES,
    base_libraries,
    extra_libraries,
    libraries_imported_by,
    optional_libraries,
)

ROOT = Path(__file__).resolve().parents[2]
ROLE_EXTRAS = ("consumers", "autoscaler", "loadgen", "stack")


def without_extras(*args: str) -> subprocess.CompletedProcess[str]:
    """``python -m tests.unit.without_extras LIBRARIES ARGS``: the extras' libraries refused."""
    return subprocess.run(
        [sys.executable, "-m", "tests.unit.without_extras", ",".join(sorted(optional_libraries())), *args],
        capture_output=True, text=True, timeout=120, cwd=ROOT, env=clean_env(),
    )  # fmt: skip


def test_the_base_install_is_what_the_sdk_and_the_command_import() -> None:
    imported = libraries_imported_by(SDK_MODULES)
    undeclared = {k: sorted(v) for k, v in imported.items() if k not in base_libraries()}
    assert set(imported) == base_libraries(), (undeclared, sorted(base_libraries() - set(imported)))


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: c.name)
def test_each_command_needs_the_base_and_its_extra_only(command: Command) -> None:
    needed = {k: sorted(v) for k, v in libraries_imported_by([command.module]).items()}
    beyond = {k: v for k, v in needed.items() if k not in base_libraries()}
    if command.extra is None:
        assert beyond == {}, f"`floodwall {command.name}` needs an extra"
        return
    assert set(beyond) <= extra_libraries(command.extra), beyond
    assert beyond, f"`floodwall {command.name}` runs on the base install: its extra is needless"


def test_the_role_extras_make_up_all_and_dev_includes_all() -> None:
    extras = PROJECT["optional-dependencies"]
    assert set(extras) == {*ROLE_EXTRAS, "all", "dev"}
    assert extras["all"] == [f"floodwall[{','.join(ROLE_EXTRAS)}]"]
    assert "floodwall[all]" in extras["dev"]
    assert all(extra_libraries(e) for e in ROLE_EXTRAS)


def test_the_cli_knows_which_libraries_only_extras_install() -> None:
    assert optional_libraries() == OPTIONAL_LIBRARIES


def test_the_listing_shows_each_command_s_own_help() -> None:
    """The listing is drawn from COMMANDS without importing a role: it must say what each module does."""
    parser = build_parser()
    group = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    registered = [(action.dest, action.help) for action in group._choices_actions]
    assert registered == [(c.name, c.help) for c in COMMANDS]


# ---- on the base install --------------------------------------------------------------------------------


def test_the_refused_libraries_are_really_absent() -> None:
    """Without this, every test below could pass with the libraries quietly loaded."""
    code = "\n".join(
        f"try:\n    import {name}\nexcept ModuleNotFoundError:\n    pass\nelse:\n    raise SystemExit(1)"
        for name in sorted(optional_libraries())
    )
    assert set(optional_libraries()) >= {"psycopg", "kubernetes", "rich", "matplotlib"}
    result = without_extras("-c", code)
    assert result.returncode == 0, result.stderr


def test_the_sdk_imports_and_runs_without_the_extras(tmp_path: Path) -> None:
    code = f"""
import sys
from floodwall.producers.config import ProducerSettings
from floodwall.producers.producer import EventProducer
from floodwall.redact import mask_text
settings = ProducerSettings(bootstrap_servers="127.0.0.1:1", spool_dir={str(tmp_path)!r})
with EventProducer(settings):
    pass
assert mask_text("postgresql://u:pw@h/db") == "postgresql://u:***@h/db"
print(sorted(m for m in sys.modules if m.partition(".")[0] in {sorted(optional_libraries())!r}))
"""
    result = without_extras("-c", code)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout == "[]\n"


def test_the_help_lists_every_command_without_the_extras() -> None:
    result = without_extras("floodwall", "--help")
    assert result.returncode == 0, result.stderr
    listing = " ".join(result.stdout.split())  # argparse wraps the help to the terminal's width
    for command in COMMANDS:
        assert f"{command.name} {command.help}" in listing, command.name


@pytest.mark.parametrize(
    ("args", "extra"),
    [
        (["consume"], "consumers"),  # its module needs psycopg
        (["stack", "status"], "stack"),
        (["autoscale"], "autoscaler"),  # the daemon imports kubernetes when it starts
        (["loadgen", "run"], "loadgen"),  # the runner imports rich when it runs
        (["demo"], "all"),
    ],
)
def test_a_command_without_its_extra_says_which_in_one_line(args: list[str], extra: str) -> None:
    result = without_extras("floodwall", *args)
    line = f"floodwall: error: this command needs the '{extra}' extra: pip install 'floodwall[{extra}]'\n"
    assert (result.returncode, result.stderr, result.stdout) == (2, line, "")


def test_a_command_runs_when_the_base_install_has_what_it_needs() -> None:
    result = without_extras("floodwall", "schemas", "check")
    assert result.returncode == 0 and "order_event v1: ok" in result.stdout, result.stderr
    for args in (["autoscale", "simulate", "--help"], ["loadgen", "run", "--help"]):  # lazy imports
        assert without_extras("floodwall", *args).returncode == 0, args


def test_the_image_installs_every_role_and_the_set_up_the_dev_tools() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert re.search(r"pip wheel .*'\.\[all\]'", dockerfile), "the image's wheels: Floodwall with [all]"
    assert re.search(r"pip install .*'floodwall\[all\]'", dockerfile), "the image installs [all]"
    assert "pip install -q -e '.[dev]'" in (ROOT / "scripts/setup.sh").read_text()
