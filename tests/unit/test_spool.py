"""The durable spool: order by sequence, crash recovery, bounds, exclusive use."""

from __future__ import annotations

from pathlib import Path

import pytest

from floodwall.producers.spool import Spool, SpoolFull, SpoolLocked, SpoolRecord


def rec(seq: int, key: bytes | None = b"k") -> SpoolRecord:
    return SpoolRecord(seq, "orders", key, f"value-{seq}".encode())


def test_records_survive_reopen_and_read_back_in_sequence_order(tmp_path: Path) -> None:
    spool = Spool(tmp_path, 2**20)
    for seq in (5, 3, 4, 7):  # purged older messages may land after newer ones
        spool.append(rec(seq))
    spool.append(rec(6, key=None))
    spool.close()
    again = Spool(tmp_path, 2**20)
    assert again.events == 5 and again.next_seq() == 8
    records = again.read(again.seal())
    assert [r.seq for r in records] == [3, 4, 5, 6, 7]
    assert records[3].key is None and records[0].value == b"value-3" and records[0].topic == "orders"
    again.close()


def test_torn_tail_is_cut_at_open(tmp_path: Path) -> None:
    spool = Spool(tmp_path, 2**20)
    spool.append(rec(1))
    spool.append(rec(2))
    spool.close()
    segment = next(tmp_path.glob("segment-*.log"))
    data = segment.read_bytes()
    segment.write_bytes(data[:-3])  # a crash in the middle of writing record 2
    again = Spool(tmp_path, 2**20)
    assert [r.seq for r in again.read(again.seal())] == [1]
    again.close()


def test_corrupted_record_is_not_replayed(tmp_path: Path) -> None:
    spool = Spool(tmp_path, 2**20)
    spool.append(rec(1))
    spool.close()
    segment = next(tmp_path.glob("segment-*.log"))
    data = bytearray(segment.read_bytes())
    data[-1] ^= 0xFF
    segment.write_bytes(bytes(data))
    again = Spool(tmp_path, 2**20)
    assert again.is_empty()
    again.close()


def test_full_spool_refuses_with_a_clear_error(tmp_path: Path) -> None:
    spool = Spool(tmp_path, 100)
    spool.append(rec(1))
    with pytest.raises(SpoolFull, match="full"):
        spool.append(SpoolRecord(2, "orders", b"k", b"x" * 200))
    assert spool.events == 1
    spool.close()


def test_one_process_per_spool(tmp_path: Path) -> None:
    spool = Spool(tmp_path, 2**20)
    with pytest.raises(SpoolLocked, match="in use"):
        Spool(tmp_path, 2**20)
    spool.close()
    Spool(tmp_path, 2**20).close()


def test_seal_discard_keeps_newer_appends(tmp_path: Path) -> None:
    spool = Spool(tmp_path, 2**20)
    spool.append(rec(1))
    sealed = spool.seal()
    spool.append(rec(2))  # emitted during the replay of `sealed`
    assert [r.seq for r in spool.read(sealed)] == [1]
    spool.discard(sealed)
    assert spool.events == 1
    assert [r.seq for r in spool.read(spool.seal())] == [2]
    spool.close()
