"""Open-loop pacing arithmetic (pure): when to send, how many senders, how accurate the rate was.

Open loop means the schedule alone decides when an event goes out: a sender never waits for an
acknowledgement, and a sender that falls behind sends the late events at once to catch up (their lateness
is recorded), so a slow pipeline shows up as lag and latency, not as a quietly lower offered load.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

# Sleeping for less than this costs more than it saves (timer slack, the syscall): send instead.
MIN_SLEEP_S = 0.0005


def wait_before(due: float, now: float) -> float:
    """Seconds to sleep before sending an event due at ``due`` (0: send now — on time or late)."""
    ahead = due - now
    return ahead if ahead >= MIN_SLEEP_S else 0.0


def processes_for(peak_rate: float, per_process: float, most: int) -> int:
    """Sender processes for ``peak_rate`` events/s when one sustains ``per_process`` (1..``most``)."""
    return max(1, min(most, math.ceil(peak_rate / per_process)))


class PerSecond:
    """Counts per whole second since the start (index 0 = [0 s, 1 s)); earlier times count in ``before``."""

    def __init__(self) -> None:
        self.counts: list[int] = []
        self.before = 0

    def add(self, t: float, n: int = 1) -> None:
        if t < 0:
            self.before += n
            return
        second = int(t)
        if second >= len(self.counts):
            self.counts.extend([0] * (second + 1 - len(self.counts)))
        self.counts[second] += n

    def merge(self, other: list[int]) -> None:
        if len(other) > len(self.counts):
            self.counts.extend([0] * (len(other) - len(self.counts)))
        for second, n in enumerate(other):
            self.counts[second] += n


@dataclass(frozen=True)
class Window:
    """``width_s`` seconds from ``start_s``: events the schedule asked for against events sent."""

    start_s: int
    width_s: int
    target: int
    achieved: int

    @property
    def error(self) -> float | None:
        """Relative error of the achieved rate (+0.02 = 2 % too many); None without a target."""
        return None if self.target == 0 else self.achieved / self.target - 1

    def to_json(self) -> dict[str, Any]:
        error = self.error
        return {
            "start_s": self.start_s,
            "width_s": self.width_s,
            "target": self.target,
            "achieved": self.achieved,
            "error": None if error is None else round(error, 5),
        }


def windows(target: list[int], achieved: list[int], width_s: int) -> list[Window]:
    """Whole windows of ``width_s`` seconds over the schedule (a partial last window is left out: a
    window cut short by the end of the run would compare a part of a second with the whole)."""
    whole = len(target) // width_s
    padded = achieved + [0] * max(0, len(target) - len(achieved))
    return [
        Window(
            i * width_s,
            width_s,
            sum(target[i * width_s : (i + 1) * width_s]),
            sum(padded[i * width_s : (i + 1) * width_s]),
        )
        for i in range(whole)
    ]


def worst_error(found: list[Window]) -> float | None:
    """The largest relative error in absolute value (keeping its sign); None when nothing was planned."""
    errors = [w.error for w in found if w.error is not None]
    return max(errors, key=abs) if errors else None
