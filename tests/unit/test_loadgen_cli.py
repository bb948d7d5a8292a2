"""`floodwall loadgen` on the command line: help, one-line errors, deterministic trace files."""

from __future__ import annotations

import filecmp
from pathlib import Path

from tests.helpers import clean_env, floodwall


def test_help_explains_subcommands_and_settings() -> None:
    result = floodwall("loadgen", "--help")
    assert result.returncode == 0
    assert all(name in result.stdout for name in ("run", "replay", "generate", "verify"))
    run = floodwall("loadgen", "run", "--help")
    assert run.returncode == 0
    for flag in ("--profile", "--rate", "--duration", "--seed", "--record", "--report-dir", "FLOODWALL_RATE"):
        assert flag in run.stdout, flag


def test_bad_settings_are_one_line_exit_2(tmp_path: Path) -> None:
    for args, expected in [
        (["--pay-share", "0.95", "--cancel-share", "0.1"], "pay_share + cancel_share must be at most 1"),
        (["--profile", "tsunami"], "invalid setting profile='tsunami'"),
        (["--namespace", "Bad_NS"], "invalid setting namespace='Bad_NS'"),
        (["--rate", "0"], "invalid setting rate='0'"),
    ]:
        result = floodwall("loadgen", "generate", str(tmp_path / "t.fwt"), *args, env=clean_env())
        assert result.returncode == 2, (args, result.stderr)
        assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
        assert result.stderr.startswith("floodwall: error: ") and expected in result.stderr, result.stderr
    assert not (tmp_path / "t.fwt").exists()


def test_generate_twice_with_one_seed_writes_identical_files(tmp_path: Path) -> None:
    args = ["--profile", "flash-sale", "--rate", "1500", "--duration", "8", "--seed", "42"]
    first = floodwall("loadgen", "generate", str(tmp_path / "a.fwt"), *args, env=clean_env())
    second = floodwall("loadgen", "generate", str(tmp_path / "b.fwt"), *args, env=clean_env())
    other = floodwall("loadgen", "generate", str(tmp_path / "c.fwt"), *args[:-1], "43", env=clean_env())
    assert first.returncode == second.returncode == other.returncode == 0, first.stderr
    assert "namespace 's42'" in first.stdout and "inventory.reservation" in first.stdout
    assert filecmp.cmp(tmp_path / "a.fwt", tmp_path / "b.fwt", shallow=False)
    assert not filecmp.cmp(tmp_path / "a.fwt", tmp_path / "c.fwt", shallow=False)


def test_replay_and_verify_name_what_is_missing(tmp_path: Path) -> None:
    replay = floodwall(
        "loadgen", "replay", str(tmp_path / "none.fwt"), "--state-dir", str(tmp_path), env=clean_env()
    )
    assert replay.returncode == 1 and "trace file" in replay.stderr and "does not exist" in replay.stderr
    assert replay.stderr.count("\n") == 1
    verify = floodwall("loadgen", "verify", "--report-dir", str(tmp_path / "r"), "--state-dir", str(tmp_path),
                       env=clean_env())  # fmt: skip
    assert verify.returncode == 1 and "holds no load-generator run" in verify.stderr
    assert verify.stderr.count("\n") == 1
