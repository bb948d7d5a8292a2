"""The Floodwall policy: rate-aware, database-aware replica control with hysteresis.

Rules, in the order they are applied (each has its own reason code):

1. **Hold while the database cannot write** (``hold_db_unhealthy``): no change at all while the primary is
   unhealthy or failing over — new replicas would only queue on a dead write path, and the rebalance they
   cause would stall the survivors once writes resume.
2. **Zero** (``scale_from_zero`` / ``idle_at_zero`` / ``scale_to_zero``): at 0 replicas, start when the lag
   passes the activation threshold (or partitions have no committed offset while events arrive) — straight
   to the rate-aware count, not to 1; with ``min_replicas`` 0, stop when there has been neither ingress nor
   lag above the threshold for the whole scale-down window.
3. **Size by rate**: ``needed = ingress + backlog ÷ target_drain_s`` events/s and
   ``replicas = ceil(needed ÷ per-replica throughput)``, the throughput measured (one unthrottled replica)
   or else the configured estimate. A rising ingress is projected ``scale_up_lead_s`` ahead (its slope
   since the last tick; the settings make it two ticks plus a replica's start-up and rebalance): replicas
   added now work only after they start, and the count must still do when the tick after that could
   correct it, so on a ramp they are sized for the rate they will meet — one step instead of a staircase
   of rebalances. A rise counts once it has overrun the running replicas: the window's average rate above
   their capacity, or a replica at its limit while the backlog grew (the average trails a steep rise).
4. **Caps** — ``capped_budget``: never more replicas than the write budget can feed,
   ``ceil(budget events/s ÷ per-replica throughput)`` (the consumers split the budget by partitions, so the
   last replica runs partly throttled and the database never sees more than the budget);
   ``capped_partitions``: never more than the partitions with lag can use (at least what the ingress alone
   needs, at most the partitions of the largest topic); ``capped_max``; ``floor_min``.
5. **Up at once** (``scale_up_ingress`` when the ingress alone outruns the fleet, else
   ``scale_up_backlog``), to a count that leaves the dead band's headroom (rule 7) within the caps: one
   sized to the bare need is one tick of noise or the rest of a ramp away from a second rebalance. The
   budget and ``max_replicas`` caps also apply at once downward.
6. **Never down while draining** (``hold_draining``): while the backlog, not the ingress, sets the size
   and the fleet is consuming it, removing a replica would stall the whole group mid-drain (a backlog
   that nothing consumed since the last tick is not held for). Recommendations made during the drain were
   sized for a backlog that is gone; the scale-down window starts afresh when the drain ends.
7. **Down with hysteresis**: only to a count that would still have ``scale_down_dead_band`` headroom
   (``hold_dead_band``), only to the highest recommendation of the last ``scale_down_window_s`` and only
   once that long has passed since the last change (``stabilizing``), at most ``scale_down_max_fraction``
   of the replicas at a time (``scale_down_step``, else ``scale_down``). Every membership change stops the
   whole consumer group for a rebalance, so each avoided change is throughput kept. The window keeps the
   counts that would have been held (with the dead band's headroom). While the need is still falling —
   the window allows a step to an intermediate count and the newest, lower one is at most half a window
   away — it waits (``settling``): one step down instead of a staircase. When bursts recur (the last
   scale-ups less than ``scale_down_window_max_s`` apart) the window stretches to 1.25x their gap
   (:meth:`FloodwallPolicy.window_s`): the next burst is likely that far behind the last.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field, replace

from floodwall.autoscaler.model import Decision, Snapshot, ceil_div, prune_before

RECURRENCE_MEMORY = 3  # scale-ups remembered: two gaps between bursts
RECURRENCE_MARGIN = 1.25  # the stretched window covers this much more than the gap seen


@dataclass(frozen=True)
class FloodwallParams:
    """Policy settings; see :class:`autoscaler.config.AutoscalerSettings` for their documentation."""

    min_replicas: int = 1
    max_replicas: int = 12
    target_drain_s: float = 60.0
    replica_throughput_events_per_s: float = 7900.0
    write_budget_rows_per_s: float = 0.0  # 0 = no budget
    rows_per_event: float = 5.0
    replica_max_events_per_s: float = 0.0  # a replica's own cap (0 = none): no throughput is taken above it
    activation_lag_threshold: int = 0
    scale_down_dead_band: float = 0.2
    scale_down_window_s: float = 300.0  # Kubernetes' HPA default for scale-down stabilization
    scale_down_window_max_s: float = 1200.0  # how far the window stretches for bursts that recur
    scale_down_max_fraction: float = 1.0
    scale_up_lead_s: float = 14.3  # two 5 s ticks + a replica's start and rebalance (4.3 s); 0 = none

    def __post_init__(self) -> None:
        if not 0 <= self.min_replicas <= self.max_replicas or self.max_replicas < 1:
            raise ValueError("need 0 <= min_replicas <= max_replicas and max_replicas >= 1")
        if min(self.target_drain_s, self.replica_throughput_events_per_s, self.rows_per_event) <= 0:
            raise ValueError("target_drain_s, replica throughput and rows_per_event must be positive")
        if not 0 <= self.scale_down_dead_band < 1 or not 0 < self.scale_down_max_fraction <= 1:
            raise ValueError("need 0 <= scale_down_dead_band < 1 and 0 < scale_down_max_fraction <= 1")
        if self.scale_up_lead_s < 0:
            raise ValueError("scale_up_lead_s must not be negative")
        if self.scale_down_window_max_s < self.scale_down_window_s:
            raise ValueError("scale_down_window_max_s must be at least scale_down_window_s")


@dataclass(frozen=True)
class FloodwallState:
    """Recent recommendations (for the scale-down window), the last change and the idle clock.

    The first decision counts as a change, so nothing is scaled down before one window has been watched.
    """

    recommendations: tuple[tuple[float, int], ...] = ()
    last_change_s: float | None = None
    idle_since_s: float | None = None
    last_ingress: tuple[float, float] | None = None  # (at_s, events/s): for the ingress slope
    last_rise: float = 0.0  # events/s the ingress rose by at the last tick (a ramp rises twice)
    draining: bool = False  # the backlog, not the ingress, sets the size
    drained_since_s: float | None = None  # when the last drain ended (None: no drain seen)
    scale_ups: tuple[float, ...] = ()  # when the latest scale-ups were decided (for recurring bursts)
    last_desired: int | None = None  # the previous decision: replacing a lost replica is no scale-up


@dataclass(frozen=True)
class _Sizing:
    needed: float  # events/s
    ingress: float  # events/s, projected over the scale-up lead on a rising rate
    throughput: float  # events/s of one replica
    measured: bool
    raw: int  # replicas for `needed`, before caps
    target: int  # after caps and the min floor
    comfortable: int  # replicas that leave the dead band's headroom, after the same caps (>= target)
    reason: str  # the cap or floor that set `target`, or "" when none did
    hard_cap: int  # budget and max_replicas: also enforced downward at once
    hard_reason: str

    def describe(self, snapshot: Snapshot) -> str:
        source = "measured" if self.measured else "estimated"
        ingress = snapshot.ingress_events_per_s or 0.0
        return (
            f"ingress {ingress:,.0f}/s + lag {snapshot.total_lag:,} -> needs {self.needed:,.0f} events/s "
            f"= {self.raw} replicas at {self.throughput:,.0f}/s ({source})"
        )


@dataclass(frozen=True)
class FloodwallPolicy:
    """Rate-aware and database-aware; see the module docstring for the rules."""

    params: FloodwallParams = field(default_factory=FloodwallParams)
    name: str = "floodwall"

    def initial_state(self) -> FloodwallState:
        return FloodwallState()

    def decide(self, snapshot: Snapshot, state: FloodwallState) -> tuple[Decision, FloodwallState]:
        decision, state = self._decide(snapshot, state)
        return decision, replace(state, last_desired=decision.desired)

    def _decide(self, snapshot: Snapshot, state: FloodwallState) -> tuple[Decision, FloodwallState]:
        now, current = snapshot.at_s, snapshot.current_replicas
        sizing = self._size(snapshot, state)
        if snapshot.ingress_events_per_s is not None:
            rise = (
                0.0 if state.last_ingress is None else snapshot.ingress_events_per_s - state.last_ingress[1]
            )
            state = replace(state, last_ingress=(now, snapshot.ingress_events_per_s), last_rise=rise)
        detail = sizing.describe(snapshot)
        if not snapshot.db.writable:
            why = snapshot.db.detail or "primary unavailable"
            return Decision(current, "hold_db_unhealthy", f"{why}; holding {current} ({detail})"), state
        state = self._track_idle(snapshot, state)
        if state.last_change_s is None:  # no scale-down before one window has been watched
            state = replace(state, last_change_s=now)
        if current == 0:
            return self._from_zero(snapshot, state, sizing, detail)
        zero = self._to_zero(now, state, detail)
        if zero is not None:
            return zero, replace(state, last_change_s=now, recommendations=())
        target = max(sizing.target, 1)
        held = max(target, sizing.comfortable)  # with the dead band's headroom, within the caps
        window_start = now - self.window_s(state)
        recommendations = (*prune_before(state.recommendations, window_start), (now, held))
        state = replace(state, recommendations=recommendations)
        if current > sizing.hard_cap:
            over = f"{detail}; {current} is over the {sizing.hard_reason.removeprefix('capped_')} cap"
            return self._change(now, state, sizing.hard_cap, sizing.hard_reason, over, current)
        if target > current:  # up to the held count: with the bare need, the next tick's noise or the
            # rest of a ramp would ask for a second rebalance
            return self._change(now, state, held, self._up_reason(snapshot, sizing, current), detail, current)
        if target < current:
            return self._down(now, snapshot, state, sizing, target, current, detail)
        return Decision(current, sizing.reason or "steady", f"{detail}; {current} running"), state

    def _size(self, snapshot: Snapshot, state: FloodwallState) -> _Sizing:
        p = self.params
        measured = snapshot.replica_throughput_events_per_s
        usable = measured is not None and measured > 0
        throughput = measured if measured is not None and usable else p.replica_throughput_events_per_s
        if p.replica_max_events_per_s > 0:
            throughput = min(throughput, p.replica_max_events_per_s)
        ingress = self._projected_ingress(snapshot, state, throughput)
        needed = ingress + snapshot.total_lag / p.target_drain_s
        raw = ceil_div(needed, throughput)
        caps: list[tuple[int, str]] = []
        if p.write_budget_rows_per_s > 0:
            # With a replica cap the budget feeds exactly budget ÷ cap replicas: a replica measured slower
            # (still joining, or throttled by the database) is not a reason to add more of them.
            feeds = p.replica_max_events_per_s if p.replica_max_events_per_s > 0 else throughput
            caps.append((ceil_div(p.write_budget_rows_per_s / p.rows_per_event, feeds), "capped_budget"))
        useful = max(snapshot.partitions_with_lag, ceil_div(ingress, throughput))
        caps.append((min(useful, snapshot.max_partitions_per_topic), "capped_partitions"))
        caps.append((p.max_replicas, "capped_max"))
        target, reason = raw, ""
        for cap, why in caps:  # the first, most important, of equal caps names the reason
            if cap < target:
                target, reason = cap, why
        if target < p.min_replicas:
            target, reason = p.min_replicas, "floor_min"
        banded = ceil_div(needed, throughput * (1 - p.scale_down_dead_band))
        comfortable = max(target, min([banded, *(cap for cap, _ in caps)]))
        hard_cap, hard_reason = min((c for c in caps if c[1] != "capped_partitions"), key=lambda c: c[0])
        hard_cap = max(hard_cap, p.min_replicas, 1)  # min_replicas is the operator's word: it wins
        return _Sizing(
            needed, ingress, throughput, usable, raw, target, comfortable, reason, hard_cap, hard_reason
        )

    def _projected_ingress(self, snapshot: Snapshot, state: FloodwallState, throughput: float) -> float:
        """The ingress now, or on a rising rate, where its slope since the last tick takes it by the time
        new replicas would be working (never below the measured rate).

        A rise is projected when it has already overrun the running replicas, or when the rate has risen
        by at least a quarter of a replica's throughput on two ticks in a row (a ramp). A single step the
        running replicas absorb is not: traffic switching on, a burst of restocks or tick-to-tick noise
        (a warm-up of 100-300 events/s) would otherwise be extrapolated into replicas nobody needs, and
        the next tick still sees a real ramp in time."""
        ingress = max(snapshot.ingress_events_per_s or 0.0, 0.0)
        last = state.last_ingress
        if last is None or snapshot.ingress_events_per_s is None or snapshot.at_s <= last[0]:
            return ingress
        overrun = ingress > snapshot.current_replicas * throughput or self._saturated_and_behind(snapshot)
        ramp = min(ingress - last[1], state.last_rise) >= throughput / 4
        if not (overrun or ramp):
            return ingress
        slope = (ingress - last[1]) / (snapshot.at_s - last[0])
        return ingress + max(0.0, slope) * self.params.scale_up_lead_s

    @staticmethod
    def _saturated_and_behind(snapshot: Snapshot) -> bool:
        """A replica worked at its limit in the last window and the backlog still grew: the ingress has
        overrun the fleet now, though the window's average rate (which trails a steep rise) is below it."""
        ingress, egress = snapshot.ingress_events_per_s, snapshot.egress_events_per_s
        if snapshot.replica_throughput_events_per_s is None or ingress is None or egress is None:
            return False
        return ingress > egress

    def _track_idle(self, snapshot: Snapshot, state: FloodwallState) -> FloodwallState:
        idle = (snapshot.ingress_events_per_s or 0.0) <= 0 and snapshot.total_lag <= (
            self.params.activation_lag_threshold
        )
        if not idle:
            return replace(state, idle_since_s=None)
        return state if state.idle_since_s is not None else replace(state, idle_since_s=snapshot.at_s)

    def _from_zero(
        self, snapshot: Snapshot, state: FloodwallState, sizing: _Sizing, detail: str
    ) -> tuple[Decision, FloodwallState]:
        p = self.params
        arriving = (snapshot.ingress_events_per_s or 0.0) > 0 and snapshot.partitions_without_offset > 0
        if snapshot.total_lag > p.activation_lag_threshold or arriving:
            target = max(sizing.target, 1)
            why = f"lag {snapshot.total_lag:,} > activation threshold {p.activation_lag_threshold:,}"
            return self._change(snapshot.at_s, state, target, "scale_from_zero", f"{why}; {detail}", 0)
        if p.min_replicas > 0:
            return self._change(snapshot.at_s, state, p.min_replicas, "floor_min", detail, 0)
        return Decision(0, "idle_at_zero", f"no lag above {p.activation_lag_threshold:,}; {detail}"), state

    def _to_zero(self, now: float, state: FloodwallState, detail: str) -> Decision | None:
        p = self.params
        if p.min_replicas > 0 or state.idle_since_s is None:
            return None
        if now - state.idle_since_s < p.scale_down_window_s:
            return None
        idle_for = now - state.idle_since_s
        return Decision(0, "scale_to_zero", f"no ingress and no lag for {idle_for:.0f} s; {detail}")

    def _up_reason(self, snapshot: Snapshot, sizing: _Sizing, current: int) -> str:
        if sizing.reason:
            return sizing.reason
        ingress_only = ceil_div(sizing.ingress, sizing.throughput)
        return "scale_up_ingress" if ingress_only > current else "scale_up_backlog"

    @staticmethod
    def _draining(snapshot: Snapshot, sizing: _Sizing) -> bool:
        """The backlog, not the ingress, sets the size, and the fleet is working it off. A backlog that
        nothing consumes (no egress since the last tick) is no drain to protect: holding for it would keep
        every replica for as long as it stands — a lag the fleet cannot or need not move (a partition
        stopped for an operator, or committed offsets that Kafka has not caught up with)."""
        backlog_sets_size = sizing.raw > ceil_div(sizing.ingress, sizing.throughput)
        egress = snapshot.egress_events_per_s
        return backlog_sets_size and (egress is None or egress > 0)

    def _down(
        self,
        now: float,
        snapshot: Snapshot,
        state: FloodwallState,
        sizing: _Sizing,
        target: int,
        current: int,
        detail: str,
    ) -> tuple[Decision, FloodwallState]:
        p = self.params
        if self._draining(snapshot, sizing):
            state = replace(state, recommendations=(), draining=True)
            return Decision(current, "hold_draining", f"{detail}; keeping {current} until drained"), state
        if state.draining:
            state = replace(state, draining=False, drained_since_s=now)
        banded = ceil_div(sizing.needed, sizing.throughput * (1 - p.scale_down_dead_band))
        floor = max(target, banded)
        if floor >= current:
            band = f"{current - 1} replicas would leave less than {p.scale_down_dead_band:.0%} headroom"
            return Decision(current, "hold_dead_band", f"{detail}; {band}"), state
        highest = max(rec for _, rec in state.recommendations)
        since_change = None if state.last_change_s is None else now - state.last_change_s
        # After a drain the window must be watched in full before the first step down.
        watched = math.inf if state.drained_since_s is None else now - state.drained_since_s
        window_s = self.window_s(state)
        if highest >= current or watched < window_s or (since_change is not None and since_change < window_s):
            window = f"{window_s:g} s window (highest recent recommendation {highest})"
            return Decision(current, "stabilizing", f"{detail}; waiting out the {window}"), state
        settling = self._settling_for(state.recommendations, now, window_s)
        if settling is not None:
            newest = state.recommendations[-1][1]
            why = f"{detail}; the need is still falling: {settling:.0f} s until one step down to {newest}"
            return Decision(current, "settling", why), state
        step = max(1, math.floor(current * p.scale_down_max_fraction))
        desired = max(floor, highest, current - step)
        if desired > max(floor, highest):
            reason = "scale_down_step"
        elif desired == target and sizing.reason:
            reason = sizing.reason
        else:
            reason = "scale_down"
        return self._change(now, state, desired, reason, detail, current)

    @staticmethod
    def _settling_for(
        recommendations: tuple[tuple[float, int], ...], now: float, window_s: float
    ) -> float | None:
        """Seconds to wait before stepping down, or ``None`` to step now.

        The window allows a step to its highest recommendation; when the newest one is lower, the need is
        still falling and the window will allow that lower count once it has passed the last higher one.
        If that is at most half a window away, waiting for it replaces two rebalances (down to the
        intermediate count, then down again one window later) with one."""
        newest = recommendations[-1][1]
        higher = [at for at, rec in recommendations if rec > newest]
        if not higher:
            return None
        wait = max(higher) + window_s - now
        return wait if 0 < wait <= window_s / 2 else None

    def _change(
        self, now: float, state: FloodwallState, desired: int, reason: str, detail: str, current: int
    ) -> tuple[Decision, FloodwallState]:
        if desired != current:
            state = replace(state, last_change_s=now)
        # Demand rising, not a crashed replica replaced (the count back to what was decided before).
        if desired > current > 0 and desired > (state.last_desired or 0):
            state = replace(state, scale_ups=(*state.scale_ups[-(RECURRENCE_MEMORY - 1) :], now))
        return Decision(desired, reason, f"{detail}; {current} -> {desired}"), state

    def window_s(self, state: FloodwallState) -> float:
        """The scale-down window: ``scale_down_window_s``, stretched when bursts recur. When the latest
        scale-ups came less than ``scale_down_window_max_s`` apart, the next burst is likely that far
        behind the last one: the window then covers 1.25x their longest gap (at most the maximum), so
        the fleet keeps its replicas through the lull instead of paying a rebalance down and another up.
        Bursts further apart than the maximum leave the window as it is."""
        p = self.params
        gaps = [b - a for a, b in itertools.pairwise(state.scale_ups)]
        if not gaps or max(gaps) > p.scale_down_window_max_s:
            return p.scale_down_window_s
        return min(p.scale_down_window_max_s, max(p.scale_down_window_s, RECURRENCE_MARGIN * max(gaps)))
