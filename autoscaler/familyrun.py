"""``floodwall autoscale simulate --family N --seed S``: every policy over a generated family of traces,
judged against KEDA's trace by trace (autoscaler/familyreport.py), the worst traces written out as CSV so
that each can be replayed alone (``simulate --trace FILE``)."""

from __future__ import annotations

import math
import sys
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from floodwall.autoscaler.familyreport import FIGURES, Duel, Promise, Tally, promises, tally
from floodwall.autoscaler.model import Policy
from floodwall.autoscaler.simulate import SimParams, compare
from floodwall.autoscaler.tracefamily import generate_family
from floodwall.autoscaler.traces import Trace, trace_csv
from floodwall.errors import FloodwallError


@dataclass(frozen=True)
class PolicyVerdict:
    """One policy against KEDA over the family."""

    policy: str
    tallies: tuple[Tally, ...]
    promises: tuple[Promise, ...]


@dataclass(frozen=True)
class FamilyOutcome:
    seed: int
    shapes: dict[str, int]
    verdicts: tuple[PolicyVerdict, ...]
    written: tuple[Path, ...]  # the worst traces, as CSV

    def as_json(self) -> dict[str, Any]:
        return {
            "seed": self.seed,
            "traces": sum(self.shapes.values()),
            "shapes": self.shapes,
            "policies": {v.policy: _verdict_json(v) for v in self.verdicts},
            "worst_traces": [str(p) for p in self.written],
        }


def _verdict_json(verdict: PolicyVerdict) -> dict[str, Any]:
    figures = {
        t.figure: {
            "wins": t.wins,
            "ties": t.ties,
            "losses": t.losses,
            "worst_trace": t.worst_trace,
            "worst_excess": None if math.isinf(t.worst_excess) else t.worst_excess,
        }
        for t in verdict.tallies
    }
    promised = [{"promise": p.name, "held": p.held, "detail": p.detail} for p in verdict.promises]
    return {"vs_keda": figures, "promises": promised}


def run_family(
    policies: Sequence[Policy[Any]],
    params: SimParams,
    mode: str,
    n: int,
    seed: int,
    out_dir: Path,
    progress: Callable[[int, int], None] = lambda done, n: None,
) -> FamilyOutcome:
    """Simulate every policy on each of the ``n`` traces of ``seed``; ``policies`` must include KEDA's.
    Raises FloodwallError when the worst traces cannot be written."""
    traces = generate_family(n, seed)
    duels: dict[str, list[Duel]] = {p.name: [] for p in policies if p.name != "keda"}
    for done, trace in enumerate(traces, 1):
        results = {r.policy: r for r in compare(policies, trace, params, mode)}
        for name, found in duels.items():
            found.append(Duel(trace.name, results[name], results["keda"]))
        progress(done, n)
    verdicts = tuple(
        PolicyVerdict(name, tuple(tally(found, f) for f in FIGURES), tuple(promises(found, params.tick_s)))
        for name, found in duels.items()
    )
    worst = {t.worst_trace for v in verdicts for t in v.tallies if t.worst_trace is not None}
    written = _write(out_dir, [t for t in traces if t.name in worst])
    return FamilyOutcome(seed, dict(Counter(_shape(t) for t in traces)), verdicts, written)


def _shape(trace: Trace) -> str:
    return trace.description.split(" ", 1)[0]


def _write(out_dir: Path, traces: list[Trace]) -> tuple[Path, ...]:
    if not traces:
        return ()
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        paths = []
        for trace in traces:
            path = out_dir / f"{trace.name}.csv"
            path.write_text(trace_csv(trace), "utf-8")
            paths.append(path)
    except OSError as exc:
        raise FloodwallError(f"cannot write the worst traces to {out_dir}: {exc.strerror or exc}") from None
    return tuple(paths)


def render(outcome: FamilyOutcome) -> str:
    """The text report: per policy a wins/ties/losses table and the promises, then the files."""
    n = sum(outcome.shapes.values())
    shapes = ", ".join(f"{name} {count}" for name, count in sorted(outcome.shapes.items()))
    lines = [f"family of seed {outcome.seed}: {n} traces ({shapes})"]
    for verdict in outcome.verdicts:
        lines += ["", f"{verdict.policy} against keda, trace by trace (lower is better):"]
        lines.append(f"  {'figure':<16}{'wins':>6}{'ties':>6}{'losses':>8}  worst loss")
        for t in verdict.tallies:
            excess = "never drained" if math.isinf(t.worst_excess) else f"+{t.worst_excess:,.0f}"
            worst = f"{t.worst_trace} ({excess})" if t.worst_trace else "-"
            lines.append(f"  {t.figure:<16}{t.wins:>6}{t.ties:>6}{t.losses:>8}  {worst}")
        lines.append("  promises:")
        lines += [f"    {'held  ' if p.held else 'BROKEN'} {p.name}: {p.detail}" for p in verdict.promises]
    if outcome.written:
        folder = outcome.written[0].parent
        lines += ["", f"worst traces written to {folder}/ (replay one: floodwall autoscale simulate "
                      f"--trace {outcome.written[0]})"]  # fmt: skip
    return "\n".join(lines)


def stderr_progress(done: int, n: int) -> None:
    """A plain progress line on stderr every tenth of the family (stdout keeps the report alone)."""
    if done == n or done % max(1, n // 10) == 0:
        print(f"simulated {done} of {n} traces", file=sys.stderr, flush=True)
