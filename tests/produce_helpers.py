"""Running ``floodwall produce`` from tests: in-process through the real CLI entry, against no broker."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import pytest

from floodwall.cli import main

UNREACHABLE = "127.0.0.1:1"  # refused at once: the producer goes offline and spools
RESTOCK = json.dumps({"type": "inventory.restock", "sku": "SKU-1", "warehouse": "w1", "quantity": 5})
UNKNOWN_TYPE = json.dumps({"type": "order.shipped"})  # parses, then is rejected: needs no broker


@dataclass(frozen=True)
class Ran:
    code: int
    out: str
    err: str


def produce(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    content: bytes,
    *flags: str,
) -> Ran:
    """``floodwall produce FILE`` on ``content`` through ``floodwall.cli.main``, nothing from the env."""
    for key in [k for k in os.environ if k.startswith("FLOODWALL_")]:
        monkeypatch.delenv(key)
    source = tmp_path / "events.jsonl"
    source.write_bytes(content)
    argv = [
        "produce",
        str(source),
        "--bootstrap-servers",
        UNREACHABLE,
        "--spool-dir",
        str(tmp_path / "spool"),
    ]
    code = main([*argv, *flags])
    out, err = capsys.readouterr()
    return Ran(code, out, err)


def lines(*items: str | bytes) -> bytes:
    """JSON lines as the file holds them."""
    return b"".join((item.encode() if isinstance(item, str) else item) + b"\n" for item in items)
