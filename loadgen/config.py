"""Settings of the load generator (``floodwall loadgen …``), section ``[loadgen]``."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, ClassVar, Self

from pydantic import AfterValidator, Field, model_validator

from floodwall.dburl import DatabaseUrl, database_url_field
from floodwall.kafkaconn import TopicName
from floodwall.loadgen.generator import Workload
from floodwall.loadgen.profiles import Profile, ProfileName, build_profile
from floodwall.localstack import resolve_endpoint as resolve_endpoint  # re-exported for the runner
from floodwall.localstack import state_dir_field
from floodwall.settings import ServiceSettings


def _namespace(value: str) -> str:
    # It prefixes SKUs, which verification selects with LIKE: no wildcards, no upper case.
    if value and not re.fullmatch(r"[a-z0-9][a-z0-9-]{0,23}", value):
        raise ValueError("use 1-24 lower-case letters, digits or '-', starting with a letter or digit")
    return value


Namespace = Annotated[str, AfterValidator(_namespace)]
Share = Annotated[float, Field(ge=0, le=1)]


class LoadgenSettings(ServiceSettings):
    """What traffic to send, where to, and how to judge the outcome."""

    section: ClassVar[str] = "loadgen"

    profile: ProfileName = Field("flash-sale", description="rate curve: steady, ramp, flash-sale, day-curve")
    rate: float = Field(2000.0, gt=0, le=1_000_000, description="peak rate of the profile, events/s")
    duration: float = Field(60.0, gt=0, le=86_400, description="length of the profile in seconds")
    surge_factor: float = Field(30.0, ge=1, le=1000, description="flash-sale: peak / baseline rate")
    seed: int = Field(1, ge=0, description="random seed: the same seed and settings send the same events")
    namespace: Namespace = Field(
        "", description="prefix of SKUs and customers, mixed into event ids (default: s<seed>)"
    )
    skus: int = Field(500, ge=1, le=1_000_000, description="SKUs in the catalogue")
    zipf_s: float = Field(1.1, gt=0, le=5, description="Zipf exponent of SKU popularity (higher: hotter)")
    initial_stock: int = Field(
        40, ge=0, le=1_000_000, description="units of every SKU restocked at the start"
    )
    pay_share: Share = Field(0.7, description="share of orders paid a few seconds later")
    cancel_share: Share = Field(0.1, description="share of orders cancelled (releasing their stock)")
    restock_share: Share = Field(0.02, description="share of new actions that restock a SKU")
    max_items: int = Field(5, ge=1, le=20, description="most lines per order (1..max, uniform)")
    senders: int = Field(0, ge=0, le=64, description="sender processes (0: enough for the peak rate)")
    sender_capacity: float = Field(
        9_000.0, gt=0, description="events/s one sender process sustains (sizes senders=0)"
    )
    bootstrap_servers: str = Field("", description="Kafka bootstrap servers (default: the local stack's)")
    orders_topic: TopicName = Field("orders", description="topic of order events")
    inventory_topic: TopicName = Field("inventory", description="topic of inventory events")
    group_id: str = Field("floodwall-sink", min_length=1, description="consumer group of the sink fleet")
    database_url: DatabaseUrl = database_url_field(
        "libpq URL of the sink database (default: the local stack's)"
    )
    prometheus_url: str = Field(
        "", description="Prometheus for commit latency and replicas (default: the local stack's; 'off')"
    )
    state_dir: Path = state_dir_field()
    report_dir: Path = Field(Path("loadgen-report"), description="where report.json, report.png and logs go")
    drain_timeout_s: float = Field(300.0, gt=0, description="how long to wait for the pipeline to drain")
    stall_timeout_s: float = Field(
        120.0, gt=0, description="end the drain wait (FAIL) when nothing has been applied for this long"
    )
    flush_timeout_s: float = Field(60.0, gt=0, description="how long senders wait for acknowledgements")
    sample_interval_s: float = Field(1.0, ge=0.1, le=60, description="lag/replica/latency sampling period")
    verify: bool = Field(
        True, description="after sending: drain, verify PostgreSQL and report (else send only)"
    )

    @model_validator(mode="after")
    def _shares(self) -> Self:
        if self.pay_share + self.cancel_share > 1:
            raise ValueError(
                f"pay_share + cancel_share must be at most 1 (got {self.pay_share} + {self.cancel_share})"
            )
        return self

    @property
    def effective_namespace(self) -> str:
        return self.namespace or f"s{self.seed}"

    def build_profile(self) -> Profile:
        return build_profile(self.profile, self.rate, self.duration, self.surge_factor)

    def workload(self) -> Workload:
        return Workload(
            seed=self.seed,
            namespace=self.effective_namespace,
            skus=self.skus,
            zipf_s=self.zipf_s,
            initial_stock=self.initial_stock,
            pay_share=self.pay_share,
            cancel_share=self.cancel_share,
            restock_share=self.restock_share,
            max_items=self.max_items,
        )
