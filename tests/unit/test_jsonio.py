"""Events from JSON lines, as `floodwall produce` reads them."""

from __future__ import annotations

import io
import json
from pathlib import Path
from uuid import UUID, uuid4

import pytest

from floodwall.errors import ConfigError
from floodwall.events.model import InventoryEvent, OrderEvent
from floodwall.events.validation import EventValidationError
from floodwall.producers.event_ids import EventIds, IdScheme, namespace_for
from floodwall.producers.jsonio import event_from_json
from floodwall.producers.jsonlines import BadLine, ParsedLine, read_json_lines, shorten

ORDER = "6f1c5c4e-1d2b-4c8e-9a57-3f6e2b7d9a10"


def problems_of(obj: object) -> dict[str, str]:
    with pytest.raises(EventValidationError) as err:
        event_from_json(obj)
    return {p.path: p.message for p in err.value.problems}


def test_placed_order_from_json() -> None:
    line = json.dumps(
        {
            "type": "order.placed",
            "order_id": ORDER,
            "customer_id": "c-1",
            "region": "eu",
            "currency": "EUR",
            "occurred_at": "2026-11-22T10:00:00+00:00",
            "items": [{"sku": "A", "quantity": 2, "unit_price_minor": 150}],
        }
    )
    event = event_from_json(json.loads(line))
    assert isinstance(event, OrderEvent)
    assert event.order_id == UUID(ORDER) and event.amount_minor == 300 and event.items[0].sku == "A"
    assert event.occurred_at.isoformat() == "2026-11-22T10:00:00+00:00"


def test_reservation_from_json() -> None:
    event = event_from_json(
        {"type": "inventory.reservation", "sku": "A", "warehouse": "w", "quantity": 1, "order_id": ORDER}
    )
    assert isinstance(event, InventoryEvent) and event.order_id == UUID(ORDER)


def test_missing_unknown_and_float_fields_are_named() -> None:
    found = problems_of(
        {
            "type": "order.placed",
            "customer_id": "c",
            "region": "eu",
            "currency": "EUR",
            "colour": "red",
            "items": [{"sku": "A", "quantity": 1, "unit_price_minor": 1.5}],
        }
    )
    assert set(found) == {"order_id", "colour", "items[0].unit_price_minor"}
    assert found["order_id"] == "is required (a UUID)" and found["colour"] == "unknown field"


def test_bad_type_and_bad_timestamp() -> None:
    assert set(problems_of({"type": "order.shipped"})) == {"type"}
    assert set(problems_of([1, 2])) == {"line"}
    found = problems_of(
        {
            "type": "inventory.restock",
            "sku": "A",
            "warehouse": "w",
            "quantity": 1,
            "occurred_at": "yesterday",
            "event_id": "nope",
        }
    )
    assert set(found) == {"occurred_at", "event_id"}


def test_a_lone_surrogate_in_any_text_field_is_named() -> None:
    found = problems_of({"type": "inventory.restock", "sku": "A\ud800", "warehouse": "w", "quantity": 1})
    assert set(found) == {"sku"} and "lone surrogate" in found["sku"]
    found = problems_of({"type": "order.cancelled", "order_id": ORDER, "customer_id": "c", "region": "eu",
                         "currency": "EUR", "reason": "\udfff"})  # fmt: skip
    assert set(found) == {"reason"}


# ---- reading lines: every line decoded or refused with its number --------------------------------


def read(data: bytes, max_line_bytes: int = 100) -> list[ParsedLine | BadLine]:
    return list(read_json_lines(io.BytesIO(data), max_line_bytes))


def test_lines_keep_their_numbers_across_blank_bad_and_over_long_lines() -> None:
    data = b"\xef\xbb\xbf{}\r\n\n   \n" + b'"' + b"x" * 500 + b'"\n[1]\n\xff\n{"a": 1}'
    got = read(data)
    assert [(type(line).__name__, line.number) for line in got] == [
        ("ParsedLine", 1), ("BadLine", 4), ("ParsedLine", 5), ("BadLine", 6), ("ParsedLine", 7)]  # fmt: skip
    assert got[1] == BadLine(4, "longer than 100 bytes (502 bytes); not read")
    assert got[3] == BadLine(6, "not valid UTF-8 (byte 0xff at byte 1)")
    assert got[4] == ParsedLine(7, {"a": 1})  # the last line needs no line break


def test_a_line_of_exactly_the_limit_is_read() -> None:
    exact = b'"' + b"y" * 98 + b'"'
    assert read(exact + b"\r\n" + exact + b"z\n") == [
        ParsedLine(1, "y" * 98),
        BadLine(2, "longer than 100 bytes (101 bytes); not read"),
    ]


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        (b'{"q": 1' + b"2" * 40 + b"}", "not accepted: an integer of 41 digits (at most 32)"),
        (b"[" * 5000 + b"]" * 5000, "not accepted: JSON nested too deeply"),
        (b'{"q": NaN}', "not JSON (NaN is not a JSON number)"),
        (b'{"q": -Infinity}', "not JSON (-Infinity is not a JSON number)"),
        (b"{nope", "not JSON (Expecting property name enclosed in double quotes at column 2)"),
    ],
)
def test_hostile_json_is_a_bad_line_not_an_exception(line: bytes, reason: str) -> None:
    assert read(line + b"\n", max_line_bytes=1 << 20) == [BadLine(1, reason)]


def test_shorten_caps_and_escapes_what_it_echoes() -> None:
    assert shorten("a" * 400).endswith("… (100 more characters)") and len(shorten("a" * 400)) < 330
    assert shorten("\x1b[2J\ud800 é") == "\\x1b[2J\\ud800 é"


# ---- event ids: random, or derived from the line --------------------------------------------------


def restock(quantity: int) -> dict[str, object]:
    return {"type": "inventory.restock", "sku": "A", "warehouse": "w", "quantity": quantity}


def ids_of(scheme: EventIds, objs: list[dict[str, object]]) -> list[UUID]:
    return [event_from_json(obj, scheme.for_line(obj)).event_id for obj in objs]


def test_content_ids_repeat_on_a_rerun_and_keep_identical_lines_apart() -> None:
    namespace = uuid4()
    first = ids_of(EventIds(IdScheme.CONTENT, namespace), [restock(1), restock(1), restock(2)])
    assert len(set(first)) == 3  # two identical restocks stay two events
    # Re-run, with key order changed and a line inserted before them: the same ids.
    reordered = {"quantity": 1, "warehouse": "w", "sku": "A", "type": "inventory.restock"}
    again = ids_of(EventIds(IdScheme.CONTENT, namespace), [restock(7), reordered, restock(1), restock(2)])
    assert again[1:] == first
    assert set(ids_of(EventIds(IdScheme.CONTENT, uuid4()), [restock(1)])).isdisjoint(first)


def test_a_lines_own_event_id_wins_and_random_ids_differ() -> None:
    own = str(uuid4())
    assert ids_of(EventIds(IdScheme.CONTENT, uuid4()), [{**restock(1), "event_id": own}]) == [UUID(own)]
    random = EventIds(IdScheme.RANDOM)
    assert ids_of(random, [restock(1)]) != ids_of(random, [restock(1)])


def test_the_namespace_comes_from_the_resolved_path_or_the_given_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "a.jsonl").write_text("")
    (tmp_path / "link.jsonl").symlink_to(tmp_path / "a.jsonl")
    monkeypatch.chdir(tmp_path)
    by_path = namespace_for(None, str(tmp_path / "a.jsonl"))[0]
    assert namespace_for(None, "a.jsonl")[0] == namespace_for(None, "link.jsonl")[0] == by_path
    assert namespace_for(None, str(tmp_path / "b.jsonl"))[0] != by_path
    assert namespace_for("batch-7", "-")[0] == namespace_for("batch-7", "a.jsonl")[0] != by_path
    given = str(uuid4())
    assert namespace_for(given, "-")[0] == UUID(given)
    with pytest.raises(ConfigError, match="needs --id-namespace"):
        namespace_for(None, "-")
