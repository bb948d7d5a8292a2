"""The autoscaler's loop driven from a test thread: the real measurer (each snapshot kept), the policy and
the local actuator, so a test can check every decision against what was measured."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry

from floodwall.autoscaler.config import AutoscalerSettings, build_policy
from floodwall.autoscaler.daemon import Autoscaler
from floodwall.autoscaler.measure import Measurer
from floodwall.autoscaler.metrics import AutoscalerMetrics
from floodwall.autoscaler.model import Decision, Snapshot
from floodwall.autoscaler.run import build_actuator, measure_config
from tests.integration.kafka_reading import wait_group_assigned


class RecordingMeasurer(Measurer):
    """The real measurer, keeping every snapshot so the test can check decisions against them."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.seen: list[Snapshot] = []

    def snapshot(self, current_replicas: int, now: float | None = None) -> Snapshot:
        taken = super().snapshot(current_replicas, now)
        self.seen.append(taken)
        return taken


@dataclass
class Run:
    """One autoscaler loop in a thread; ``decisions`` pairs each decision with the snapshot it came from
    (``snapshot.at_s`` is on ``time.monotonic``'s clock)."""

    scaler: Autoscaler
    measurer: RecordingMeasurer
    decisions: list[tuple[Snapshot, Decision]] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    @classmethod
    def build(cls, settings: AutoscalerSettings) -> Run:
        measurer = RecordingMeasurer(measure_config(settings))
        metrics = AutoscalerMetrics.create(CollectorRegistry())
        scaler = Autoscaler(measurer, build_policy(settings), build_actuator(settings), metrics)
        return cls(scaler, measurer)

    def loop(self, tick_s: float) -> None:
        try:
            while not self.stop.is_set():
                before = len(self.measurer.seen)
                decision = self.scaler.tick()
                if decision is not None and len(self.measurer.seen) > before:
                    self.decisions.append((self.measurer.seen[-1], decision))
                self.stop.wait(tick_s)
        finally:
            self.scaler.actuator.close()

    def start(self, tick_s: float) -> threading.Thread:
        worker = threading.Thread(target=self.loop, args=(tick_s,), daemon=True)
        worker.start()
        return worker

    def wait_first_consumer(self, bootstrap_servers: str, group_id: str) -> None:
        """Until the loop has started one consumer and the group has assigned it its partitions."""
        deadline = time.monotonic() + 60
        while self.replicas() != 1:
            assert time.monotonic() < deadline, "the autoscaler never started its first consumer"
            time.sleep(0.5)
        wait_group_assigned(bootstrap_servers, group_id, timeout_s=60)

    def replicas(self) -> int:
        return self.decisions[-1][1].desired if self.decisions else 0

    def changes(self) -> list[tuple[float, int, int, str]]:
        """``(at_s, from, to, reason)`` of every decision that changed the replica count."""
        return [
            (s.at_s, s.current_replicas, d.desired, d.reason)
            for s, d in self.decisions
            if d.desired != s.current_replicas
        ]
