"""`floodwall produce` without a broker: the summary and the exit status however the run ends."""

from __future__ import annotations

import fcntl
import signal
import subprocess
import sys
import termios
import time
from pathlib import Path

import pytest

from floodwall.producers.config import ProducerSettings
from floodwall.producers.producer import EventProducer
from floodwall.settings import load_settings
from tests.helpers import clean_env, floodwall
from tests.produce_helpers import RESTOCK, UNKNOWN_TYPE, UNREACHABLE, lines, produce


def test_a_file_of_bad_lines_is_judged_without_a_broker(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    ran = produce(capsys, monkeypatch, tmp_path, lines("{bad", "", "[1, 2]", '{"type": 5}', "null"))
    assert ran.code == 1
    assert ran.out.splitlines() == [
        "accepted 0 of 4 events: 0 acknowledged by the broker, 0 spooled",
        "rejected 4 lines (nothing of them was sent):",
        "  line 1: not JSON (Expecting property name enclosed in double quotes at column 2)",
        "  line 3: not a JSON object (a JSON array)",
        "  line 4: type: must be one of order.placed, order.paid, order.cancelled, inventory.restock, "
        "inventory.reservation, inventory.release, inventory.correction, got 5",
        "  line 5: not a JSON object (a JSON null)",
        "summary: 4 events read, 0 accepted, 4 rejected, 0 failed, 0 unconfirmed; exit status 1",
    ]
    assert not (tmp_path / "spool").exists(), "no valid line: the producer never started"


def test_with_the_broker_unreachable_events_are_spooled_and_the_summary_says_so(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    ran = produce(capsys, monkeypatch, tmp_path, lines(RESTOCK, RESTOCK))
    assert ran.code == 0, ran.out + ran.err
    assert "accepted 2 of 2 events: 0 acknowledged by the broker, 2 spooled" in ran.out
    assert f"spooled events wait in {tmp_path / 'spool'}" in ran.out
    assert ran.out.rstrip().endswith("exit status 0") and "Traceback" not in ran.err


def test_a_partial_failure_prints_every_count_and_exits_1(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    ran = produce(capsys, monkeypatch, tmp_path, lines(RESTOCK, "{", RESTOCK), "--event-ids", "content")
    assert ran.code == 1
    assert "accepted 2 of 3 events: 0 acknowledged by the broker, 2 spooled" in ran.out
    assert "  line 2: not JSON (Expecting property name enclosed in double quotes at column 2)" in ran.out
    assert "derived from the lines' content in namespace" in ran.out and str(tmp_path) in ran.out
    assert "summary: 3 events read, 2 accepted, 1 rejected, 0 failed, 0 unconfirmed; exit status 1" in ran.out


def test_a_producer_that_cannot_start_stops_the_run_with_the_summary(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    settings = load_settings(
        ProducerSettings, {"bootstrap_servers": UNREACHABLE, "spool_dir": tmp_path / "spool"}
    )
    with EventProducer(settings):  # holds the spool directory's lock
        ran = produce(capsys, monkeypatch, tmp_path, lines(UNKNOWN_TYPE, RESTOCK, RESTOCK))
    assert ran.code == 1
    assert "failed 1 events (not accepted):" in ran.out and "line 1: type: must be one of" in ran.out
    assert "stopped after line 2: the producer could not start (" in ran.out
    assert "the lines after it were not read" in ran.out and "Traceback" not in ran.err


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["-", "--event-ids", "content"], "--event-ids content on standard input needs --id-namespace"),
        (["--id-namespace", "x"], "--id-namespace only applies with --event-ids content"),
    ],
)
def test_options_that_do_not_fit_are_one_line_exit_2(tmp_path: Path, flags: list[str], message: str) -> None:
    result = floodwall("produce", *flags, "--spool-dir", str(tmp_path / "spool"))
    assert result.returncode == 2
    assert result.stderr.startswith(f"floodwall: error: {message}") and result.stderr.count("\n") == 1


def test_help_documents_exit_statuses_event_ids_and_the_line_limit() -> None:
    result = floodwall("produce", "--help")
    assert result.returncode == 0
    for text in ("exit status:", "130  interrupted", "--event-ids {random,content}", "--id-namespace NAME",
                 "--max-line-bytes BYTES", "applies each event once"):  # fmt: skip
        assert text in result.stdout, text


def _pipe_drained_and_child_reading(proc: subprocess.Popen[bytes]) -> bool:
    """True once the child has taken every byte written to its stdin and blocks reading the next line:
    every line before that has been handled."""
    assert proc.stdin is not None
    waiting = bytearray(4)
    fcntl.ioctl(proc.stdin.fileno(), termios.FIONREAD, waiting)
    wchan = Path(f"/proc/{proc.pid}/wchan").read_text()
    return int.from_bytes(waiting, sys.byteorder) == 0 and "pipe" in wchan


def _sigint_as_at_a_terminal() -> None:
    # A test run started as a background job of a non-interactive shell has SIGINT ignored, and a child
    # inherits that; a user pressing Ctrl-C at a terminal runs floodwall with SIGINT at its default.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_ctrl_c_flushes_prints_the_summary_and_exits_130(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "floodwall", "produce", "--bootstrap-servers", UNREACHABLE,
         "--spool-dir", str(tmp_path / "spool")],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=clean_env(),
        preexec_fn=_sigint_as_at_a_terminal,
    )  # fmt: skip
    assert proc.stdin is not None
    try:
        proc.stdin.write(lines(RESTOCK, RESTOCK, "{bad", RESTOCK))
        proc.stdin.flush()  # and keep stdin open: the run is mid-stream when Ctrl-C comes
        deadline = time.monotonic() + 60
        while not _pipe_drained_and_child_reading(proc):
            assert time.monotonic() < deadline and proc.poll() is None, "produce never read its input"
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == 130, out.decode() + err.decode()
    summary = out.decode()
    assert "accepted 3 of 4 events: 0 acknowledged by the broker, 3 spooled" in summary
    assert "  line 3: not JSON" in summary
    assert "interrupted after line 4 (Ctrl-C); the lines after it were not read" in summary
    assert summary.rstrip().endswith("exit status 130")
    assert "flushing the events emitted so far" in err.decode() and "Traceback" not in err.decode()
