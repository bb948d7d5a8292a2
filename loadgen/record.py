"""What a run leaves for verification (``run.json`` beside the acknowledgement logs), so that
``floodwall loadgen verify RUN_DIR`` can judge a run again later, e.g. after a drain timed out."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from floodwall.errors import FloodwallError
from floodwall.loadgen.sampler import Point
from floodwall.privatefs import write_private

RUN_FILE = "run.json"


@dataclass
class Target:
    """Where the run's events went and who consumes them (no URLs: they may carry credentials)."""

    group_id: str
    orders_topic: str
    inventory_topic: str

    @property
    def topics(self) -> tuple[str, str]:
        return (self.orders_topic, self.inventory_topic)


@dataclass
class RunRecord:
    """One run: the trace it sent, when, with how many senders, and what they counted."""

    header: dict[str, Any]  # the trace's (profile, workload)
    footer: dict[str, Any]  # the trace's counts and prediction
    trace_path: str
    target: Target
    start_at: float  # wall-clock time of the profile's t = 0
    finished_at: float  # wall-clock time the last sender finished
    senders: int
    interrupted: bool
    statuses: dict[str, int]
    target_per_s: list[int]
    sent_per_s: list[int]
    late_events: int
    late_max_s: float
    series: dict[str, list[Point]] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)  # parts that failed, died or wedged during the run

    @property
    def emitted(self) -> int:
        return sum(self.statuses.values())

    @property
    def accepted(self) -> int:
        return self.statuses.get("acknowledged", 0) + self.statuses.get("spooled", 0)

    def save(self, run_dir: Path) -> None:
        write_private(run_dir / RUN_FILE, json.dumps(asdict(self), indent=1) + "\n")

    @classmethod
    def load(cls, run_dir: Path) -> RunRecord:
        """Raises FloodwallError when ``run_dir`` holds no (readable) run."""
        path = run_dir / RUN_FILE
        try:
            data = json.loads(path.read_text())
            data["target"] = Target(**data["target"])
            data["series"] = {k: [(float(t), float(v)) for t, v in pts] for k, pts in data["series"].items()}
            return cls(**data)
        except FileNotFoundError:
            raise FloodwallError(f"{run_dir} holds no load-generator run (no {RUN_FILE})") from None
        except (OSError, ValueError, TypeError, KeyError) as exc:
            raise FloodwallError(f"{path} is unreadable: {exc}") from None

    def ack_paths(self, run_dir: Path) -> list[Path]:
        return [run_dir / f"acks-{i}.bin" for i in range(self.senders)]
