"""A generated family of traffic traces: the shapes an autoscaler meets, drawn from one documented space.

``generate_family(n, seed)`` is deterministic: the same ``n`` and ``seed`` give the same traces, and trace
``i`` of a family does not depend on ``n`` (each has its own generator, seeded from ``seed`` and ``i``).
Every trace lasts :data:`DURATION_S` over a baseline ``B`` drawn from 500-2,000 events/s. Its shape is one
of (equally likely):

- ``single-spike``: one spike of height x5-40 of the baseline, rising in 5-60 s, held 30-300 s, falling in
  10-180 s, starting 60-600 s in;
- ``repeated-spikes``: 2-4 such spikes (each its own height and width), 30-600 s apart;
- ``periodic-bursts``: bursts of x2-10 every 60-300 s, each 10 s to half a period wide;
- ``slow-ramp``: from the baseline to x3-20 over 600-1,500 s, then held;
- ``fast-ramp``: to x3-20 in 30-120 s at 60-600 s in, held 300-900 s, then back down in 60-300 s;
- ``day-curve``: a sinusoid between x0.3 and x2-8 of the baseline, one or two periods.

Then, independently: with probability 0.3 a Patroni *failover* (the database unwritable for 10-30 s at a
random moment), and with probability 0.5 *noise* (the rate multiplied every 10 s by 1 +/- up to 5-25 %).
The trace's description names its shape and parameters, so a trace written out (``trace_csv``) says what
it is when it is replayed.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass

from floodwall.autoscaler.traces import Trace, TracePoint

DURATION_S = 1_800
SHAPES = ("single-spike", "repeated-spikes", "periodic-bursts", "slow-ramp", "fast-ramp", "day-curve")
FAILOVER_PROBABILITY = 0.3
NOISE_PROBABILITY = 0.5
NOISE_STEP_S = 10
CURVE_STEP_S = 30  # sampling of the smooth shapes (day curve)


@dataclass(frozen=True)
class _Knot:
    """A point of a piecewise-linear rate: events/s at second ``t``."""

    t: int
    rate: float


def generate_family(n: int, seed: int) -> list[Trace]:
    """``n`` traces of the space in the module docstring; trace ``i`` is ``family_trace(seed, i)``."""
    return [family_trace(seed, i) for i in range(n)]


def family_trace(seed: int, index: int) -> Trace:
    """Trace ``index`` of the family of ``seed``."""
    rng = random.Random(f"floodwall-family-{seed}-{index}")
    baseline = rng.uniform(500, 2_000)
    shape = rng.choice(SHAPES)
    knots, what = _SHAPE_BUILDERS[shape](rng, baseline)
    notes = [f"{shape} over {baseline:,.0f} events/s: {what}"]
    if rng.random() < NOISE_PROBABILITY:
        amplitude = rng.uniform(0.05, 0.25)
        knots = _with_noise(rng, knots, amplitude)
        notes.append(f"noise +/-{amplitude:.0%}")
    down: tuple[int, int] | None = None
    if rng.random() < FAILOVER_PROBABILITY:
        start = rng.randrange(60, DURATION_S - 60)
        down = (start, start + rng.randrange(10, 31))
        notes.append(f"failover {down[0]}-{down[1]} s")
    return Trace(name=f"family-{seed}-{index:03d}", description="; ".join(notes), points=_points(knots, down))


# ---- shapes -----------------------------------------------------------------------------------------


def _spike(rng: random.Random, baseline: float, start: int) -> tuple[list[_Knot], int, str]:
    """One spike from ``start``: its knots, the second it ends, and a description."""
    height = rng.uniform(5, 40)
    rise, hold, fall = rng.randrange(5, 61), rng.randrange(30, 301), rng.randrange(10, 181)
    peak = baseline * height
    top, end = start + rise, start + rise + hold
    knots = [_Knot(start, baseline), _Knot(top, peak), _Knot(end, peak), _Knot(end + fall, baseline)]
    return knots, end + fall, f"x{height:.0f} at {start} s (rise {rise} s, hold {hold} s, fall {fall} s)"


def _single_spike(rng: random.Random, baseline: float) -> tuple[list[_Knot], str]:
    knots, _, what = _spike(rng, baseline, rng.randrange(60, 601))
    return knots, what


def _repeated_spikes(rng: random.Random, baseline: float) -> tuple[list[_Knot], str]:
    knots: list[_Knot] = []
    parts = []
    start = rng.randrange(60, 301)
    for _ in range(rng.randint(2, 4)):
        spike, end, what = _spike(rng, baseline, start)
        if end >= DURATION_S:
            break
        knots += spike
        parts.append(what)
        start = end + rng.randrange(30, 601)
    return knots, ", ".join(parts)


def _periodic_bursts(rng: random.Random, baseline: float) -> tuple[list[_Knot], str]:
    period = rng.randrange(60, 301)
    width = rng.randrange(10, max(11, period // 2))
    height = rng.uniform(2, 10)
    edge = min(5, width // 4)
    knots = []
    for start in range(period, DURATION_S - period, period):
        knots += [
            _Knot(start, baseline),
            _Knot(start + edge, baseline * height),
            _Knot(start + width - edge, baseline * height),
            _Knot(start + width, baseline),
        ]
    return knots, f"x{height:.1f} for {width} s every {period} s"


def _slow_ramp(rng: random.Random, baseline: float) -> tuple[list[_Knot], str]:
    height, over = rng.uniform(3, 20), rng.randrange(600, 1_501)
    start = rng.randrange(0, DURATION_S - over)
    return [_Knot(start, baseline), _Knot(start + over, baseline * height)], f"to x{height:.0f} over {over} s"


def _fast_ramp(rng: random.Random, baseline: float) -> tuple[list[_Knot], str]:
    height, rise = rng.uniform(3, 20), rng.randrange(30, 121)
    start, hold, fall = rng.randrange(60, 601), rng.randrange(300, 901), rng.randrange(60, 301)
    top, end = start + rise, min(start + rise + hold, DURATION_S - fall - 1)
    knots = [_Knot(start, baseline), _Knot(top, baseline * height), _Knot(end, baseline * height),
             _Knot(end + fall, baseline)]  # fmt: skip
    return knots, f"to x{height:.0f} in {rise} s at {start} s, held to {end} s, down in {fall} s"


def _day_curve(rng: random.Random, baseline: float) -> tuple[list[_Knot], str]:
    high, periods = rng.uniform(2, 8), rng.choice((1, 2))
    low = 0.3
    phase = rng.uniform(0, 2 * math.pi)

    def rate(t: int) -> float:
        wave = (1 + math.sin(2 * math.pi * periods * t / DURATION_S + phase)) / 2
        return baseline * (low + (high - low) * wave)

    knots = [_Knot(t, rate(t)) for t in range(0, DURATION_S + 1, CURVE_STEP_S)]
    return knots, f"x{low:g} to x{high:.1f}, {periods} period(s)"


_SHAPE_BUILDERS: dict[str, Callable[[random.Random, float], tuple[list[_Knot], str]]] = {
    "single-spike": _single_spike,
    "repeated-spikes": _repeated_spikes,
    "periodic-bursts": _periodic_bursts,
    "slow-ramp": _slow_ramp,
    "fast-ramp": _fast_ramp,
    "day-curve": _day_curve,
}


# ---- assembly ---------------------------------------------------------------------------------------


def _shape_trace(knots: list[_Knot]) -> Trace:
    """The knots as a trace from 0 to DURATION_S: the first knot's rate before it, the last one's after
    (a spike is back at its baseline there, a ramp stays up)."""
    points = [TracePoint(float(k.t), k.rate, True) for k in knots]
    if knots[0].t > 0:
        points.insert(0, TracePoint(0.0, knots[0].rate, True))
    if knots[-1].t < DURATION_S:
        points.append(TracePoint(float(DURATION_S), knots[-1].rate, True))
    return Trace(name="shape", description="", points=tuple(points))


def _with_noise(rng: random.Random, knots: list[_Knot], amplitude: float) -> list[_Knot]:
    """The shape sampled every NOISE_STEP_S seconds, each sample multiplied by 1 ± up to ``amplitude``."""
    shape = _shape_trace(knots)
    return [
        _Knot(t, shape.rate_at(t) * (1 + rng.uniform(-amplitude, amplitude)))
        for t in range(0, DURATION_S + 1, NOISE_STEP_S)
    ]


def _points(knots: list[_Knot], down: tuple[int, int] | None) -> tuple[TracePoint, ...]:
    """Trace points at every knot second plus 0, the end and the failover's edges (strictly increasing)."""
    shape = _shape_trace(knots)
    seconds = {0, DURATION_S, *(k.t for k in knots if 0 <= k.t <= DURATION_S)}
    if down is not None:
        seconds |= set(down)
    points = []
    for t in sorted(seconds):
        up = down is None or not down[0] <= t < down[1]
        points.append(TracePoint(float(t), max(0.0, shape.rate_at(t)), up))
    return tuple(points)
