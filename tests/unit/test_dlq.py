"""Dead letters without a broker: the record format and its truncation, selections and replay plans, the
back-off, the DLQ producer's failure on an unreachable broker, and the command's refusals (the real thing
runs in tests/integration/test_dlq.py)."""

from __future__ import annotations

import time
import uuid

import pytest

from floodwall.consumers import letters as L
from floodwall.consumers.dlq import DeadLetterFailed, DeadLetterQueue
from floodwall.consumers.dlq_plan import (
    Entry,
    NothingToReplay,
    Selection,
    SelectionRefused,
    age,
    event_id_of,
    parse_letter,
    parse_range,
    plan_replay,
    summarize,
)
from floodwall.consumers.dlqstall import MAX_BACKOFF_S, backoff_s
from floodwall.consumers.letters import DeadLetter, StoredLetter, record
from floodwall.events.model import OrderEvent, OrderItem
from floodwall.schemas.registry import SchemaRegistry
from tests.helpers import floodwall

ORIGINAL = (("traceparent", b"00-abc-01"), ("shop", b"eu"))


def order_bytes() -> tuple[bytes, str]:
    event = OrderEvent.placed(order_id=uuid.uuid4(), customer_id="c", region="eu", currency="EUR",
                              items=[OrderItem(sku="A", quantity=1, unit_price_minor=5)])  # fmt: skip
    return SchemaRegistry.default().encoder("order_event")(event.to_record()), str(event.event_id)


def letter(value: bytes = b"\x00junk", **extra: object) -> DeadLetter:
    fields: dict[str, object] = {"topic": "orders", "partition": 3, "offset": 120, "key": b"k",
                                 "value": value, "error_class": "MalformedMessage", "message": "x" * 5000,
                                 "headers": ORIGINAL, "timestamp_ms": 1_700_000_000_000, **extra}  # fmt: skip
    return DeadLetter(**fields)  # type: ignore[arg-type]


def stored(
    value: bytes, headers: list[tuple[str, str | bytes | None]], p: int = 0, o: int = 0
) -> StoredLetter:
    as_bytes = tuple((k, v.encode() if isinstance(v, str) else v) for k, v in headers)
    return StoredLetter(p, o, 1_700_000_000_000, b"k", value, as_bytes)


# ---- the record -----------------------------------------------------------------------------------


def test_a_dead_letter_carries_the_original_headers_first_then_where_from_why_and_the_fingerprint() -> None:
    value, event_id = order_bytes()
    body, headers = record(letter(value, event_id=event_id), "sink", now_ms=1_700_000_500_000)
    assert body == value
    assert headers[:2] == list(ORIGINAL)
    back = stored(body, headers)
    assert (back.source_topic, back.source_partition, back.source_offset) == ("orders", 3, 120)
    assert back.header(L.SOURCE_TIMESTAMP) == "1700000000000"
    assert back.header(L.SCHEMA_FINGERPRINT) == value[2:10].hex()
    assert back.header(L.EVENT_ID) == event_id
    assert back.header(L.CONSUMER_GROUP) == "sink"
    assert back.dead_lettered_ms == 1_700_000_500_000
    assert len(back.header(L.ERROR_MESSAGE) or "") == L.MAX_ERROR_MESSAGE
    assert back.truncated is None
    assert back.original_headers() == list(ORIGINAL)  # what a replay sends back


def test_no_fingerprint_header_for_bytes_without_avro_framing() -> None:
    _, headers = record(letter(b"\x00junk"), "sink", now_ms=0)
    assert L.SCHEMA_FINGERPRINT not in dict(headers)


def test_an_oversized_letter_is_cut_to_a_prefix_then_to_nothing_and_says_where_the_original_is() -> None:
    big = b"\xc3\x01" + b"\x11" * 8 + b"z" * 2_000_000
    value, headers = record(letter(big), "sink", now_ms=0, stage=1)
    assert value == big[: L.TRUNCATED_PREFIX]
    back = stored(value, headers)
    assert back.truncated == "value" and back.header(L.ORIGINAL_SIZE) == str(len(big))
    assert back.header(L.SCHEMA_FINGERPRINT) == "11" * 8  # read from the original, not the prefix
    assert back.source == "orders[3]@120" and back.original_headers() == list(ORIGINAL)
    value, headers = record(letter(big), "sink", now_ms=0, stage=L.LAST_STAGE)
    back = stored(value, headers)
    assert value == b"" and back.truncated == "value+headers" and back.original_headers() == []
    assert back.source == "orders[3]@120"


def test_a_forged_floodwall_header_in_the_original_loses_to_ours_and_is_not_replayed() -> None:
    forged = letter(headers=(("floodwall.source.topic", b"payments"),))
    back = stored(*record(forged, "sink", now_ms=0))
    assert back.source_topic == "orders"
    assert back.original_headers() == []


# ---- the DLQ producer -----------------------------------------------------------------------------


def test_an_unreachable_dlq_is_a_dead_letter_failure_naming_the_partitions_not_a_crash() -> None:
    dlq = DeadLetterQueue("127.0.0.1:1", "dlq", "sink", timeout_s=1.0)
    started = time.monotonic()
    with pytest.raises(DeadLetterFailed) as failed:
        dlq.send(
            [letter(), letter(partition=5), letter(value=b"x" * 2_000_000)]
        )  # one over message.max.bytes
    assert failed.value.partitions == {("orders", 3), ("orders", 5)}
    assert "3 dead letter(s) not written" in str(failed.value)
    assert time.monotonic() - started < 10


def test_a_full_producer_queue_is_waited_on_until_the_timeout_then_a_dead_letter_failure() -> None:
    """A queue of one message and no broker to drain it: the second letter meets a full queue
    (BufferError inside the client); it is retried until the send's timeout, never raised."""
    dlq = DeadLetterQueue(
        "127.0.0.1:1", "dlq", "sink", connection={"queue.buffering.max.messages": "1"}, timeout_s=1.0
    )
    with pytest.raises(DeadLetterFailed) as failed:
        dlq.send([letter(), letter(partition=5), letter(partition=6)])
    assert failed.value.partitions == {("orders", 3), ("orders", 5), ("orders", 6)}


# ---- list -----------------------------------------------------------------------------------------


def test_summaries_group_by_reason_with_counts_and_ages() -> None:
    def at(ms: int, cls: str, topic: str = "orders", cut: bool = False) -> StoredLetter:
        headers: list[tuple[str, str | bytes | None]] = [
            (L.ERROR_CLASS, cls), (L.SOURCE_TOPIC, topic), (L.DEAD_LETTERED_AT, str(ms))]  # fmt: skip
        return stored(b"", headers + ([(L.TRUNCATED, "value")] if cut else []))

    rows = summarize([at(5, "A"), at(1, "B"), at(9, "B", "inventory", cut=True), at(3, "B")])
    assert [(r.error_class, r.count, r.oldest_ms, r.newest_ms, r.truncated) for r in rows] == [
        ("B", 3, 1, 9, 1), ("A", 1, 5, 5, 0)]  # fmt: skip
    assert rows[0].source_topics == {"orders", "inventory"}
    day = 86_400_000
    assert [age(0, n) for n in (40_000, 7 * 60_000, 2 * 3_600_000 + 5 * 60_000, 3 * day + 4 * 3_600_000)] == [
        "40s", "7m", "2h 5m", "3d 4h"]  # fmt: skip
    assert age(None, 0) == "-"


# ---- selections and replay plans ------------------------------------------------------------------


def entry(p: int, o: int, topic: str = "orders", src: tuple[int, int] = (0, 0),
          cls: str = "UnknownFingerprint", value: bytes = b"v", event_id: str | None = None,
          cut: bool = False) -> Entry:  # fmt: skip
    headers: list[tuple[str, str | bytes | None]] = [
        (L.SOURCE_TOPIC, topic), (L.SOURCE_PARTITION, str(src[0])), (L.SOURCE_OFFSET, str(src[1])),
        (L.ERROR_CLASS, cls)]  # fmt: skip
    if cut:
        headers.append((L.TRUNCATED, "value"))
    return Entry(stored(value, headers, p, o), event_id)


EVENT_TOPICS = {"orders", "inventory"}


@pytest.mark.parametrize(
    ("selection", "says"),
    [
        (Selection(), "say what to replay"),
        (Selection(everything=True, reasons=("X",)), "cannot be combined"),
        (Selection(source_partition=3), "ambiguous without --source-topic"),
        (
            Selection(source_topic="orders", source_offsets=(1, 5)),
            "give --source-topic and --source-partition",
        ),
        (Selection(event_ids=("not-a-uuid",)), "is not a UUID"),
    ],
)
def test_empty_or_ambiguous_selections_are_refused(selection: Selection, says: str) -> None:
    with pytest.raises(SelectionRefused, match=says):
        plan_replay([entry(0, 0)], selection, EVENT_TOPICS)


def test_a_selection_combines_reason_source_partition_and_offset_range() -> None:
    entries = [entry(0, 0, src=(1, 10)), entry(0, 1, src=(1, 20)), entry(0, 2, src=(2, 15)),
               entry(1, 0, src=(1, 15), cls="EventValidationError"),
               entry(1, 1, "inventory", src=(1, 15))]  # fmt: skip
    chosen = Selection(reasons=("UnknownFingerprint",), source_topic="orders", source_partition=1,
                       source_offsets=(10, 15))  # fmt: skip
    plan = plan_replay(entries, chosen, EVENT_TOPICS)
    assert [e.letter.coordinates for e in plan.replay] == ["0@0"]
    by_letter = plan_replay(entries, Selection(letters=((1, 1), (0, 2))), EVENT_TOPICS)
    assert [e.letter.coordinates for e in by_letter.replay] == ["1@1", "0@2"]  # in source (topic) order


def test_copies_of_one_source_record_or_one_event_are_replayed_once() -> None:
    event_id = str(uuid.uuid4())
    entries = [entry(0, 5, src=(1, 7), event_id=event_id), entry(1, 9, src=(1, 7), event_id=event_id),
               entry(2, 3, src=(4, 2), event_id=event_id.upper())]  # fmt: skip
    plan = plan_replay(entries, Selection(event_ids=(event_id,)), EVENT_TOPICS)
    assert [e.letter.coordinates for e in plan.replay] == ["0@5"]
    assert [s.reason for s in plan.skipped] == [
        "a copy of dead letter 0@5",
        "the same event as dead letter 0@5",
    ]


def test_one_event_id_on_two_different_records_is_ambiguous() -> None:
    event_id = str(uuid.uuid4())
    entries = [entry(0, 1, src=(0, 1), value=b"a", event_id=event_id),
               entry(0, 2, src=(0, 2), value=b"b", event_id=event_id)]  # fmt: skip
    with pytest.raises(SelectionRefused, match="two different records"):
        plan_replay(entries, Selection(everything=True), EVENT_TOPICS)


def test_nothing_matching_is_an_error_and_nothing_is_sent() -> None:
    with pytest.raises(NothingToReplay, match="no dead letter matches"):
        plan_replay([entry(0, 0)], Selection(reasons=("Nope",)), EVENT_TOPICS)
    with pytest.raises(NothingToReplay, match="none replayable"):
        plan_replay([entry(0, 0, cut=True)], Selection(everything=True), EVENT_TOPICS)


def test_event_ids_come_from_the_header_or_from_decoding_the_value() -> None:
    value, event_id = order_bytes()
    registry = SchemaRegistry.default()
    assert event_id_of(stored(value, []), registry) == event_id
    assert event_id_of(stored(b"junk", [(L.EVENT_ID, "from-header")]), registry) == "from-header"
    assert event_id_of(stored(b"junk", []), registry) is None


def test_ranges_and_letter_coordinates_parse_or_say_why_not() -> None:
    assert parse_range("10-20") == (10, 20) and parse_range("7") == (7, 7)
    assert parse_letter("0@42") == (0, 42)
    for bad in ("20-10", "a-b", "-1"):
        with pytest.raises(ValueError):
            parse_range(bad)
    for bad in ("42", "0@", "x@1", "-1@2"):
        with pytest.raises(ValueError):
            parse_letter(bad)


def test_the_back_off_doubles_up_to_its_ceiling() -> None:
    assert [backoff_s(n) for n in (1, 2, 3)] == [10.0, 20.0, 40.0]
    assert backoff_s(30) == MAX_BACKOFF_S


# ---- the command's refusals -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (("replay",), "say what to replay"),
        (("replay", "--source-partition", "3"), "ambiguous without --source-topic"),
        (("replay", "--all", "--reason", "X"), "cannot be combined"),
        (("show",), "give either a dead letter P@O or --event-id"),
        (("show", "--event-id", "nope"), "is not a UUID"),
    ],
)
def test_refused_selections_end_in_one_line_exit_2_before_any_io(args: tuple[str, ...], says: str) -> None:
    result = floodwall("dlq", *args, "--bootstrap-servers", "127.0.0.1:1", timeout=60)
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith("floodwall: error: ") and says in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_an_unreachable_broker_is_one_line_exit_1() -> None:
    result = floodwall("dlq", "list", "--bootstrap-servers", "127.0.0.1:1", "--dlq-command-timeout-s", "2",
                       timeout=60)  # fmt: skip
    assert result.returncode == 1, result.stderr
    assert "127.0.0.1:1" in result.stderr and "Traceback" not in result.stderr
