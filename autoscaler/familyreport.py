"""A policy against KEDA's over a family of traces: wins, ties and losses per figure, the worst trace of
each, and the promises of docs/autoscaler.md checked trace by trace. Pure: results in, figures out.

Lower is better for every figure. ``drain_s`` of a run that never drains counts as infinitely long.
``replica_seconds`` tie within 1 % (two policies holding the same replicas a tick apart differ by a few
replica-seconds in thousands); the other figures tie only when equal.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from floodwall.autoscaler.simulate import SimResult

FIGURES = ("scale_events", "over_budget_s", "drain_s", "replica_seconds")
REPLICA_SECONDS_TIE = 0.01
SCALE_EVENTS_SHARE = 0.95  # scale events <= KEDA's on at least this share of traces
DRAIN_FACTOR = 1.2  # drain within this factor of KEDA's ...
DRAIN_SLACK_TICKS = 1  # ... plus one decision interval: both policies act only every tick


@dataclass(frozen=True)
class Duel:
    """One trace: the policy's run and KEDA's, on the same fleet model."""

    trace: str
    mine: SimResult
    keda: SimResult


@dataclass(frozen=True)
class Tally:
    """One figure over the family."""

    figure: str
    wins: int
    ties: int
    losses: int
    worst_trace: str | None  # where the policy lost by the most (None: it never lost)
    worst_excess: float  # that loss: the policy's value minus KEDA's (inf when only KEDA drained)


@dataclass(frozen=True)
class Promise:
    """One promise checked over the family; ``detail`` gives the count behind the verdict."""

    name: str
    held: bool
    detail: str


def value(result: SimResult, figure: str) -> float:
    """The figure of one run (a drain that never happened is infinite)."""
    raw = getattr(result, figure)
    return math.inf if raw is None else float(raw)


def outcome(figure: str, mine: float, keda: float) -> int:
    """-1 the policy wins, 0 a tie, 1 it loses (lower is better)."""
    if mine == keda:
        return 0
    if figure == "replica_seconds" and abs(mine - keda) <= REPLICA_SECONDS_TIE * max(mine, keda):
        return 0
    return -1 if mine < keda else 1


def tally(duels: Sequence[Duel], figure: str) -> Tally:
    """Wins, ties and losses of the policy on ``figure``, and its worst loss."""
    counts = {-1: 0, 0: 0, 1: 0}
    worst: tuple[float, str] | None = None
    for duel in duels:
        mine, keda = value(duel.mine, figure), value(duel.keda, figure)
        verdict = outcome(figure, mine, keda)
        counts[verdict] += 1
        if verdict == 1:
            excess = math.inf if math.isinf(mine) else mine - keda
            if worst is None or excess > worst[0]:
                worst = (excess, duel.trace)
    return Tally(
        figure, counts[-1], counts[0], counts[1],
        worst_trace=worst[1] if worst else None, worst_excess=worst[0] if worst else 0.0,
    )  # fmt: skip


def promises(duels: Sequence[Duel], tick_s: float) -> list[Promise]:
    """The promises of docs/autoscaler.md ("Across a family of traces"), each with its count."""
    n = len(duels)
    over = [d.trace for d in duels if d.mine.over_budget_s > 0]
    at_most = sum(d.mine.scale_events <= d.keda.scale_events for d in duels)
    beyond_one = [d.trace for d in duels if d.mine.scale_events > d.keda.scale_events + 1]
    slow = [d.trace for d in duels if not _drains_in_time(d, tick_s)]
    cheaper = sum(
        outcome("replica_seconds", d.mine.replica_seconds, d.keda.replica_seconds) < 0 for d in duels
    )
    return [
        Promise("0 s over the write budget on every trace", not over, _listed(n - len(over), n, over)),
        Promise(
            f"scale events <= KEDA's on at least {SCALE_EVENTS_SHARE:.0%} of traces",
            at_most >= SCALE_EVENTS_SHARE * n,
            f"{at_most} of {n} ({at_most / n:.1%})" if n else "no traces",
        ),
        Promise(
            "scale events never more than KEDA's + 1",
            not beyond_one,
            _listed(n - len(beyond_one), n, beyond_one),
        ),
        Promise(
            f"drain <= {DRAIN_FACTOR:g}x KEDA's (+ {DRAIN_SLACK_TICKS} tick) on every trace",
            not slow,
            _listed(n - len(slow), n, slow),
        ),
        Promise("fewer replica-seconds than KEDA on most traces", cheaper > n / 2, f"{cheaper} of {n}"),
    ]


def _drains_in_time(duel: Duel, tick_s: float) -> bool:
    mine, keda = duel.mine.drain_s, duel.keda.drain_s
    if keda is None:
        return True  # KEDA never drained: nothing to be within
    return mine is not None and mine <= DRAIN_FACTOR * keda + DRAIN_SLACK_TICKS * tick_s


def _listed(held: int, n: int, failing: list[str], most: int = 3) -> str:
    """ "198 of 200; not on family-1-004, family-1-017"."""
    text = f"{held} of {n}"
    if failing:
        shown = ", ".join(failing[:most]) + (
            f" and {len(failing) - most} more" if len(failing) > most else ""
        )
        text += f"; not on {shown}"
    return text
