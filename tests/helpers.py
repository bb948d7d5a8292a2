"""Helpers shared by the test tiers."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable


def clean_env() -> dict[str, str]:
    """This process's environment without any FLOODWALL_* settings."""
    return {k: v for k, v in os.environ.items() if not k.startswith("FLOODWALL_")}


def floodwall(
    *args: str, env: dict[str, str] | None = None, timeout: float = 180
) -> subprocess.CompletedProcess[str]:
    """Run the real ``floodwall`` command line in a subprocess."""
    return subprocess.run(
        [sys.executable, "-m", "floodwall", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=clean_env() if env is None else env,
    )


def wait_until(
    what: str, check: Callable[[], bool], timeout_s: float = 120.0, interval_s: float = 0.2
) -> None:
    """Poll ``check`` until it holds; fail the test, naming ``what``, once ``timeout_s`` has passed."""
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(interval_s)
