"""Protecting the primary: a fleet-wide write budget and an adaptive throttle (pure; time is passed in).

**Budget.** The fleet may write ``budget`` rows/s in total, whatever its size. Each consumer takes the
share of its assigned partitions: ``budget * mine / all``. As every partition has one owner, the shares add
up to the budget for 1 or 30 replicas alike, and a rebalance re-divides it without any coordination.

**Bucket.** A token bucket per consumer, starting empty (no burst above the budget at start-up) and holding
at most one second of its rate. A batch spends its rows at once and may leave the bucket in debt; the
consumer then waits :meth:`TokenBucket.delay` with its partitions *paused* (never a sleep past the poll
interval), so over any window the rate stays within the budget plus one batch.

**Replica cap.** Optionally, one consumer may not write more than ``replica_cap`` rows/s whatever its share:
a stand-in for a pod's CPU limit. A fleet then needs several replicas to use the whole budget, which is what
lets the demo show scaling on a small machine where one process could feed any budget its database takes.

**Throttle.** Additive-increase / multiplicative-decrease on the share: a commit slower than the target, or
a failed one, halves it (down to a floor); each healthy commit gives back a little. The database's own
latency thus slows the fleet before the primary is flattened.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# The fleet-wide rule, shared with the autoscaler's fleet model (re-exported: callers take it from here).
from floodwall.writebudget import partition_share as partition_share


@dataclass
class TokenBucket:
    """Rows that may be written now; ``rate`` 0 means unlimited."""

    rate: float
    tokens: float = 0.0
    updated: float = 0.0

    def refill(self, now: float) -> None:
        if self.rate > 0:
            self.tokens = min(self.rate, self.tokens + (now - self.updated) * self.rate)
        self.updated = now

    def set_rate(self, rate: float, now: float) -> None:
        self.refill(now)
        self.rate = rate
        self.tokens = min(self.tokens, rate)

    def spend(self, rows: int, now: float) -> None:
        self.refill(now)
        if self.rate > 0:
            self.tokens -= rows

    def delay(self, now: float) -> float:
        """Seconds until the bucket is out of debt (0 when rows may be written now)."""
        self.refill(now)
        # Within a thousandth of a row of zero counts as zero: float rounding must not leave a wait so
        # small that adding it to the clock changes nothing.
        if self.rate <= 0 or self.tokens > -1e-3:
            return 0.0
        return -self.tokens / self.rate


@dataclass
class AdaptiveThrottle:
    """A factor in [floor, 1] applied to the share, from commit latency and errors (AIMD)."""

    target_latency_s: float
    floor: float = 0.05
    step: float = 0.05
    factor: float = 1.0

    def observe(self, latency_s: float | None, failed: bool = False) -> float:
        """Record one commit (``failed``: it errored); return the new factor."""
        if failed or (latency_s is not None and latency_s > self.target_latency_s):
            self.factor = max(self.floor, self.factor / 2)
        else:
            self.factor = min(1.0, self.factor + self.step)
        return self.factor

    @property
    def throttled(self) -> bool:
        return self.factor < 1.0


@dataclass
class MemberBudget:
    """One consumer's part of the fleet budget: its share, its bucket and its throttle, kept together."""

    fleet_rows_per_s: float  # 0 = unlimited
    throttle: AdaptiveThrottle
    replica_cap_rows_per_s: float = 0.0  # 0 = no cap of its own
    share: float = 0.0  # rows/s this member may use (0 = unlimited)
    bucket: TokenBucket = field(default_factory=lambda: TokenBucket(rate=0.0))

    @property
    def limited(self) -> bool:
        """Whether there is any limit to apply (a fleet budget or a replica cap)."""
        return self.fleet_rows_per_s > 0 or self.replica_cap_rows_per_s > 0

    def assign(self, mine: int, total: int, now: float) -> float:
        """After a rebalance: the share of ``mine`` of ``total`` partitions, no more than the replica cap.
        Returns it (0 = unlimited)."""
        share = partition_share(self.fleet_rows_per_s, mine, total)
        cap = self.replica_cap_rows_per_s
        if cap > 0:
            share = min(share, cap) if share > 0 else cap
        self.share = share
        self.bucket.set_rate(self.share * self.throttle.factor, now)
        return self.share

    def batch_events(self, most: int) -> int:
        """Events to ask for in one batch: at most ``most``, and about half a second of the share when
        there is one. A batch spends its rows at once, so a batch of many seconds of the share would write
        in bursts followed by long pauses; events carry one or more rows each, hence share / 2."""
        if self.share <= 0:
            return most
        return max(1, min(most, int(self.share / 2)))

    def delay(self, now: float) -> float:
        """Seconds to hold the partitions before the next batch may be written."""
        return self.bucket.delay(now)

    def spend(self, rows: int, commit_s: float, now: float) -> None:
        """A batch wrote ``rows`` in a commit of ``commit_s`` seconds: charge it, adapt the rate."""
        self.bucket.spend(rows, now)
        if self.share > 0:
            self.bucket.set_rate(self.share * self.throttle.observe(commit_s), now)

    def failed(self) -> None:
        """A commit failed: back off (the next healthy commits give it back gently)."""
        self.throttle.observe(None, failed=True)
