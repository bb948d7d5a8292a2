"""Prometheus metrics of a sink consumer (``floodwall_consumer_*``). Labels stay low-cardinality:
topic, partition, a reason or error class — never an event id.

They are the consumer's only counters: the periodic log line and :meth:`ConsumerMetrics.totals` (which
tests and tools read) are derived from them, so the two can never disagree."""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


@dataclass(frozen=True)
class Totals:
    """Counts since the consumer started, summed over their labels."""

    batches: int  # batches committed
    applied: int
    rejected: int
    duplicates: int
    dead_letters: int
    fenced: int  # batches refused because another member had moved on


def _sum(metric: Counter | Histogram, suffix: str) -> int:
    """The sum of ``metric``'s samples named ``…suffix`` over all its label values."""
    return int(sum(s.value for m in metric.collect() for s in m.samples if s.name.endswith(suffix)))


@dataclass(frozen=True)
class ConsumerMetrics:
    consumed: Counter
    applied: Counter
    rows_written: Counter
    rejected: Counter
    duplicates: Counter
    dead_letters: Counter
    fenced: Counter
    batch_events: Histogram
    commit_seconds: Histogram
    lag: Gauge
    assigned: Gauge
    paused: Gauge
    rate_limit: Gauge
    throttle: Gauge
    offset_out_of_range: Gauge
    dead_letter_stalled: Gauge
    dead_letter_failures: Counter

    def totals(self) -> Totals:
        """A snapshot of the counts (a committed batch is one ``batch_events`` observation)."""
        return Totals(
            batches=_sum(self.batch_events, "_count"),
            applied=_sum(self.applied, "_total"),
            rejected=_sum(self.rejected, "_total"),
            duplicates=_sum(self.duplicates, "_total"),
            dead_letters=_sum(self.dead_letters, "_total"),
            fenced=_sum(self.fenced, "_total"),
        )

    @classmethod
    def create(cls, registry: CollectorRegistry) -> ConsumerMetrics:
        p = "floodwall_consumer_"
        return cls(
            consumed=Counter(
                p + "events_consumed_total", "Messages taken from Kafka", ["topic"], registry=registry
            ),
            applied=Counter(p + "events_applied_total", "Events applied to PostgreSQL", registry=registry),
            rows_written=Counter(
                p + "rows_written_total",
                "Rows written to PostgreSQL (what the write budget counts)",
                registry=registry,
            ),
            rejected=Counter(
                p + "events_rejected_total",
                "Events recorded as rejected, by reason",
                ["reason"],
                registry=registry,
            ),
            duplicates=Counter(
                p + "events_duplicate_total", "Replayed events dropped by event id", registry=registry
            ),
            dead_letters=Counter(
                p + "dead_letters_total",
                "Events sent to the dead-letter topic",
                ["error_class"],
                registry=registry,
            ),
            fenced=Counter(
                p + "batches_fenced_total",
                "Batches refused because another consumer moved on",
                registry=registry,
            ),
            batch_events=Histogram(
                p + "batch_events",
                "Events per applied batch",
                registry=registry,
                buckets=(1, 10, 50, 100, 250, 500, 1000, 2500, 5000, 10000),
            ),
            commit_seconds=Histogram(
                p + "commit_seconds",
                "Time to apply and commit one batch",
                registry=registry,
                # fine enough for p50/p99 of batch commits (bench sink reads them)
                buckets=(
                    0.005,
                    0.01,
                    0.025,
                    0.05,
                    0.075,
                    0.1,
                    0.15,
                    0.2,
                    0.3,
                    0.5,
                    0.75,
                    1,
                    1.5,
                    2,
                    3,
                    5,
                    10,
                    30,
                ),
            ),
            lag=Gauge(
                p + "lag_events",
                "High watermark minus the next offset to apply, as this consumer sees it",
                ["topic", "partition"],
                registry=registry,
            ),
            assigned=Gauge(p + "assigned_partitions", "Partitions this consumer owns", registry=registry),
            paused=Gauge(
                p + "paused_partitions",
                "Partitions paused by backpressure or a database outage",
                registry=registry,
            ),
            rate_limit=Gauge(
                p + "write_rate_limit_rows_per_second",
                "This consumer's current share of the write budget (0 = unlimited)",
                registry=registry,
            ),
            throttle=Gauge(
                p + "throttle_factor",
                "Adaptive throttle: 1 = full share, lower = backing off",
                registry=registry,
            ),
            offset_out_of_range=Gauge(
                p + "offset_out_of_range",
                "1 while a partition is stopped because its stored offset lies outside the log",
                ["topic", "partition"],
                registry=registry,
            ),
            dead_letter_stalled=Gauge(
                p + "dead_letter_stalled",
                "1 while a partition is stopped because the dead-letter topic did not take its dead letters",
                ["topic", "partition"],
                registry=registry,
            ),
            dead_letter_failures=Counter(
                p + "dead_letter_failures_total",
                "Batches not committed because the dead-letter topic did not take their dead letters",
                registry=registry,
            ),
        )
