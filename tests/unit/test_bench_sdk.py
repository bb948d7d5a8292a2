"""``floodwall bench sdk``: the batch mode's chunking and the per-event cost split, without a broker."""

from __future__ import annotations

from typing import Any, cast

import pytest

from floodwall.events.model import OrderEvent
from floodwall.producers.bench import _send, cost_split, make_orders
from floodwall.producers.producer import EventProducer


class Recorder:
    """Stands in for the producer: records what it was handed, returns one marker per event."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, int]] = []

    def emit(self, event: OrderEvent) -> object:
        self.calls.append(("emit", 1))
        return event.event_id

    def emit_many(self, events: list[OrderEvent]) -> list[object]:
        self.calls.append(("emit_many", len(events)))
        return [e.event_id for e in events]


@pytest.mark.parametrize(
    ("batch", "calls"), [(0, [("emit", 1)] * 7), (3, [("emit_many", 3)] * 2 + [("emit_many", 1)])]
)
def test_the_batch_mode_sends_every_event_once_in_order_in_chunks(
    batch: int, calls: list[tuple[str, int]]
) -> None:
    events = make_orders(7)
    recorder = Recorder()
    handles = _send(cast(EventProducer, recorder), events, batch)
    assert recorder.calls == calls
    assert cast(list[Any], handles) == [e.event_id for e in events]


def test_the_cost_split_adds_up_to_the_sdk_total() -> None:
    split = cost_split(make_orders(200), sdk_us=1000.0, raw_us=4.0)
    assert split["validate"] > 0 and split["encode_to_record"] > 0 and split["encode_fastavro"] > 0
    assert split["encode"] == pytest.approx(split["encode_to_record"] + split["encode_fastavro"], abs=0.02)
    assert split["validate"] + split["encode"] + split["produce_deliver"] == pytest.approx(1000.0, abs=0.02)
    assert split["total"] == 1000.0 and split["raw_total"] == 4.0
