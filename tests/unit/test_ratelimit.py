"""Write budget arithmetic, the token bucket and the adaptive throttle (pure, time passed in)."""

from __future__ import annotations

import pytest

from floodwall.consumers.ratelimit import AdaptiveThrottle, MemberBudget, TokenBucket, partition_share


@pytest.mark.parametrize("replicas", [1, 2, 3, 5, 12])
def test_shares_add_up_to_the_budget_for_any_fleet_size(replicas: int) -> None:
    partitions = 24
    owned = [len(range(i, partitions, replicas)) for i in range(replicas)]  # every partition, one owner
    assert sum(owned) == partitions
    assert sum(partition_share(3000, mine, partitions) for mine in owned) == pytest.approx(3000)


def test_zero_budget_means_unlimited() -> None:
    assert partition_share(0, 3, 12) == 0
    bucket = TokenBucket(rate=0)
    bucket.spend(10**9, now=1.0)
    assert bucket.delay(now=1.0) == 0


def test_bucket_starts_empty_and_never_banks_more_than_a_second() -> None:
    bucket = TokenBucket(rate=100, updated=0.0)
    assert bucket.delay(0.0) == 0  # empty, not in debt
    bucket.spend(100, now=0.0)  # a first batch puts it 1 s in debt
    assert bucket.delay(0.0) == pytest.approx(1.0)
    assert bucket.delay(0.5) == pytest.approx(0.5)
    assert bucket.delay(1.0) == 0
    bucket.refill(60.0)  # idle for a minute: at most one second of credit
    assert bucket.tokens == pytest.approx(100)


def test_rate_over_time_stays_within_budget_plus_one_batch() -> None:
    bucket, now, written = TokenBucket(rate=1000, updated=0.0), 0.0, 0
    while now < 30:
        wait = bucket.delay(now)
        if wait > 0:
            now += wait
            continue
        bucket.spend(700, now)  # batches of 700 rows
        written += 700
    assert written <= 1000 * 30 + 700 + 1000


def test_throttle_halves_on_slow_or_failed_commits_and_recovers_gently() -> None:
    throttle = AdaptiveThrottle(target_latency_s=1.0)
    assert throttle.observe(0.2) == 1.0 and not throttle.throttled
    assert throttle.observe(3.0) == 0.5
    assert throttle.observe(None, failed=True) == 0.25
    for _ in range(100):
        throttle.observe(None, failed=True)
    assert throttle.factor == throttle.floor
    throttle.observe(0.1)
    assert throttle.factor == pytest.approx(throttle.floor + throttle.step)
    for _ in range(40):
        throttle.observe(0.1)
    assert throttle.factor == 1.0


def test_a_member_budget_follows_its_partitions_and_its_commit_latency() -> None:

    budget = MemberBudget(3_000.0, AdaptiveThrottle(target_latency_s=1.0))
    assert budget.assign(mine=4, total=12, now=0.0) == 1_000.0  # a third of the partitions
    budget.spend(rows=2_000, commit_s=0.1, now=0.0)  # a healthy commit, but 2 s of rows at once
    assert budget.delay(0.0) == 2.0 and budget.bucket.rate == 1_000.0
    budget.spend(rows=0, commit_s=5.0, now=2.0)  # a slow commit halves the rate
    assert budget.bucket.rate == 500.0
    budget.failed()
    budget.spend(rows=0, commit_s=0.1, now=3.0)
    assert budget.throttle.factor == 0.3 and budget.bucket.rate == 300.0
    unlimited = MemberBudget(0.0, AdaptiveThrottle(target_latency_s=1.0))
    assert unlimited.assign(4, 12, 0.0) == 0.0
    unlimited.spend(rows=10**6, commit_s=9.0, now=0.0)
    assert unlimited.delay(0.0) == 0.0


def test_a_replica_cap_bounds_the_share_with_or_without_a_fleet_budget() -> None:
    capped = MemberBudget(3_000.0, AdaptiveThrottle(target_latency_s=1.0), replica_cap_rows_per_s=800.0)
    assert capped.assign(mine=6, total=12, now=0.0) == 800.0  # half the budget (1500) is above the cap
    assert capped.assign(mine=2, total=12, now=0.0) == 500.0  # a sixth (500) is below it
    assert capped.bucket.rate == 500.0
    cap_only = MemberBudget(0.0, AdaptiveThrottle(target_latency_s=1.0), replica_cap_rows_per_s=800.0)
    assert cap_only.limited and not MemberBudget(0.0, AdaptiveThrottle(1.0)).limited
    assert cap_only.assign(mine=12, total=12, now=0.0) == 800.0
    cap_only.spend(rows=1_600, commit_s=0.1, now=0.0)
    assert cap_only.delay(0.0) == 2.0


def test_a_batch_is_about_half_a_second_of_the_share() -> None:
    budget = MemberBudget(3_000.0, AdaptiveThrottle(target_latency_s=1.0))
    assert budget.batch_events(5_000) == 5_000  # no share assigned yet: the configured most
    budget.assign(mine=4, total=12, now=0.0)
    assert budget.batch_events(5_000) == 500
    assert budget.batch_events(200) == 200
    budget.assign(mine=1, total=10**6, now=0.0)  # a tiny share still asks for one event
    assert budget.batch_events(5_000) == 1
