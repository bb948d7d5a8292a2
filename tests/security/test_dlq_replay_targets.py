"""A dead letter names its own source topic in a header, and anyone who can write to the dead-letter topic
can forge one: replay must send nothing anywhere but Floodwall's event topics."""

from __future__ import annotations

import pytest

from floodwall.consumers import letters as L
from floodwall.consumers.dlq_plan import Entry, NothingToReplay, Selection, plan_replay
from floodwall.consumers.letters import DeadLetter, StoredLetter, record


def forged(source_topic: str, offset: int) -> Entry:
    headers: tuple[tuple[str, bytes | None], ...] = (
        (L.SOURCE_TOPIC, source_topic.encode()), (L.SOURCE_PARTITION, b"0"),
        (L.SOURCE_OFFSET, str(offset).encode()), (L.ERROR_CLASS, b"MalformedMessage"))  # fmt: skip
    return Entry(StoredLetter(0, offset, None, None, b"payload", headers), None)


def test_letters_naming_any_other_source_topic_are_never_replayed() -> None:
    entries = [forged("__consumer_offsets", 1), forged("payments", 2), forged("orders", 3)]
    plan = plan_replay(entries, Selection(everything=True), {"orders", "inventory"})
    assert [e.letter.source_topic for e in plan.replay] == ["orders"]
    assert all("is not an event topic" in s.reason for s in plan.skipped) and len(plan.skipped) == 2
    with pytest.raises(NothingToReplay):
        plan_replay(entries[:2], Selection(everything=True), {"orders", "inventory"})


def test_an_original_header_cannot_redirect_a_replay() -> None:
    letter = DeadLetter("orders", 0, 7, None, b"v", "MalformedMessage", "m",
                        headers=((L.SOURCE_TOPIC, b"payments"), (L.SOURCE_OFFSET, b"1")))  # fmt: skip
    value, headers = record(letter, "sink", now_ms=0)
    back = StoredLetter(0, 0, None, None, value, tuple((k, v if isinstance(v, bytes) else None)
                                                       for k, v in headers))  # fmt: skip
    assert back.source_topic == "orders" and back.source_offset == 7
    assert back.original_headers() == []  # the forged ones are Floodwall's names: stripped on replay
