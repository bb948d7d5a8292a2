"""Traffic profiles: pure rate curves ``t -> events/s`` over ``[0, duration_s)`` and the send schedule.

Every profile's ``peak`` is the highest rate it asks for (``--rate``), so one flag means the same thing
for every profile. :func:`schedule` turns a curve into send times: events are spaced evenly at the
curve's rate (deterministic arrivals, not Poisson), so the events scheduled in any second match the
curve's integral over that second to within one event — the target the pacer is judged against.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal, Protocol

ProfileName = Literal["steady", "ramp", "flash-sale", "day-curve"]
PROFILE_NAMES: tuple[ProfileName, ...] = ("steady", "ramp", "flash-sale", "day-curve")

# The schedule integrates the curve in slices this long (the curves change slower than this).
SLICE_S = 0.01
# Float sums of the slices drift by ~1e-12 per step: without this slack, 1234/s for 10 s gives 12341.
_SLACK = 1e-6


class Profile(Protocol):
    """A rate curve. ``rate(t)`` is defined for ``0 <= t < duration_s`` and never negative."""

    @property
    def name(self) -> str: ...

    @property
    def duration_s(self) -> float: ...

    @property
    def peak(self) -> float: ...

    def rate(self, t: float) -> float: ...


@dataclass(frozen=True)
class Steady:
    """The same rate throughout."""

    peak: float
    duration_s: float
    name: str = "steady"

    def rate(self, t: float) -> float:
        return self.peak


@dataclass(frozen=True)
class Ramp:
    """A straight line from ``start_share x peak`` up to ``peak`` at the end."""

    peak: float
    duration_s: float
    start_share: float = 0.1
    name: str = "ramp"

    def rate(self, t: float) -> float:
        start = self.peak * self.start_share
        return start + (self.peak - start) * min(1.0, t / self.duration_s)


@dataclass(frozen=True)
class FlashSale:
    """A flash sale: baseline traffic, then ``surge_factor`` x baseline within ``rise_s`` seconds, held,
    then an exponential decay back towards the baseline.

    Phases as shares of the duration: baseline until ``surge_at``, the rise (at most ``rise_s``, at most
    5 % of the run), the hold until ``decay_at``, then decay with time constant ``decay_tau`` x duration.
    """

    peak: float
    duration_s: float
    surge_factor: float = 30.0
    rise_s: float = 3.0
    surge_at: float = 0.2
    decay_at: float = 0.55
    decay_tau: float = 0.1
    name: str = "flash-sale"

    @property
    def baseline(self) -> float:
        return self.peak / self.surge_factor

    def rate(self, t: float) -> float:
        d, base = self.duration_s, self.baseline
        start = self.surge_at * d
        rise = min(self.rise_s, 0.05 * d)
        if t < start:
            return base
        if t < start + rise:
            return base + (self.peak - base) * (t - start) / rise
        if t < self.decay_at * d:
            return self.peak
        return base + (self.peak - base) * math.exp(-(t - self.decay_at * d) / (self.decay_tau * d))


# A Black-Friday day as (hour, share of the peak): midnight deals, a quiet night, the morning climb,
# lunch, the after-work peak around 20:00, and a tail. Linear between the points.
BLACK_FRIDAY: tuple[tuple[float, float], ...] = (
    (0, 0.55), (1, 0.35), (3, 0.10), (5, 0.06), (7, 0.18), (9, 0.40), (12, 0.62),
    (14, 0.55), (17, 0.70), (19, 0.92), (20, 1.00), (21, 0.90), (22, 0.65), (24, 0.40),
)  # fmt: skip


@dataclass(frozen=True)
class DayCurve:
    """A compressed Black-Friday day: 24 hours of shape played in ``duration_s``."""

    peak: float
    duration_s: float
    name: str = "day-curve"

    def rate(self, t: float) -> float:
        hour = 24.0 * min(max(t / self.duration_s, 0.0), 1.0)
        for (h0, s0), (h1, s1) in itertools.pairwise(BLACK_FRIDAY):
            if hour <= h1:
                return self.peak * (s0 + (s1 - s0) * (hour - h0) / (h1 - h0))
        return self.peak * BLACK_FRIDAY[-1][1]


def build_profile(name: ProfileName, peak: float, duration_s: float, surge_factor: float = 30.0) -> Profile:
    """The named profile. ``peak`` > 0 events/s, ``duration_s`` > 0 (the settings validate both)."""
    if name == "steady":
        return Steady(peak, duration_s)
    if name == "ramp":
        return Ramp(peak, duration_s)
    if name == "flash-sale":
        return FlashSale(peak, duration_s, surge_factor=surge_factor)
    return DayCurve(peak, duration_s)


def schedule(profile: Profile) -> Iterator[float]:
    """Send times (seconds from the start, ascending) of every event of ``profile``.

    The curve is integrated in slices of ``SLICE_S`` at the slice's mid-point rate; event ``k`` goes out
    where the running integral reaches ``k``. Deterministic: the same profile gives the same times.
    """
    done = 0.0  # running integral: events due so far
    slices = math.ceil(profile.duration_s / SLICE_S)
    for i in range(slices):
        start = i * SLICE_S
        width = min(SLICE_S, profile.duration_s - start)
        rate = profile.rate(start + width / 2)
        after = done + rate * width
        k = math.ceil(done - _SLACK)
        while k < after - _SLACK:
            yield start + (k - done) / rate
            k += 1
        done = after


def expected_events(profile: Profile) -> int:
    """How many events :func:`schedule` yields (without building them)."""
    done = 0.0
    slices = math.ceil(profile.duration_s / SLICE_S)
    for i in range(slices):
        start = i * SLICE_S
        width = min(SLICE_S, profile.duration_s - start)
        done += profile.rate(start + width / 2) * width
    return math.ceil(done - _SLACK)
