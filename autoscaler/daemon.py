"""The ``floodwall autoscale`` loop: measure → decide → act, once per tick, one log line per decision."""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from floodwall.autoscaler.actuators import ActuationError, Actuator
from floodwall.autoscaler.measure import MeasureError, Measurer
from floodwall.autoscaler.metrics import AutoscalerMetrics, drain_seconds
from floodwall.autoscaler.model import Decision, Policy

log = logging.getLogger(__name__)


class Autoscaler:
    """Owns the policy's state between ticks; the pieces it drives are passed in."""

    def __init__(
        self, measurer: Measurer, policy: Policy[Any], actuator: Actuator, metrics: AutoscalerMetrics
    ) -> None:
        self.measurer = measurer
        self.policy = policy
        self.actuator = actuator
        self.metrics = metrics
        self._state = policy.initial_state()
        self.last_tick_s = time.monotonic()  # for the liveness probe: a stuck loop stops moving it
        self.last_decision: Decision | None = None
        self.replicas: int | None = None  # as last read or set by this loop (safe to read from elsewhere)

    def tick(self, now: float | None = None) -> Decision | None:
        """One round. Returns the decision, or None when nothing could be measured or read (logged)."""
        self.last_tick_s = time.monotonic()
        try:
            current = self.actuator.current()
            self.replicas = current
        except ActuationError as exc:
            self.metrics.actuation_errors.inc()
            log.error("cannot read the replica count: %s", exc)
            return None
        try:
            snapshot = self.measurer.snapshot(current, now)
        except MeasureError as exc:
            self.metrics.measure_errors.inc()
            log.error("no measurement this tick, replicas stay at %d: %s", current, exc)
            return None
        decision, self._state = self.policy.decide(snapshot, self._state)
        self.last_decision = decision
        self.metrics.observe(snapshot, decision)
        drain = drain_seconds(snapshot)
        log.info(
            "replicas %d -> %d [%s] %s | lag %d, in %s/s, out %s/s, drain %s",
            current,
            decision.desired,
            decision.reason,
            decision.detail,
            snapshot.total_lag,
            _rate(snapshot.ingress_events_per_s),
            _rate(snapshot.egress_events_per_s),
            "-" if drain == float("inf") else f"{drain:.0f} s",
        )
        if decision.desired != current:
            try:
                self.actuator.scale(decision.desired)
                self.replicas = decision.desired
            except ActuationError as exc:
                self.metrics.actuation_errors.inc()
                log.error("cannot scale to %d: %s", decision.desired, exc)
        return decision

    def run(self, tick_s: float, stopping: threading.Event) -> None:
        """Tick every ``tick_s`` until ``stopping`` is set; then release the actuator."""
        try:
            while not stopping.is_set():
                started = time.monotonic()
                self.tick()
                stopping.wait(max(0.0, tick_s - (time.monotonic() - started)))
        finally:
            self.actuator.close()


def _rate(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}"
