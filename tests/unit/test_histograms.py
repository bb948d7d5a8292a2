"""Histogram quantiles match PromQL's histogram_quantile on the same buckets."""

from __future__ import annotations

import math

import pytest
from prometheus_client import CollectorRegistry, Histogram, generate_latest

from floodwall.histograms import buckets_from_exposition, merge, quantile


def test_linear_interpolation_inside_the_bucket() -> None:
    buckets = {0.1: 10.0, 0.5: 30.0, 1.0: 40.0, math.inf: 40.0}
    assert quantile(0.25, buckets) == pytest.approx(0.1)  # rank 10: the top of the first bucket
    assert quantile(0.5, buckets) == pytest.approx(0.1 + 0.4 * 10 / 20)  # rank 20, half-way in (0.1, 0.5]
    assert quantile(0.99, buckets) == pytest.approx(0.5 + 0.5 * (39.6 - 30) / 10)


def test_the_inf_bucket_reports_the_largest_finite_bound() -> None:
    assert quantile(0.99, {0.1: 1.0, 1.0: 1.0, math.inf: 10.0}) == 1.0


def test_empty_histograms_have_no_quantile_and_bad_q_is_refused() -> None:
    assert quantile(0.5, {}) is None
    assert quantile(0.5, {1.0: 0.0, math.inf: 0.0}) is None
    with pytest.raises(ValueError):
        quantile(1.5, {1.0: 1.0})


def test_buckets_read_from_a_real_exposition_and_merged_across_processes() -> None:
    pages = []
    for values in ([0.02, 0.3], [0.3, 0.7, 2.0]):
        registry = CollectorRegistry()
        hist = Histogram("x_seconds", "x", registry=registry, buckets=(0.1, 0.5, 1.0))
        for v in values:
            hist.observe(v)
        pages.append(buckets_from_exposition(generate_latest(registry).decode(), "x_seconds"))
    merged = merge(pages)
    assert merged == {0.1: 1.0, 0.5: 3.0, 1.0: 4.0, math.inf: 5.0}
    assert quantile(0.5, merged) == pytest.approx(0.1 + 0.4 * (2.5 - 1) / 2)
