"""Single-object framing, checked against the Avro specification and fastavro.

The CRC-64-AVRO fingerprint and the Parsing Canonical Form are implemented here independently, straight from
the specification, so the header bytes are not merely compared with what fastavro computes.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from fastavro.schema import to_parsing_canonical_form

from floodwall.schemas.errors import MalformedMessage
from floodwall.schemas.framing import HEADER_LEN, MARKER, fingerprint64, frame, split

AVRO_DIR = Path(__file__).resolve().parents[2] / "schemas" / "avro"

# https://avro.apache.org/docs/1.12.0/specification/#schema-fingerprints
EMPTY = 0xC15D213AA4D7A795
MASK = (1 << 64) - 1


def _fp_table() -> list[int]:
    table = []
    for i in range(256):
        fp = i
        for _ in range(8):
            fp = (fp >> 1) ^ (EMPTY & -(fp & 1))
        table.append(fp & MASK)
    return table


FP_TABLE = _fp_table()
PRIMITIVES = {"null", "boolean", "int", "long", "float", "double", "string", "bytes"}


def crc64_avro(data: bytes) -> bytes:
    """The specification's fingerprint64, as the 8 little-endian bytes of the single-object header."""
    fp = EMPTY
    for byte in data:
        fp = (fp >> 8) ^ FP_TABLE[(fp ^ byte) & 0xFF]
    return fp.to_bytes(8, "little")


def canonical_form(schema: Any, namespace: str = "") -> str:
    """The specification's Parsing Canonical Form ([PRIMITIVES], [FULLNAMES], [STRIP], [ORDER], [STRINGS],
    [WHITESPACE]) for schemas that define each named type once."""

    def text(value: object) -> str:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))

    if isinstance(schema, str):
        full = schema if schema in PRIMITIVES or "." in schema or not namespace else f"{namespace}.{schema}"
        return text(full)
    if isinstance(schema, list):
        return "[" + ",".join(canonical_form(branch, namespace) for branch in schema) + "]"
    kind = schema["type"]
    if kind in PRIMITIVES:
        return text(kind)
    if kind == "array":
        return '{"type":"array","items":' + canonical_form(schema["items"], namespace) + "}"
    if kind == "map":
        return '{"type":"map","values":' + canonical_form(schema["values"], namespace) + "}"
    name = schema["name"]
    if "." in name:
        full, namespace = name, name.rpartition(".")[0]
    else:
        namespace = schema.get("namespace", namespace)
        full = f"{namespace}.{name}" if namespace else name
    parts = [f'"name":{text(full)}', f'"type":{text(kind)}']
    if kind == "record":
        fields = [
            f'{{"name":{text(f["name"])},"type":{canonical_form(f["type"], namespace)}}}'
            for f in schema["fields"]
        ]
        parts.append('"fields":[' + ",".join(fields) + "]")
    elif kind == "enum":
        parts.append(f'"symbols":{text(schema["symbols"])}')
    else:
        parts.append(f'"size":{schema["size"]}')
    return "{" + ",".join(parts) + "}"


def hand_fingerprint(schema: Any) -> bytes:
    return crc64_avro(canonical_form(schema).encode("utf-8"))


def load(name: str) -> dict[str, Any]:
    raw: dict[str, Any] = json.loads((AVRO_DIR / f"{name}.avsc").read_text())
    return raw


def test_crc64_avro_matches_known_values_and_fastavro() -> None:
    assert crc64_avro(b'"int"').hex() == "8f5c393f1ad57572"
    assert crc64_avro(b'"null"').hex() == "8a8f25cce724dd63"
    for primitive in sorted(PRIMITIVES):
        assert fingerprint64(primitive) == crc64_avro(json.dumps(primitive).encode())


@pytest.mark.parametrize("name", ["order_event", "inventory_event"])
def test_fingerprint_of_repo_schemas_matches_the_specification(name: str) -> None:
    raw = load(name)
    assert canonical_form(raw) == to_parsing_canonical_form(raw)
    assert fingerprint64(raw) == hand_fingerprint(raw)
    assert len(fingerprint64(raw)) == 8


def test_fingerprint_ignores_docs_defaults_and_logical_types_but_not_types() -> None:
    raw = load("order_event")
    documented = json.loads(json.dumps(raw))
    documented["doc"] = "something else"
    documented["fields"][0]["type"] = "string"  # uuid logical type dropped
    assert fingerprint64(documented) == fingerprint64(raw)
    retyped = json.loads(json.dumps(raw))
    retyped["fields"][8]["type"] = "int"  # amount_minor long -> int
    assert fingerprint64(retyped) != fingerprint64(raw)


def test_frame_and_split_round_trip() -> None:
    fp, body = bytes(range(8)), b"\x02\x04body"
    message = frame(fp, body)
    assert message[:2] == b"\xc3\x01" == MARKER
    assert message[2:HEADER_LEN] == fp
    assert split(message) == (fp, body)
    assert split(frame(fp, b"")) == (fp, b"")


def test_frame_rejects_a_fingerprint_of_the_wrong_length() -> None:
    with pytest.raises(ValueError, match="8 bytes"):
        frame(b"\x01\x02", b"")


@pytest.mark.parametrize(
    ("message", "reason"),
    [
        (b"", "too short"),
        (b"\xc3\x01\x00\x00", "too short"),
        (b"\xc3\x01" + bytes(7), "too short"),
        (b"\xc3\x02" + bytes(8), "marker c302"),
        (b"\x01\xc3" + bytes(8) + b"body", "marker 01c3"),
    ],
)
def test_split_rejects_non_single_object_messages(message: bytes, reason: str) -> None:
    with pytest.raises(MalformedMessage, match=reason):
        split(message)
