"""Quantiles from Prometheus histograms, computed the way PromQL's ``histogram_quantile`` does."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable

from prometheus_client.parser import text_string_to_metric_families

Buckets = dict[float, float]  # upper bound ("le") -> cumulative count


def buckets_from_exposition(text: str, name: str) -> Buckets:
    """The cumulative ``le`` buckets of histogram ``name`` in one /metrics page (summed over labels)."""
    buckets: Buckets = defaultdict(float)
    for family in text_string_to_metric_families(text):
        if family.name != name:
            continue
        for sample in family.samples:
            if sample.name == name + "_bucket":
                buckets[float(sample.labels["le"])] += sample.value
    return dict(buckets)


def merge(pages: Iterable[Buckets]) -> Buckets:
    """Buckets of several processes added together (a fleet-wide histogram)."""
    merged: Buckets = defaultdict(float)
    for page in pages:
        for bound, count in page.items():
            merged[bound] += count
    return dict(merged)


def quantile(q: float, buckets: Buckets) -> float | None:
    """The ``q``-quantile, interpolated linearly inside its bucket (PromQL semantics).

    None when the histogram is empty. A quantile in the +Inf bucket is reported as the largest finite
    bound, as Prometheus does. Raises ValueError for q outside [0, 1].
    """
    if not 0 <= q <= 1:
        raise ValueError(f"quantile must be within [0, 1], got {q}")
    bounds = sorted(buckets)
    if not bounds or buckets[bounds[-1]] <= 0:
        return None
    total = buckets[bounds[-1]]
    rank = q * total
    lower, below = 0.0, 0.0
    for bound in bounds:
        count = buckets[bound]
        if count >= rank:
            if math.isinf(bound):
                return lower
            if count == below:
                return bound
            return lower + (bound - lower) * (rank - below) / (count - below)
        lower, below = bound, count
    return lower
