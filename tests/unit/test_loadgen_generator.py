"""Load-generator content: determinism (byte-identical traces), Zipf popularity, the mix, and agreement
of the generator's stock model with the sink's own decision logic."""

from __future__ import annotations

import filecmp
import itertools
from collections import Counter
from pathlib import Path
from uuid import UUID

import pytest

from floodwall.consumers.decide import Incoming, plan_batch
from floodwall.events.codec import EventDeserializer, EventSerializer
from floodwall.events.model import (
    AdjustmentKind,
    InventoryEvent,
    OrderEvent,
    OrderEventType,
    event_type_of,
)
from floodwall.events.validation import problems
from floodwall.loadgen.generator import Generator, Timed, Workload
from floodwall.loadgen.profiles import FlashSale, Steady, schedule
from floodwall.loadgen.trace import TraceError, open_trace, shard_of
from floodwall.loadgen.tracegen import generate_trace


def stream(workload: Workload, peak: float = 2000, seconds: float = 10) -> list[Timed]:
    gen = Generator(workload)
    return list(itertools.chain(gen.preload(), gen.events(schedule(Steady(peak, seconds)))))


def test_same_seed_gives_byte_identical_trace_files_and_another_seed_does_not(tmp_path: Path) -> None:
    sale = FlashSale(peak=2000, duration_s=12)
    a = generate_trace(tmp_path / "a.fwt", sale, Workload(seed=7, namespace="ns"))
    b = generate_trace(tmp_path / "b.fwt", sale, Workload(seed=7, namespace="ns"))
    c = generate_trace(tmp_path / "c.fwt", sale, Workload(seed=8, namespace="ns"))
    assert a.events > 5000
    assert filecmp.cmp(a.path, b.path, shallow=False)
    assert not filecmp.cmp(a.path, c.path, shallow=False)
    assert a.footer == b.footer and a.footer["records"] == a.events


def test_trace_records_decode_to_valid_events_that_reencode_identically(tmp_path: Path) -> None:
    trace = generate_trace(tmp_path / "t.fwt", Steady(500, 4), Workload(seed=1, namespace="x"))
    decode, encode = EventDeserializer(), EventSerializer()
    seen = Counter[str]()
    times = []
    for record in trace.records():
        event = decode(record.value)  # validates too
        assert not problems(event)
        assert event.key() == record.key
        assert encode(event) == record.value
        # occurred_at comes from the schedule, not the clock.
        offset = (event.occurred_at - Workload(seed=1, namespace="x").epoch).total_seconds()
        assert offset == pytest.approx(record.t, abs=1e-6)
        seen[event_type_of(event)] += 1
        times.append(record.t)
    assert times == sorted(times) and times[0] < 0  # the initial restocks go first
    assert sum(seen.values()) == trace.events == trace.footer["prediction"]["events"]
    assert dict(seen) == trace.footer["prediction"]["by_type"]


def test_sharding_splits_the_trace_by_key() -> None:
    keys = [f"k{i}".encode() for i in range(1000)]
    shards = Counter(shard_of(k, 3) for k in keys)
    assert set(shards) == {0, 1, 2} and min(shards.values()) > 250
    assert all(shard_of(k, 3) == shard_of(k, 3) for k in keys)


def test_sharded_reading_partitions_the_records(tmp_path: Path) -> None:
    trace = generate_trace(tmp_path / "t.fwt", Steady(500, 3), Workload(seed=2, namespace="x"))
    parts = [list(trace.records(i, 3)) for i in range(3)]
    assert sum(len(p) for p in parts) == trace.events
    assert all(shard_of(r.key, 3) == i for i, part in enumerate(parts) for r in part)


def test_damaged_trace_is_reported(tmp_path: Path) -> None:
    trace = generate_trace(tmp_path / "t.fwt", Steady(100, 1), Workload(seed=2, namespace="x"))
    data = trace.path.read_bytes()
    (tmp_path / "cut.fwt").write_bytes(data[:-5])
    with pytest.raises(TraceError, match="truncated"):
        open_trace(tmp_path / "cut.fwt")
    with pytest.raises(TraceError, match="does not exist"):
        open_trace(tmp_path / "none.fwt")
    (tmp_path / "junk.fwt").write_bytes(b"hello")
    with pytest.raises(TraceError, match="not a Floodwall trace"):
        open_trace(tmp_path / "junk.fwt")


def test_sku_popularity_is_zipf() -> None:
    events = stream(Workload(seed=3, namespace="z", skus=200, zipf_s=1.1), peak=5000, seconds=10)
    lines = Counter(
        item.sku
        for _, e in events
        if isinstance(e, OrderEvent) and e.event_type is OrderEventType.PLACED
        for item in e.items
    )
    ranked = [lines[f"z-SKU-{i:05d}"] for i in range(200)]
    # Zipf with s = 1.1: rank 1 is drawn 2^1.1 ≈ 2.14 times as often as rank 2, 10^1.1 ≈ 12.6 times rank 10.
    assert ranked[0] / ranked[1] == pytest.approx(2**1.1, rel=0.2)
    assert ranked[0] / ranked[9] == pytest.approx(10**1.1, rel=0.3)
    assert sum(ranked[:10]) > 0.5 * sum(ranked)


def test_mix_orders_items_payments_cancellations_and_releases() -> None:
    w = Workload(seed=4, namespace="m", pay_share=0.6, cancel_share=0.2, restock_share=0.05)
    events = [e for _, e in stream(w, peak=3000, seconds=20)]
    placed = [e for e in events if isinstance(e, OrderEvent) and e.event_type is OrderEventType.PLACED]
    paid = [e for e in events if isinstance(e, OrderEvent) and e.event_type is OrderEventType.PAID]
    cancelled = [e for e in events if isinstance(e, OrderEvent) and e.event_type is OrderEventType.CANCELLED]
    assert {len(e.items) for e in placed} <= set(range(1, 6)) and len({len(e.items) for e in placed}) >= 4
    assert all(len({i.sku for i in e.items}) == len(e.items) for e in placed)  # distinct SKUs per order
    # Payments and cancellations follow a few seconds later: those of the last seconds are cut off.
    assert len(paid) / len(placed) == pytest.approx(0.6 * 0.85, abs=0.08)
    assert len(cancelled) / len(placed) == pytest.approx(0.2 * 0.7, abs=0.06)
    kinds = Counter(e.kind for e in events if isinstance(e, InventoryEvent))
    # One reservation per order line (the lines of the very last order may be cut off by the end).
    assert 0 <= sum(len(e.items) for e in placed) - kinds[AdjustmentKind.RESERVATION] < 5
    assert kinds[AdjustmentKind.RELEASE] > 0 and kinds[AdjustmentKind.RESTOCK] > w.skus
    # Every release follows a cancellation of the same order, and a paid order was placed before.
    cancelled_ids = {e.order_id for e in cancelled}
    releases = [e for e in events if isinstance(e, InventoryEvent) and e.kind is AdjustmentKind.RELEASE]
    released = {e.order_id for e in releases}
    assert released <= cancelled_ids
    position = {e.event_id: i for i, e in enumerate(events)}
    placed_at = {e.order_id: position[e.event_id] for e in placed}
    assert all(placed_at[e.order_id] < position[e.event_id] for e in paid + cancelled)
    assert len({e.event_id for e in events}) == len(events)
    assert all(isinstance(e.event_id, UUID) and e.event_id.version == 4 for e in events[:100])


def test_model_agrees_with_the_sink_decisions_event_by_event() -> None:
    """The generator's prediction equals what consumers.decide.plan_batch decides for the same stream,
    and hot SKUs do sell out (so the oversell protection is exercised)."""
    gen = Generator(Workload(seed=5, namespace="d", skus=100, initial_stock=20))
    events = [e for _, e in itertools.chain(gen.preload(), gen.events(schedule(Steady(3000, 8))))]
    plan = plan_batch((Incoming(e, "t", 0, n) for n, e in enumerate(events)), set(), {}, {})
    rejected = [o for o in plan.outcomes if not o.applied]
    assert {o.code for o in rejected} == {"insufficient_stock"}
    assert len(rejected) == gen.model.prediction.rejected_reservations > 100
    assert all(level >= 0 for level in gen.model.levels.values())
    assert {k: v[0] for k, v in plan.stock.items()} == gen.model.levels
    # Releases give back only what was reserved: no SKU ends above its restocks.
    restocked = Counter[str]()
    for e in events:
        if isinstance(e, InventoryEvent) and e.kind is AdjustmentKind.RESTOCK:
            restocked[e.sku] += e.quantity
    assert all(level <= restocked[sku] for (sku, _), level in gen.model.levels.items())
