"""Can data written with schema W be read with schema R? The Avro specification's schema-resolution rules.

https://avro.apache.org/docs/1.12.0/specification/#schema-resolution. A new reader must read everything
already in Kafka, so every current schema is checked as reader against every released version as writer.
Schemas are compared in fastavro's parsed form, where names are full names and a named type used again is a
reference by full name. Logical types are ignored: resolution works on the underlying types.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from importlib.resources.abc import Traversable
from typing import Any

from fastavro.schema import parse_schema

from floodwall.schemas.registry import load_current, load_released

_PRIMITIVES = frozenset({"null", "boolean", "int", "long", "float", "double", "string", "bytes"})
# writer type -> reader types it can be read as, besides itself.
_PROMOTIONS = {
    "int": {"long", "float", "double"},
    "long": {"float", "double"},
    "float": {"double"},
    "string": {"bytes"},
    "bytes": {"string"},
}


@dataclass(frozen=True)
class CheckResult:
    """The outcome for one released version of a schema: the problems reading its data with the current
    schema of the same name (empty when compatible)."""

    name: str
    version: int
    problems: tuple[str, ...]

    @property
    def ok(self) -> bool:
        """True when the current schema can read all data of this released version."""
        return not self.problems


class _Context:
    """The named types of both schemas, and the record pairs already being compared (recursive types)."""

    def __init__(self, writer: Mapping[str, Any], reader: Mapping[str, Any]) -> None:
        self.writer_named: Mapping[str, Any] = writer.get("__named_schemas", {})
        self.reader_named: Mapping[str, Any] = reader.get("__named_schemas", {})
        self.seen: set[tuple[str, str]] = set()


def problems(writer: Any, reader: Any) -> list[str]:
    """Why data written with ``writer`` cannot be read with ``reader`` (raw JSON or fastavro-parsed schemas),
    one human-readable line each, prefixed with a path such as ``OrderEvent.items[].quantity``; an empty list
    means it can. Raises fastavro's SchemaParseException/UnknownType for an invalid schema."""
    writer, reader = parse_schema(writer), parse_schema(reader)
    ctx = _Context(writer if isinstance(writer, dict) else {}, reader if isinstance(reader, dict) else {})
    root = _short(reader["name"]) if isinstance(reader, dict) and "name" in reader else "<root>"
    return _check(writer, reader, root, ctx)


def _resolve(schema: Any, named: Mapping[str, Any]) -> Any:
    if isinstance(schema, str) and schema not in _PRIMITIVES:
        return named[schema]
    if isinstance(schema, dict) and schema["type"] in _PRIMITIVES:
        return schema["type"]  # {"type": "long", "logicalType": ...} resolves as plain long
    return schema


def _kind(schema: Any) -> str:
    if isinstance(schema, list):
        return "union"
    return schema if isinstance(schema, str) else str(schema["type"])


def _short(full_name: str) -> str:
    return full_name.rpartition(".")[2]


def _describe(schema: Any) -> str:
    kind = _kind(schema)
    if kind == "union":
        return "union [" + ", ".join(_describe_ref(branch) for branch in schema) + "]"
    if kind in ("record", "enum"):
        return f"{kind} {schema['name']}"
    if kind == "fixed":
        return f"fixed {schema['name']}({schema['size']})"
    if kind == "array":
        return f"array of {_describe_ref(schema['items'])}"
    if kind == "map":
        return f"map of {_describe_ref(schema['values'])}"
    return kind


def _describe_ref(schema: Any) -> str:
    # Inside a union or container a named type is shown by name only, whether defined there or referenced.
    if isinstance(schema, dict) and "name" in schema:
        return str(schema["name"])
    return schema if isinstance(schema, str) else _describe(schema)


def _names(schema: Mapping[str, Any]) -> set[str]:
    """The full name of a named type and its aliases (relative aliases are in the type's namespace)."""
    namespace = schema["name"].rpartition(".")[0]
    aliases = {a if "." in a or not namespace else f"{namespace}.{a}" for a in schema.get("aliases", [])}
    return {schema["name"], *aliases}


def _matches(writer: Any, reader: Any) -> bool:
    """The specification's shallow "match": which reader union branch a writer value goes to."""
    w, r = _kind(writer), _kind(reader)
    if w != r:
        return r in _PROMOTIONS.get(w, set())
    if w in ("record", "enum", "fixed"):
        return writer["name"] in _names(reader)
    return True


def _check(writer: Any, reader: Any, path: str, ctx: _Context) -> list[str]:
    writer, reader = _resolve(writer, ctx.writer_named), _resolve(reader, ctx.reader_named)
    w, r = _kind(writer), _kind(reader)
    if w == "union":
        # Every value the writer may have written must be readable.
        found: list[str] = []
        for branch in writer:
            if r == "union" or _matches(_resolve(branch, ctx.writer_named), reader):
                found += _check(branch, reader, path, ctx)
            else:
                branch_text = _describe_ref(branch)
                found.append(
                    f"{path}: writer union branch {branch_text} cannot be read as {_describe(reader)}"
                )
        return found
    if r == "union":
        for branch in reader:
            resolved = _resolve(branch, ctx.reader_named)
            if _matches(writer, resolved):
                # The first matching branch is the one used; a deeper mismatch there is an error.
                return _check(writer, resolved, path, ctx)
        return [f"{path}: type {_describe(writer)} is not in reader {_describe(reader)}"]
    if not _matches(writer, reader):
        if w == r:  # same kind of named type, different name or size
            return [f"{path}: {_describe(writer)} cannot be read as {_describe(reader)}"]
        return [f"{path}: type changed from {_describe(writer)} to {_describe(reader)}"]
    if w == "record":
        return _check_record(writer, reader, path, ctx)
    if w == "enum":
        if "default" in reader:
            return []
        missing = [s for s in writer["symbols"] if s not in reader["symbols"]]
        if missing:
            return [f"{path}: enum {reader['name']} lost symbols {missing} and has no default"]
        return []
    if w == "fixed" and writer["size"] != reader["size"]:
        return [f"{path}: fixed {reader['name']} size changed from {writer['size']} to {reader['size']}"]
    if w == "array":
        return _check(writer["items"], reader["items"], f"{path}[]", ctx)
    if w == "map":
        return _check(writer["values"], reader["values"], f"{path}{{}}", ctx)
    return []


def _check_record(
    writer: Mapping[str, Any], reader: Mapping[str, Any], path: str, ctx: _Context
) -> list[str]:
    pair = (writer["name"], reader["name"])
    if pair in ctx.seen:
        return []  # already being compared further up: a recursive type is compatible if the rest is
    ctx.seen.add(pair)
    written = {field["name"]: field for field in writer["fields"]}
    found: list[str] = []
    for field in reader["fields"]:
        source = next(
            (written[n] for n in [field["name"], *field.get("aliases", [])] if n in written),
            None,
        )
        field_path = f"{path}.{field['name']}"
        if source is not None:
            found += _check(source["type"], field["type"], field_path, ctx)
        elif "default" not in field:
            found.append(f"{field_path}: field added without a default (the writer has no such field)")
    return found


def check_released(current_dir: Traversable, released_dir: Traversable) -> list[CheckResult]:
    """One result per released schema: can the current schema of the same name read its data?

    A released schema with no current schema of its name is reported as a problem. Raises SchemaError if a
    schema file or directory is missing or invalid."""
    current = load_current(current_dir)
    results: list[CheckResult] = []
    for old in load_released(released_dir):
        new = current.get(old.name)
        found: tuple[str, ...]
        if new is None:
            found = (f"{old.name}: released v{old.version} has no current schema {old.name}.avsc",)
        else:
            found = tuple(problems(old.parsed, new.parsed))
        results.append(CheckResult(old.name, old.version or 0, found))
    return results
