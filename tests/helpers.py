"""Helpers shared by the test tiers."""

from __future__ import annotations

import os
import subprocess
import sys


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
