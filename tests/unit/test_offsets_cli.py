"""``floodwall offsets``: flags, refusals before anything changes, one-line errors, and what the command does
with the numbers (the I/O replaced by a fake here; tests/integration/test_offsets_cli.py runs it for real)."""

from __future__ import annotations

import io
import json
import socket
import subprocess
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import TracebackType
from typing import ClassVar

import pytest

from floodwall.cli import main
from floodwall.consumers import offsets_io
from floodwall.consumers.offset_plan import Change, PartitionOffsets
from floodwall.offsets import GroupPosition, OffsetsUnavailable
from tests.helpers import clean_env, floodwall

ROWS = [
    PartitionOffsets("orders", 0, 120, 120, 0, 120),  # ok, caught up
    PartitionOffsets("orders", 1, 5000, 5000, 0, 80),  # beyond log end
    PartitionOffsets("orders", 2, 10, None, 40, 90),  # before log start
    PartitionOffsets("orders", 3, None, None, 0, 0),  # no stored offset
]


class FakeIO:
    """Stands in for OffsetsIO: fixed rows, and a record of what would be written."""

    rows: ClassVar[list[PartitionOffsets]] = ROWS
    members: ClassVar[int] = 0
    commit_error: ClassVar[str | None] = None
    stored: ClassVar[list[list[Change]]] = []
    committed: ClassVar[list[list[Change]]] = []

    def __init__(self, *_args: object) -> None:
        pass

    def __enter__(self) -> FakeIO:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        pass

    def read(self, topics: Sequence[str]) -> list[PartitionOffsets]:
        return [r for r in self.rows if r.topic in topics]

    def member_count(self) -> int:
        return self.members

    def store(self, changes: Sequence[Change]) -> dict[tuple[str, int], int | None]:
        FakeIO.stored.append(list(changes))
        return {(c.topic, c.partition): c.old for c in changes}

    def commit(self, changes: Sequence[Change]) -> None:
        if self.commit_error:
            raise OffsetsUnavailable(self.commit_error)
        FakeIO.committed.append(list(changes))


class Terminal(io.StringIO):
    """An answer typed at a terminal."""

    def isatty(self) -> bool:
        return True


@pytest.fixture(autouse=True)
def no_floodwall_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in [k for k in clean_env() if k.startswith("FLOODWALL_")]:
        monkeypatch.delenv(key)


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[type[FakeIO]]:
    monkeypatch.setattr(offsets_io, "OffsetsIO", FakeIO)
    FakeIO.stored, FakeIO.committed, FakeIO.members, FakeIO.commit_error = [], [], 0, None
    yield FakeIO


def endpoints(tmp_path: Path) -> list[str]:
    return ["--bootstrap-servers", "kafka:9092", "--database-url", "postgresql://sink@db/sink",
            "--state-dir", str(tmp_path)]  # fmt: skip


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# ---- flags and refusals before any I/O --------------------------------------------------------------


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--group", "g", "--topic", "orders"], "one of the arguments --to-earliest --to-latest --to-offset"),
        (["--group", "g", "--topic", "orders", "--to-earliest", "--to-latest"], "not allowed with"),
        (["--group", "g", "--topic", "orders", "--to-offset", "-3"], "-3 is negative"),
        (["--group", "g", "--topic", "orders", "--to-offset", "x"], "'x' is not a whole number"),
        (["--group", "g", "--topic", "orders", "--partition", "1.5", "--to-latest"], "not a whole number"),
        (["--topic", "orders", "--to-latest"], "the following arguments are required: --group"),
        (["--group", "g", "--to-latest"], "the following arguments are required: --topic"),
    ],
)
def test_bad_flags_are_usage_errors(flags: list[str], message: str) -> None:
    result = floodwall("offsets", "reset", *flags)
    assert result.returncode == 2 and message in result.stderr and "Traceback" not in result.stderr


def test_reset_without_yes_and_without_a_terminal_refuses_before_any_io(tmp_path: Path) -> None:
    port = closed_port()  # nothing listens: a connection attempt would fail differently and later
    result = subprocess.run(
        [sys.executable, "-m", "floodwall", "offsets", "reset", "--group", "g", "--topic", "orders",
         "--to-latest", "--bootstrap-servers", f"127.0.0.1:{port}",
         "--database-url", f"postgresql://u@127.0.0.1:{port}/db", "--state-dir", str(tmp_path)],
        stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60, env=clean_env(),
    )  # fmt: skip
    assert result.returncode == 2, result.stderr
    assert result.stderr == (
        "floodwall: error: reset asks for confirmation, and stdin is not a terminal: pass --yes "
        "(nothing changed)\n"
    )


def test_without_endpoints_or_a_local_stack_says_what_to_set(tmp_path: Path) -> None:
    result = floodwall("offsets", "show", "--state-dir", str(tmp_path / "none"))
    assert result.returncode == 2 and result.stderr.count("\n") == 1
    assert "no bootstrap_servers is set and no local stack exists" in result.stderr


# ---- unreachable endpoints: one line, no password ---------------------------------------------------


def test_unreachable_broker_is_one_line(tmp_path: Path) -> None:
    port = closed_port()
    flags = ["--bootstrap-servers", f"127.0.0.1:{port}", "--offsets-timeout-s", "1",
             "--database-url", "postgresql://u:pw@127.0.0.1/db", "--state-dir", str(tmp_path)]  # fmt: skip
    result = floodwall("offsets", "show", *flags)
    assert result.returncode == 1, result.stderr
    assert result.stderr.startswith(f"floodwall: error: Kafka at 127.0.0.1:{port}: cannot read offsets")
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr


def test_unreachable_database_is_one_line_without_the_password(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def positions(*_args: object, **_kwargs: object) -> list[GroupPosition]:
        return [GroupPosition("orders", 0, 10, None, 0)]

    monkeypatch.setattr(offsets_io, "read_group_positions", positions)
    port = closed_port()
    status = main(["offsets", "show", "--bootstrap-servers", "kafka:9092", "--state-dir", str(tmp_path),
                   "--database-url", f"postgresql://sink:s3cret-pw@127.0.0.1:{port}/sink"])  # fmt: skip
    err = capsys.readouterr().err
    assert status == 1
    assert err.startswith(
        f"floodwall: error: cannot read the stored offsets in the database at 127.0.0.1:{port}/sink: "
    )
    assert err.count("\n") == 1 and "s3cret" not in err


def test_malformed_database_url_is_not_echoed(tmp_path: Path) -> None:
    result = floodwall("offsets", "show", "--bootstrap-servers", "kafka:9092", "--state-dir", str(tmp_path),
                       "--database-url", "host=db password=s3cret-pw garbage")  # fmt: skip
    assert result.returncode == 2 and "s3cret" not in result.stderr
    assert result.stderr.startswith("floodwall: error: invalid setting database_url='host=db password=*** ")
    assert "not a libpq connection string" in result.stderr and result.stderr.count("\n") == 1


# ---- show -------------------------------------------------------------------------------------------


def test_show_table_lists_each_partition_with_its_status(
    fake: type[FakeIO], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status = main(["offsets", "show", "--group", "sink", *endpoints(tmp_path)])
    out = capsys.readouterr().out
    assert status == 1  # two stored offsets lie outside their log
    lines = out.splitlines()
    assert lines[0].split() == ["TOPIC", "PARTITION", "STORED", "COMMITTED", "LOG", "START", "LOG", "END",
                                "LAG", "STATUS"]  # fmt: skip
    assert lines[1].split() == ["orders", "0", "120", "120", "0", "120", "0", "ok"]
    assert lines[2].split() == ["orders", "1", "5000", "5000", "0", "80", "-4920", "beyond", "log", "end"]
    assert lines[3].split() == ["orders", "2", "10", "-", "40", "90", "80", "before", "log", "start"]
    assert lines[4].split() == ["orders", "3", "-", "-", "0", "0", "-", "no", "stored", "offset"]
    assert "2 partition(s) stopped" in out and "floodwall offsets reset --group sink" in out


def test_show_json_and_exit_0_when_all_fit(
    fake: type[FakeIO], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fake.rows = [ROWS[0], ROWS[3]]
    try:
        status = main(["offsets", "show", "--json", "--topic", "orders", *endpoints(tmp_path)])
    finally:
        fake.rows = ROWS
    doc = json.loads(capsys.readouterr().out)
    assert status == 0
    assert doc["group"] == "floodwall-sink"
    assert [(p["partition"], p["status"], p["lag"]) for p in doc["partitions"]] == [
        (0, "ok", 0),
        (3, "no stored offset", None),
    ]


# ---- reset ------------------------------------------------------------------------------------------


def reset(tmp_path: Path, *flags: str) -> int:
    return main(["offsets", "reset", "--group", "sink", "--topic", "orders", *flags, *endpoints(tmp_path)])


def test_offset_outside_the_log_is_refused_with_the_range_and_nothing_written(
    fake: type[FakeIO], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status = reset(tmp_path, "--partition", "0", "--partition", "2", "--to-offset", "100", "--yes")
    err = capsys.readouterr().err
    assert status == 1 and fake.stored == []
    assert err == (
        "floodwall: error: orders[2]: offset 100 is outside the log [40, 90] (log start, log end); "
        "nothing changed\n"
    )


def test_unknown_partition_is_refused(
    fake: type[FakeIO], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert reset(tmp_path, "--partition", "7", "--to-latest", "--yes") == 1 and fake.stored == []
    assert "topic orders has no partition 7 (it has 0..3); nothing changed" in capsys.readouterr().err


def test_reset_with_yes_stores_then_commits_to_an_empty_group(
    fake: type[FakeIO], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert reset(tmp_path, "--partition", "1", "--partition", "2", "--to-earliest", "--yes") == 0
    out = capsys.readouterr().out
    assert [(c.partition, c.old, c.new) for c in fake.stored[0]] == [(1, 5000, 0), (2, 10, 40)]
    assert fake.committed == fake.stored
    assert "orders[1]: 5000 -> 0 (stored offset lies 4920 beyond the log end 80" in out
    assert "orders[2]: 10 -> 40 (30 events (offsets 10..39) were deleted by the broker" in out
    assert "Safe while consumers run" in out and "committed to Kafka for group sink" in out


def test_reset_leaves_kafka_to_a_group_with_members(
    fake: type[FakeIO], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fake.members = 2
    assert reset(tmp_path, "--partition", "0", "--to-offset", "60", "--yes") == 0
    out = capsys.readouterr().out
    assert len(fake.stored) == 1 and fake.committed == []
    assert "re-reads 60 events" in out and "the group has 2 member(s)" in out


def test_kafka_commit_failure_after_the_database_write_is_one_line(
    fake: type[FakeIO], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fake.commit_error = "Kafka at kafka:9092: no answer"
    assert reset(tmp_path, "--partition", "0", "--to-latest", "--yes") == 1
    err = capsys.readouterr().err
    assert len(fake.stored) == 1
    assert err.startswith("floodwall: error: the stored offsets are reset in PostgreSQL, but Kafka's")
    assert err.count("\n") == 1


@pytest.mark.parametrize(("answer", "written"), [("y\n", 1), ("yes\n", 1), ("n\n", 0), ("\n", 0), ("", 0)])
def test_reset_asks_at_a_terminal(
    answer: str,
    written: int,
    fake: type[FakeIO],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setattr(sys, "stdin", Terminal(answer))
    status = reset(tmp_path, "--partition", "3", "--to-latest")
    out = capsys.readouterr().out
    assert len(fake.stored) == written and status == (0 if written else 1)
    assert "Reset 1 partition(s)? [y/N]" in out
    assert ("nothing changed" in out) == (not written)
