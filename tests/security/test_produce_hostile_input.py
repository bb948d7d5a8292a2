"""Hostile input to `floodwall produce`: each line rejected with its number and a short reason, never a
traceback, and the run goes on to the next line and the summary (issue 12, points 6 and 8)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import clean_env
from tests.produce_helpers import RESTOCK, UNKNOWN_TYPE, UNREACHABLE, lines, produce

TEN_MB = 10 * 2**20


def restock_with(field: bytes) -> bytes:
    """A restock line whose ``sku`` is the raw JSON text ``field``."""
    return b'{"type": "inventory.restock", "sku": ' + field + b', "warehouse": "w1", "quantity": 1}'


HOSTILE = {
    "int-4300-digits": (
        b'{"type": "inventory.restock", "sku": "A", "warehouse": "w1", "quantity": ' + b"9" * 4300 + b"}",
        "not accepted: an integer of 4300 digits (at most 32)",
    ),
    "int-over-pythons-limit": (
        b'{"type": "inventory.restock", "sku": "A", "warehouse": "w1", "quantity": -' + b"1" * 5000 + b"}",
        "not accepted: an integer of 5000 digits (at most 32)",
    ),
    "nesting-100k-deep": (
        restock_with(b"[" * 100_000 + b"]" * 100_000),
        "not accepted: JSON nested too deeply",
    ),
    "lone-surrogate-escape": (
        restock_with(b'"\\ud800"'),
        "sku: must be valid Unicode text (a lone surrogate such as \\ud800 cannot be encoded as UTF-8), "
        "got '\\ud800'",
    ),
    "lone-surrogate-key": (
        b'{"type": "inventory.restock", "sku": "A", "warehouse": "w1", "quantity": 1, "\\udfff": 1}',
        "\\udfff: unknown field",
    ),
    "terminal-escape-key": (
        b'{"type": "inventory.restock", "sku": "A", "warehouse": "w1", "quantity": 1, "\\u001b[2J": 1}',
        "\\x1b[2J: unknown field",
    ),
    "invalid-utf8-bytes": (restock_with(b'"\xff\xfe"'), "not valid UTF-8 (byte 0xff at byte 39)"),
    "truncated-utf8-sequence": (restock_with(b'"\xe2\x82"'), "not valid UTF-8 (byte 0xe2 at byte 39)"),
    "ten-mb-line": (
        restock_with(b'"' + b"x" * (TEN_MB - len(restock_with(b'""'))) + b'"'),
        f"longer than 1048576 bytes ({TEN_MB} bytes); not read",
    ),
    "nan": (b'{"type": "inventory.restock", "quantity": NaN}', "not JSON (NaN is not a JSON number)"),
}


@pytest.mark.parametrize("name", list(HOSTILE))
def test_a_hostile_line_is_rejected_with_its_number_and_the_run_goes_on(
    name: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    line, reason = HOSTILE[name]
    ran = produce(capsys, monkeypatch, tmp_path, lines(UNKNOWN_TYPE, line, UNKNOWN_TYPE))
    assert ran.code == 1, ran.out + ran.err
    assert f"  line 2: {reason}\n" in ran.out
    assert "  line 1: type: must be one of" in ran.out and "  line 3: type: must be one of" in ran.out
    assert "summary: 3 events read, 0 accepted, 3 rejected, 0 failed, 0 unconfirmed; exit status 1" in ran.out
    assert max(len(text) for text in ran.out.splitlines()) < 400, "a huge value was echoed"
    assert "Traceback" not in ran.err


def test_every_hostile_line_in_one_run_of_the_real_command(tmp_path: Path) -> None:
    """The installed entry point, stdin and stdout as a shell gives them (strict UTF-8 output): the good
    lines between the hostile ones are accepted, each hostile one is named, the summary comes last."""
    hostile = [line for line, _ in HOSTILE.values()]
    payload = lines(RESTOCK, *hostile, RESTOCK)
    result = subprocess.run(
        [sys.executable, "-m", "floodwall", "produce", "--bootstrap-servers", UNREACHABLE,
         "--spool-dir", str(tmp_path / "spool")],
        input=payload, capture_output=True, timeout=180,
        env={**clean_env(), "PYTHONIOENCODING": "utf-8:strict"},
    )  # fmt: skip
    out, err = result.stdout.decode(), result.stderr.decode()
    assert result.returncode == 1, out + err
    assert "Traceback" not in err
    total = len(hostile) + 2
    assert f"accepted 2 of {total} events: 0 acknowledged by the broker, 2 spooled" in out
    for number, (_, reason) in enumerate(HOSTILE.values(), start=2):
        assert f"  line {number}: {reason}\n" in out
    assert out.rstrip().endswith(f"summary: {total} events read, 2 accepted, {len(hostile)} rejected, "
                                 f"0 failed, 0 unconfirmed; exit status 1")  # fmt: skip
    assert len(result.stdout) < 10_000, "a huge value was echoed"
