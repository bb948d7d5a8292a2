"""Files Floodwall writes are readable by their owner only: 0600 files, 0700 directories (issue 12).

Each test sets a permissive umask (022, the usual default) first, so a file created without an explicit
mode would come out 0644 and fail here.
"""

from __future__ import annotations

import os
import stat
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from floodwall.loadgen.acks import AckWriter
from floodwall.loadgen.report import write_json
from floodwall.loadgen.trace import TraceWriter
from floodwall.privatefs import append_private, exposed, make_private_dir, tighten_tree, write_private
from floodwall.producers.spool import Spool, SpoolRecord
from floodwall.promtargets import register_target
from floodwall.settings import load_settings
from floodwall.stack.config import StackSettings
from floodwall.stack.filemodes import secure_state_dir
from floodwall.stack.layout import Layout
from floodwall.stack.procs import ProcessRecord, is_running, spawn
from floodwall.stack.state import StackState, load_or_create_secrets, write_client_pgpass


@pytest.fixture(autouse=True)
def permissive_umask() -> Iterator[None]:
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_spool_directory_segments_and_lock_are_owner_only(tmp_path: Path) -> None:
    directory = tmp_path / "new" / "spool"
    spool = Spool(directory, max_bytes=1 << 20)
    spool.append(SpoolRecord(1, "orders", b"customer-42", b'{"customer_id": "customer-42"}'))
    spool.sync()
    sealed = spool.seal()
    spool.close()
    assert sealed, "the segment with the record should have been sealed"
    assert mode(directory) == 0o700 and mode(directory.parent) == 0o700
    assert exposed(directory) == []
    assert {p.name for p in directory.iterdir()} >= {"spool.lock", sealed[0].name}


def test_spool_narrows_a_segment_an_older_release_left_world_readable(tmp_path: Path) -> None:
    spool = Spool(tmp_path, max_bytes=1 << 20)
    spool.append(SpoolRecord(1, "orders", None, b"payload"))
    segment = spool.seal()[0]
    spool.close()
    segment.chmod(0o644)
    (tmp_path / "spool.lock").chmod(0o644)
    reopened = Spool(tmp_path, max_bytes=1 << 20)
    try:
        assert mode(segment) == 0o600 and mode(tmp_path / "spool.lock") == 0o600
        assert [r.value for r in reopened.read([segment])] == [b"payload"]
    finally:
        reopened.close()


def test_private_writes_replace_and_narrow(tmp_path: Path) -> None:
    target = tmp_path / "a" / "b.json"
    write_private(target, "one")
    target.chmod(0o644)
    write_private(target, "two")
    assert target.read_text() == "two" and mode(target) == 0o600 and mode(target.parent) == 0o700
    log = tmp_path / "logs" / "part.log"
    log.parent.mkdir(mode=0o700)
    log.write_text("old line\n")
    log.chmod(0o644)
    with append_private(log) as out:
        out.write(b"new line\n")
    assert log.read_text() == "old line\nnew line\n" and mode(log) == 0o600


def _old_release_state_dir(root: Path) -> Layout:
    """A state directory as releases before issue 12 left it: 0755 directories, 0644 files."""
    root.mkdir(mode=0o755)
    layout = Layout(load_settings(StackSettings, {"state_dir": root}))
    files = ["logs/haproxy.log", "stack.json", "kafka/b1/data/orders-0/0.log", "prometheus/alerts.yaml",
             "pg/n1/patroni.yml"]  # fmt: skip
    for rel in files:
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o755)
        path.write_text("x")
        path.chmod(0o644)
    (root / "link").symlink_to("/etc/hostname")
    return layout


def test_stack_up_narrows_an_existing_state_dir(tmp_path: Path) -> None:
    layout = _old_release_state_dir(tmp_path / "state")
    assert len(exposed(layout.root)) > 5
    changed = secure_state_dir(layout, pg_user=None)
    assert exposed(layout.root) == [], "\n".join(exposed(layout.root))
    assert layout.root / "stack.json" in changed
    assert mode(layout.root) == 0o700 and mode(layout.pg_root) == 0o700


def test_traversal_dirs_are_0710_for_the_postgres_group_only(tmp_path: Path) -> None:
    layout = _old_release_state_dir(tmp_path / "state")
    tighten_tree(layout.root, exact={layout.root: 0o710, layout.pg_root: 0o710})
    assert mode(layout.root) == 0o710 and mode(layout.pg_root) == 0o710
    allowed = {layout.root: 0o710, layout.pg_root: 0o710}
    assert exposed(layout.root, allowed) == []
    assert sorted(exposed(layout.root)) == sorted([f"0710 {layout.root}", f"0710 {layout.pg_root}"])


def test_secrets_pgpass_state_file_and_prometheus_targets_are_owner_only(tmp_path: Path) -> None:
    layout = Layout(load_settings(StackSettings, {"state_dir": tmp_path / "state"}))
    secure_state_dir(layout, pg_user=None)
    write_client_pgpass(layout, load_or_create_secrets(layout))
    StackState(settings=layout.settings).save()
    make_private_dir(layout.prometheus_targets_dir)  # as the stack's Prometheus part does
    unregister = register_target(layout.root, "consumers", 9100, {"group": "g"})
    try:
        assert exposed(layout.root) == [], "\n".join(exposed(layout.root))
        assert {p.name for p in layout.root.iterdir()} >= {"secrets.json", "pgpass", "stack.json"}
    finally:
        unregister()


def test_stack_processes_start_with_umask_077_and_a_private_log(tmp_path: Path) -> None:
    out = tmp_path / "made-by-child"
    log = tmp_path / "logs" / "child.log"
    record = spawn(["/bin/sh", "-c", f"umask; echo data > {out}"], log)
    _wait_exit(record)
    assert log.read_text().strip().splitlines()[-1] == "0077"
    assert mode(out) == 0o600 and mode(log) == 0o600 and mode(log.parent) == 0o700


def _wait_exit(record: ProcessRecord) -> None:
    deadline = time.monotonic() + 10
    while is_running(record):
        assert time.monotonic() < deadline, "the child did not exit"
        time.sleep(0.05)


def test_loadgen_traces_and_acks_are_owner_only(tmp_path: Path) -> None:
    """A trace holds whole events (customer ids), the acks their ids."""
    trace = tmp_path / "run" / "trace.fwt"
    writer = TraceWriter(trace, {"workload": "test"})
    writer.write(0.0, b"key", b'{"customer_id": "c-1"}')
    writer.close({"events": 1})
    with AckWriter(tmp_path / "run" / "acks.bin"):
        pass
    write_json({"ok": True}, tmp_path / "run" / "report.json")
    assert exposed(tmp_path / "run") == [], "\n".join(exposed(tmp_path / "run"))
    assert {p.name for p in (tmp_path / "run").iterdir()} == {"trace.fwt", "acks.bin", "report.json"}
