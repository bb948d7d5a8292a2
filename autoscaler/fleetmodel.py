"""A one-second-tick model of the consumer fleet, its topic and its database.

What it models, and from which figures (measured on this project's 2-core machine, docs/consumers.md,
docs/stack.md, docs/kafka.md):

- **One topic of ``partitions`` partitions** (the stack's default: 12), keys hashed evenly: each second's
  arrivals are split across partitions, the remainder rotating. Events are whole: offsets are integers.
- **Replicas.** A new replica starts consuming after ``startup_s`` (process start and connections) plus
  the group's rebalance. Scale-down stops the newest replicas; a replica that had joined leaves the group
  at once (SIGTERM: it finishes its batch).
- **Rebalancing.** A joining member stops *all* consumption for ``join_pause_s``, a graceful leave for
  ``leave_pause_s``; overlapping changes extend the pause. Then partitions are assigned in contiguous
  ranges; replicas beyond the partition count idle. The figures are per group protocol, measured on
  Apache Kafka 4.4 with ``floodwall bench rebalance`` (``autoscaler/calibration.py``, docs/autoscaler.md):
  a pause is the longer of the measured whole-fleet stall and the ingestion time the change cost, so a
  protocol that stops only the partitions that move (KIP-848) costs at least what it was measured to.
- **Throughput.** A replica applies at most ``replica_throughput_events_per_s`` (7,900 order events/s,
  one consumer, ~5 rows per event) from its partitions, in proportion to their backlog. Events that arrived
  within the last ``commit_trail_s`` are still in the consumer's batch (linger 0.2 s), so the committed
  offsets — and the lag KEDA and the autoscaler read — trail the log end as they do in production.
- **Write budget** ``write_budget_rows_per_s``. With ``enforce_budget`` (Floodwall's consumers) each replica
  writes at most ``budget * its partitions / all partitions`` (``floodwall.writebudget.partition_share``, the
  production rule); without it (KEDA's consumers in the wild) replicas write as fast as they can.
- **Database.** It absorbs at most ``db_capacity_factor * budget`` rows/s (factor 1: the budget is what the
  database can sustain for the sink); writes demanded beyond that are not applied that second (no overload
  collapse is modelled, which flatters fleets that overshoot). While the primary is down (a failover in the
  trace; measured 4-11 s) nothing is applied.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from floodwall.autoscaler.calibration import MEASURED
from floodwall.autoscaler.model import PartitionOffsets
from floodwall.writebudget import partition_share


@dataclass(frozen=True)
class FleetParams:
    """The fleet model's parameters; defaults are this machine's measured figures (module docstring)."""

    partitions: int = 12
    replica_throughput_events_per_s: float = 7900.0
    startup_s: float = MEASURED["classic"].startup_s
    join_pause_s: float = MEASURED["classic"].join_pause_s
    leave_pause_s: float = MEASURED["classic"].leave_pause_s
    rows_per_event: float = 5.0
    write_budget_rows_per_s: float = 100_000.0
    db_capacity_factor: float = 1.0
    commit_trail_s: float = 0.2
    enforce_budget: bool = True
    topic: str = "orders"

    @property
    def db_capacity_events_per_s(self) -> float:
        """Events/s the database absorbs (infinite without a budget)."""
        if self.write_budget_rows_per_s <= 0:
            return math.inf
        return self.write_budget_rows_per_s * self.db_capacity_factor / self.rows_per_event


@dataclass
class _Member:
    ident: int
    joins_at: float
    joined: bool = False


@dataclass(frozen=True)
class TickFlow:
    """What happened in one second."""

    arrived: int
    applied: int
    demanded_rows: float  # rows/s the fleet tried to write (after its own budget, before the database)
    paused_fraction: float  # share of the second the group was stopped by a rebalance
    saturated_rate: float | None  # apply rate of a replica limited by nothing but itself, if any was
    throttled: bool  # a replica was held back by its budget share


class Fleet:
    """The mutable fleet state stepped by the simulator; deterministic."""

    def __init__(self, params: FleetParams, initial_replicas: int) -> None:
        self.params = params
        self.end = [0] * params.partitions
        self.committed = [0] * params.partitions
        self._members = [_Member(i, 0.0, True) for i in range(initial_replicas)]
        self._next_ident = initial_replicas
        self._pause_until = 0.0
        self._rotation = 0
        self._arrival_carry = 0.0
        self._arrived_total = 0

    @property
    def running(self) -> int:
        """Replica processes started (what the actuator reports), joined or not."""
        return len(self._members)

    @property
    def lag(self) -> int:
        return sum(e - c for e, c in zip(self.end, self.committed, strict=True))

    def offsets(self) -> tuple[PartitionOffsets, ...]:
        """The partitions as the admin API would list them."""
        return tuple(
            PartitionOffsets(self.params.topic, i, end, committed)
            for i, (end, committed) in enumerate(zip(self.end, self.committed, strict=True))
        )

    def scale_to(self, replicas: int, now: float) -> None:
        """Start or stop processes so that ``replicas`` run; stopping a joined one rebalances the group."""
        while len(self._members) < replicas:
            self._members.append(_Member(self._next_ident, now + self.params.startup_s))
            self._next_ident += 1
        while len(self._members) > replicas:
            if self._members.pop().joined:
                self._pause_until = max(self._pause_until, now + self.params.leave_pause_s)

    def step(self, t: int, events: float, db_up: bool) -> TickFlow:
        """Advance the second ``[t, t+1)`` in which ``events`` (fractional carry kept) arrive."""
        arrived = self._arrive(events)
        for member in self._members:
            if not member.joined and member.joins_at <= t:
                member.joined = True
                pause_end = member.joins_at + self.params.join_pause_s
                self._pause_until = max(self._pause_until, pause_end)
        paused = min(1.0, max(0.0, self._pause_until - t))
        active = 1.0 - paused
        if active <= 0 or not db_up:
            return TickFlow(sum(arrived), 0, 0.0, paused, None, False)
        return self._consume(arrived, active, paused)

    def _arrive(self, events: float) -> list[int]:
        self._arrival_carry += events
        whole = int(self._arrival_carry)
        self._arrival_carry -= whole
        per, extra = divmod(whole, self.params.partitions)
        arrived = [per] * self.params.partitions
        for k in range(extra):
            arrived[(self._rotation + k) % self.params.partitions] += 1
        self._rotation = (self._rotation + extra) % self.params.partitions
        for i, n in enumerate(arrived):
            self.end[i] += n
        self._arrived_total += whole
        return arrived

    def _assignment(self) -> list[range]:
        joined = sorted(m.ident for m in self._members if m.joined)
        count, parts = len(joined), self.params.partitions
        ranges, start = [], 0
        for i in range(min(count, parts)):
            size = parts // count + (1 if i < parts % count else 0)
            ranges.append(range(start, start + size))
            start += size
        return ranges

    def _consume(self, arrived: list[int], active: float, paused: float) -> TickFlow:
        p = self.params
        trail = [math.ceil(n * p.commit_trail_s) for n in arrived]
        ready = [max(0, e - c - tr) for e, c, tr in zip(self.end, self.committed, trail, strict=True)]
        capacity = p.replica_throughput_events_per_s * active
        takes: list[tuple[range, int]] = []
        saturated: float | None = None
        throttled = False
        for owned in self._assignment():
            available = sum(ready[i] for i in owned)
            limit = capacity
            if p.enforce_budget and p.write_budget_rows_per_s > 0:
                share = partition_share(p.write_budget_rows_per_s, len(owned), p.partitions)
                limit = min(limit, share / p.rows_per_event * active)
            take = int(min(limit, available))
            throttled |= limit < capacity and available > limit
            if limit >= capacity and available >= capacity and paused == 0:
                saturated = p.replica_throughput_events_per_s
            takes.append((owned, take))
        demanded = sum(take for _, take in takes)
        room = p.db_capacity_events_per_s * active
        if demanded > room:  # the database absorbs no more; every replica gets its proportional part
            takes = [(owned, int(take * room / demanded)) for owned, take in takes]
            saturated = None
        applied = 0
        for owned, take in takes:
            applied += self._apply(owned, take, ready)
        return TickFlow(sum(arrived), applied, demanded * p.rows_per_event, paused, saturated, throttled)

    def _apply(self, owned: range, take: int, ready: list[int]) -> int:
        """Advance the committed offsets of ``owned`` by ``take`` events, in proportion to their backlog."""
        available = sum(ready[i] for i in owned)
        if take <= 0 or available <= 0:
            return 0
        shares = {i: take * ready[i] // available for i in owned}
        left = take - sum(shares.values())
        for i in sorted(owned, key=lambda i: (-(take * ready[i] % available), i)):
            if left == 0:
                break
            if shares[i] < ready[i]:
                shares[i] += 1
                left -= 1
        for i, n in shares.items():
            self.committed[i] += n
        return sum(shares.values())
