"""JSON lines from untrusted bytes: every line decoded or refused with a short reason, never an exception.

``floodwall produce`` reads files written by other programs (and by people). A line may be invalid
UTF-8, megabytes long, nested a hundred thousand levels deep or carry a 5,000-digit integer; each of
these made ``json.loads`` or a later encoder raise mid-run. :func:`read_json_lines` turns every such line
into a :class:`BadLine` with its number and a reason of bounded length, and goes on with the next line.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, BinaryIO

DEFAULT_MAX_LINE_BYTES = 1 << 20  # an order of 500 items is ~60 KB; a Kafka message tops out at ~1 MB
MAX_INT_DIGITS = 32  # every integer field is far below this; longer ones cost quadratic time to convert
MAX_ECHO_CHARS = 300  # of a reason printed back to the user: a huge value is cut, not echoed whole
_SKIP_CHUNK = 1 << 16
_BOM = b"\xef\xbb\xbf"


@dataclass(frozen=True)
class ParsedLine:
    """A line that is well-formed JSON (of any type: the caller checks it is an object)."""

    number: int
    value: Any


@dataclass(frozen=True)
class BadLine:
    """A line refused before it became JSON: ``reason`` is short and safe to print."""

    number: int
    reason: str


class _Refused(Exception):
    """Raised from inside the JSON decoder's hooks to refuse a line; never escapes this module."""


def read_json_lines(
    stream: BinaryIO, max_line_bytes: int = DEFAULT_MAX_LINE_BYTES
) -> Iterator[ParsedLine | BadLine]:
    """Each non-blank line of ``stream`` as a ParsedLine or a BadLine, numbered from 1.

    Guarantees: memory per line is bounded by ``max_line_bytes`` (a longer line is skipped unread, in
    chunks); a UTF-8 byte order mark before the first line is ignored; no line makes it raise. Raises
    only what reading ``stream`` raises (OSError).
    """
    number = 0
    while True:
        raw = stream.readline(max_line_bytes + 2)  # + the line break (CR LF at most)
        if not raw:
            return
        number += 1
        if number == 1 and raw.startswith(_BOM):
            raw = raw[len(_BOM) :]
        content = raw.rstrip(b"\r\n")
        if len(content) > max_line_bytes:
            skipped = len(content) + (0 if raw.endswith(b"\n") else _skip_rest_of_line(stream))
            yield BadLine(number, f"longer than {max_line_bytes} bytes ({skipped} bytes); not read")
            continue
        if content.strip():
            yield parse_line(number, content)


def parse_line(number: int, content: bytes) -> ParsedLine | BadLine:
    """Decode one line (UTF-8, then JSON) or say why not."""
    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError as exc:
        return BadLine(number, f"not valid UTF-8 (byte 0x{content[exc.start]:02x} at byte {exc.start + 1})")
    try:
        return ParsedLine(number, json.loads(text, parse_int=_bounded_int, parse_constant=_no_constant))
    except json.JSONDecodeError as exc:
        return BadLine(number, f"not JSON ({exc.msg} at column {exc.colno})")
    except _Refused as exc:
        return BadLine(number, str(exc))
    except RecursionError:
        return BadLine(number, "not accepted: JSON nested too deeply")
    except ValueError as exc:  # any other conversion limit of the decoder
        return BadLine(number, shorten(f"not accepted: {exc}"))


def shorten(text: str, limit: int = MAX_ECHO_CHARS) -> str:
    """``text`` cut to ``limit`` characters, with what cannot be printed as-is escaped.

    Terminal control sequences and lone surrogates in hostile input are shown as ``\\x1b``/``\\ud800``:
    printing them raw could rewrite the user's terminal or fail to encode.
    """
    cut = text if len(text) <= limit else f"{text[:limit]}… ({len(text) - limit} more characters)"
    if cut.isprintable():
        return cut
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in cut)


def _bounded_int(digits: str) -> int:
    # Python refuses to convert over 4,300 digits (ValueError), and below that converting is quadratic.
    if len(digits.lstrip("-")) > MAX_INT_DIGITS:
        raise _Refused(
            f"not accepted: an integer of {len(digits.lstrip('-'))} digits (at most {MAX_INT_DIGITS})"
        )
    return int(digits)


def _no_constant(name: str) -> Any:
    raise _Refused(f"not JSON ({name} is not a JSON number)")


def _skip_rest_of_line(stream: BinaryIO) -> int:
    """Read and drop the rest of an over-long line; return how many bytes that was."""
    skipped = 0
    while chunk := stream.readline(_SKIP_CHUNK):
        skipped += len(chunk.rstrip(b"\r\n"))
        if chunk.endswith(b"\n"):
            break
    return skipped
