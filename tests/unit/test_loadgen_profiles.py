"""Load-generator profiles: the rate curves' shapes and the schedule's fidelity to them."""

from __future__ import annotations

import math
from collections import Counter

import pytest

from floodwall.loadgen.profiles import (
    PROFILE_NAMES,
    DayCurve,
    FlashSale,
    ProfileName,
    Ramp,
    Steady,
    build_profile,
    expected_events,
    schedule,
)


def per_second(times: list[float]) -> Counter[int]:
    return Counter(math.floor(t) for t in times)


def test_steady_schedule_sends_exactly_the_rate_every_second() -> None:
    times = list(schedule(Steady(peak=1234, duration_s=10)))
    assert len(times) == 12340 == expected_events(Steady(peak=1234, duration_s=10))
    # Float noise may move an event sitting exactly on a second's boundary to its neighbour.
    assert all(abs(n - 1234) <= 1 for n in per_second(times).values())
    assert times == sorted(times) and times[0] == 0.0 and times[-1] < 10


def test_flash_sale_surges_thirty_fold_within_seconds_then_decays() -> None:
    sale = FlashSale(peak=3000, duration_s=60)
    assert sale.rate(1) == pytest.approx(100) and sale.rate(11.9) == pytest.approx(100)
    assert sale.rate(12 + 3.01) == pytest.approx(3000)  # the rise takes 3 s
    assert sale.rate(20) == 3000 and sale.rate(32.9) == 3000
    assert sale.rate(40) < sale.rate(34) < 3000
    assert sale.rate(59.9) < 2 * sale.baseline  # back near the baseline at the end
    counts = per_second(list(schedule(sale)))
    assert counts[5] == pytest.approx(100, abs=1) and counts[25] == pytest.approx(3000, abs=1)


def test_ramp_rises_linearly_to_the_peak() -> None:
    ramp = Ramp(peak=1000, duration_s=100)
    assert ramp.rate(0) == pytest.approx(100) and ramp.rate(50) == pytest.approx(550)
    assert ramp.rate(100) == pytest.approx(1000)


def test_day_curve_peaks_in_the_evening_and_is_quiet_at_night() -> None:
    day = DayCurve(peak=2400, duration_s=240)  # 10 s per hour
    assert day.rate(200) == pytest.approx(2400)  # 20:00
    assert day.rate(50) == pytest.approx(0.06 * 2400)  # 05:00
    assert max(day.rate(t / 10) for t in range(2400)) == pytest.approx(2400)


@pytest.mark.parametrize("name", PROFILE_NAMES)
def test_schedule_follows_each_curve_second_by_second(name: ProfileName) -> None:
    profile = build_profile(name, peak=2000, duration_s=30)
    counts = per_second(list(schedule(profile)))
    for second in range(30):
        # The integral of the curve over the second, by fine midpoint sums.
        target = sum(profile.rate(second + (i + 0.5) / 1000) for i in range(1000)) / 1000
        assert counts[second] == pytest.approx(target, abs=2 + 0.01 * target), second
    assert sum(counts.values()) == expected_events(profile)
    assert profile.name == name and max(profile.rate(t / 10) for t in range(300)) <= 2000 + 1e-9
