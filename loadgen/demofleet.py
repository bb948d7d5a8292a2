"""The demo's consumer fleet: the autoscaler's loop in a thread (built as ``floodwall autoscale`` builds
it), its replica count for the chart, its consumers' pids for the chaos, and its health for the run's
watchdog."""

from __future__ import annotations

import logging
import threading
import time

from prometheus_client import CollectorRegistry

from floodwall.autoscaler.actuators.local import LocalFleet
from floodwall.autoscaler.config import AutoscalerSettings
from floodwall.autoscaler.run import build_autoscaler
from floodwall.redact import error_line

log = logging.getLogger(__name__)

NO_CONSUMER_S = 60.0  # a fleet without a single consumer for this long fails the run


class DemoFleet:
    """The autoscaler's loop in a thread (built as ``floodwall autoscale`` builds it), with the replica
    count exposed for the report's chart."""

    def __init__(self, settings: AutoscalerSettings) -> None:
        self.scaler = build_autoscaler(settings, CollectorRegistry())
        self.stopping = threading.Event()
        self.error: str | None = None
        self._none_since: float | None = None
        self.thread = threading.Thread(
            target=self._run, args=(settings.tick_s,), name="autoscaler", daemon=True
        )

    def _run(self, tick_s: float) -> None:
        try:
            self.scaler.run(tick_s, self.stopping)  # its exit stops the consumers
        except Exception as exc:
            self.error = error_line(exc)
            log.exception("the autoscaler failed")

    def start(self) -> None:
        self.thread.start()

    def current(self) -> float | None:
        """The replicas as the autoscaler's own thread last read or set them. Asking the actuator from here
        would reap and count its processes from a second thread while that one scales them."""
        replicas = self.scaler.replicas
        return None if replicas is None else float(replicas)

    def health(self) -> str | None:
        """Why the fleet cannot drain the run (None: it can): the autoscaler died, or no consumer has run
        for NO_CONSUMER_S (the autoscaler keeps starting them: they must be failing at start-up)."""
        if not self.thread.is_alive() and not self.stopping.is_set():
            return f"the autoscaler stopped: {self.error or 'its thread ended'}"
        if (self.current() or 0) > 0:
            self._none_since = None
            return None
        now = time.monotonic()
        self._none_since = self._none_since or now
        if now - self._none_since >= NO_CONSUMER_S:
            return f"no consumer has been running for {NO_CONSUMER_S:.0f} s (see the consumer logs)"
        return None

    def consumer_pids(self) -> list[int]:
        """The consumers the local actuator runs (read-only: a snapshot of its list)."""
        actuator = self.scaler.actuator
        return list(actuator.pids()) if isinstance(actuator, LocalFleet) else []

    def stop(self) -> None:
        self.stopping.set()
        self.thread.join(timeout=120)  # the loop's exit stops the consumers (SIGTERM, then kill)
