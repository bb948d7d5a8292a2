"""The compatibility checker's rules, and ``floodwall schemas check`` on the repository and broken copies."""

from __future__ import annotations

import copy
import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from floodwall.schemas.compat import CheckResult, check_released, problems
from floodwall.schemas.errors import SchemaError
from tests.helpers import floodwall

REPO_SCHEMAS = Path(__file__).resolve().parents[2] / "schemas"
Schema = dict[str, Any]


def base() -> Schema:
    """A small record using every kind of type the rules distinguish."""
    return {
        "type": "record",
        "name": "Event",
        "namespace": "test",
        "fields": [
            {"name": "id", "type": {"type": "string", "logicalType": "uuid"}},
            {"name": "count", "type": "int"},
            {"name": "kind", "type": {"type": "enum", "name": "Kind", "symbols": ["a", "b", "c"]}},
            {"name": "note", "type": ["null", "string", "int"], "default": None},
            {"name": "hash", "type": {"type": "fixed", "name": "Hash", "size": 16}},
            {"name": "items", "type": {"type": "array", "items": {
                "type": "record", "name": "Item", "fields": [{"name": "qty", "type": "int"}]}}},
            {"name": "attrs", "type": {"type": "map", "values": "long"}},
            {"name": "score", "type": "float"},
        ],
    }  # fmt: skip


def field(schema: Schema, name: str) -> dict[str, Any]:
    found: dict[str, Any] = next(f for f in schema["fields"] if f["name"] == name)
    return found


def changed(edit: Callable[[Schema], object]) -> Schema:
    schema = copy.deepcopy(base())
    edit(schema)
    return schema


def set_type(name: str, new_type: Any) -> Callable[[Schema], object]:
    return lambda s: field(s, name).__setitem__("type", new_type)


def item_qty(new_type: Any) -> Callable[[Schema], object]:
    return lambda s: field(s, "items")["type"]["items"]["fields"][0].__setitem__("type", new_type)


INCOMPATIBLE = [
    pytest.param(
        lambda s: s["fields"].append({"name": "extra", "type": "string"}),
        "Event.extra: field added without a default (the writer has no such field)",
        id="reader-adds-field-without-default",
    ),
    pytest.param(item_qty("string"), "Event.items[].qty: type changed from int to string", id="changed-type"),
    pytest.param(
        set_type("count", "boolean"), "Event.count: type changed from int to boolean", id="int-to-bool"
    ),
    pytest.param(set_type("score", "int"), "Event.score: type changed from float to int", id="no-demotion"),
    pytest.param(
        lambda s: field(s, "kind")["type"].__setitem__("symbols", ["a", "c"]),
        "Event.kind: enum test.Kind lost symbols ['b'] and has no default",
        id="removed-enum-symbol",
    ),
    pytest.param(
        set_type("note", ["null", "string"]),
        "Event.note: type int is not in reader union [null, string]",
        id="narrowed-union",
    ),
    pytest.param(
        lambda s: field(s, "hash")["type"].__setitem__("size", 32),
        "Event.hash: fixed test.Hash size changed from 16 to 32",
        id="fixed-size-change",
    ),
    pytest.param(
        lambda s: field(s, "hash")["type"].__setitem__("name", "Digest"),
        "Event.hash: fixed test.Hash(16) cannot be read as fixed test.Digest(16)",
        id="fixed-renamed",
    ),
    pytest.param(
        set_type("attrs", {"type": "map", "values": "int"}),
        "Event.attrs{}: type changed from long to int",
        id="map-values-narrowed",
    ),
    pytest.param(
        lambda s: s.__setitem__("name", "Renamed"),
        "Renamed: record test.Event cannot be read as record test.Renamed",
        id="record-renamed",
    ),
]

COMPATIBLE = [
    pytest.param(
        lambda s: s["fields"].append({"name": "extra", "type": ["null", "string"], "default": None}),
        id="added-field-with-default",
    ),
    pytest.param(item_qty("long"), id="int-to-long"),
    pytest.param(set_type("count", "double"), id="int-to-double"),
    pytest.param(set_type("score", "double"), id="float-to-double"),
    pytest.param(set_type("id", "bytes"), id="string-to-bytes"),
    pytest.param(
        lambda s: field(s, "kind")["type"].__setitem__("symbols", ["a", "b", "c", "d"]),
        id="added-enum-symbol",
    ),
    pytest.param(
        lambda s: field(s, "kind")["type"].update(symbols=["a", "other"], default="other"),
        id="removed-enum-symbol-with-reader-default",
    ),
    pytest.param(set_type("note", ["null", "string", "int", "bytes"]), id="widened-union"),
    pytest.param(set_type("note", ["null", "string", "long"]), id="union-branch-promoted"),
    pytest.param(set_type("count", ["null", "long"]), id="single-type-into-union"),
    pytest.param(lambda s: s["fields"].pop(1), id="removed-field"),
    pytest.param(lambda s: s.update(name="Renamed", aliases=["Event"]), id="record-renamed-with-alias"),
    pytest.param(
        lambda s: field(s, "count").update(name="total", aliases=["count"]), id="field-renamed-with-alias"
    ),
    pytest.param(set_type("id", "string"), id="logical-type-dropped"),
    pytest.param(lambda s: s["fields"].reverse(), id="fields-reordered"),
]


@pytest.mark.parametrize(("edit", "problem"), INCOMPATIBLE)
def test_incompatible_changes_are_caught(edit: Callable[[Schema], object], problem: str) -> None:
    assert problems(base(), changed(edit)) == [problem]


@pytest.mark.parametrize("edit", COMPATIBLE)
def test_compatible_changes_are_accepted(edit: Callable[[Schema], object]) -> None:
    assert problems(base(), changed(edit)) == []


def test_every_problem_is_reported() -> None:
    def edit(s: Schema) -> None:
        set_type("count", "string")(s)
        item_qty("string")(s)
        s["fields"].append({"name": "extra", "type": "int"})

    assert problems(base(), changed(edit)) == [
        "Event.count: type changed from int to string",
        "Event.items[].qty: type changed from int to string",
        "Event.extra: field added without a default (the writer has no such field)",
    ]


def test_union_writer_read_by_a_single_type_needs_every_branch_readable() -> None:
    assert problems(base(), changed(lambda s: field(s, "note").update(type="string", default=""))) == [
        "Event.note: writer union branch null cannot be read as string",
        "Event.note: writer union branch int cannot be read as string",
    ]
    assert problems(["int", "long"], "double") == []


def test_single_type_writer_must_fit_some_reader_branch() -> None:
    assert problems("string", ["null", "int"]) == ["<root>: type string is not in reader union [null, int]"]
    assert problems("int", ["null", "string", "long"]) == []


def test_recursive_types_terminate() -> None:
    node: Schema = {
        "type": "record",
        "name": "Node",
        "fields": [{"name": "value", "type": "int"}, {"name": "next", "type": ["null", "Node"]}],
    }
    assert problems(node, node) == []
    narrowed = copy.deepcopy(node)
    narrowed["fields"][0]["type"] = "string"
    assert problems(node, narrowed) == ["Node.value: type changed from int to string"]


def copy_schema_dirs(tmp_path: Path) -> tuple[Path, Path]:
    current, released = tmp_path / "avro", tmp_path / "released"
    shutil.copytree(REPO_SCHEMAS / "avro", current)
    shutil.copytree(REPO_SCHEMAS / "released", released)
    return current, released


def edit_current_order(current: Path, edit: Callable[[Schema], object]) -> None:
    path = current / "order_event.avsc"
    schema = json.loads(path.read_text())
    edit(schema)
    path.write_text(json.dumps(schema, indent=2))


def test_check_released_on_the_repository() -> None:
    results = check_released(REPO_SCHEMAS / "avro", REPO_SCHEMAS / "released")
    assert results == [CheckResult("inventory_event", 1, ()), CheckResult("order_event", 1, ())]
    assert all(result.ok for result in results)


def test_check_released_reports_a_released_name_without_current_schema(tmp_path: Path) -> None:
    current, released = copy_schema_dirs(tmp_path)
    (current / "inventory_event.avsc").unlink()
    results = check_released(current, released)
    assert [(r.name, r.ok) for r in results] == [("inventory_event", False), ("order_event", True)]
    assert "has no current schema inventory_event.avsc" in results[0].problems[0]


def test_check_released_rejects_an_invalid_directory(tmp_path: Path) -> None:
    with pytest.raises(SchemaError, match="does not exist"):
        check_released(tmp_path / "missing", REPO_SCHEMAS / "released")


def test_cli_check_passes_on_the_repository() -> None:
    result = floodwall("schemas", "check")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["inventory_event v1: ok", "order_event v1: ok"]


@pytest.mark.parametrize(
    ("edit", "problem"),
    [
        (
            lambda s: s["fields"][7]["type"]["items"]["fields"][1].__setitem__("type", "string"),
            "order_event v1: OrderEvent.items[].quantity: type changed from int to string",
        ),
        (
            lambda s: s["fields"].append({"name": "channel", "type": "string"}),
            "order_event v1: OrderEvent.channel: field added without a default",
        ),
    ],
)
def test_cli_check_fails_on_an_incompatible_change(
    tmp_path: Path, edit: Callable[[Schema], object], problem: str
) -> None:
    current, released = copy_schema_dirs(tmp_path)
    edit_current_order(current, edit)
    result = floodwall("schemas", "check", "--schemas-dir", str(current), "--released-dir", str(released))
    assert result.returncode == 1, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "inventory_event v1: ok"
    assert lines[1].startswith(problem), lines


def test_cli_check_reports_an_invalid_schema_as_an_error(tmp_path: Path) -> None:
    current, released = copy_schema_dirs(tmp_path)
    (current / "order_event.avsc").write_text("{")
    result = floodwall("schemas", "check", "--schemas-dir", str(current), "--released-dir", str(released))
    assert result.returncode == 1
    assert result.stderr.startswith("floodwall: error: cannot read schema")
    assert "Traceback" not in result.stderr
