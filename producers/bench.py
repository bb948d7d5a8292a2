"""``floodwall bench sdk``: order events per second acknowledged by the broker, one process.

Events are built before the clock starts (that is the calling service's work); the clock covers
validation, Avro encoding, producing and waiting for every acknowledgement (acks=all, idempotent).
``--batch N`` sends through ``emit_many`` in chunks of N instead of one ``emit`` per event. The JSON's
``per_event_us`` splits the cost of one event: validation and encoding timed alone over the same events
in the same run, and the rest (handle, lock, produce, delivery report, waiting for the broker).
"""

from __future__ import annotations

import argparse
import gc
import json
import random
import tempfile
import time
from pathlib import Path
from uuid import uuid4

from confluent_kafka import KafkaError, Message, Producer
from prometheus_client import CollectorRegistry

from floodwall.cliargs import add_settings_flags, settings_from_args
from floodwall.errors import FloodwallError
from floodwall.events.codec import EventSerializer
from floodwall.events.model import OrderEvent, OrderItem
from floodwall.events.validation import is_valid
from floodwall.producers.config import ProducerSettings
from floodwall.producers.delivery import Delivery, DeliveryStatus
from floodwall.producers.metrics import ProducerMetrics
from floodwall.producers.producer import EventProducer
from floodwall.topics import ensure_topics

BENCH_TOPIC = "floodwall-bench-orders"


def register(bench: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    sdk = bench.add_parser(
        "sdk",
        help="order events/s acknowledged by the broker through the SDK (one process)",
        description=f"Emit N order events (3 items each) to the topic {BENCH_TOPIC} (created if missing) and "
        "print one JSON object: events_per_s, emit_us_per_event, delivery latency percentiles, and, "
        "measured in the same run, raw_produce_per_s (plain confluent-kafka sending the same pre-encoded "
        "bytes) and ratio_to_raw.",
    )
    sdk.add_argument("--events", type=int, default=200_000, help="events to emit (default 200000)")
    sdk.add_argument("--partitions", type=int, default=12, help="partitions of the bench topic (default 12)")
    sdk.add_argument(
        "--batch",
        type=int,
        default=0,
        metavar="N",
        help="emit_many() in chunks of N (default: emit() per event)",
    )
    add_settings_flags(sdk, ProducerSettings, only={"bootstrap_servers", "linger_ms", "compression"})
    sdk.set_defaults(handler=_bench_sdk)


def make_orders(count: int, seed: int = 7) -> list[OrderEvent]:
    rng = random.Random(seed)
    return [
        OrderEvent.placed(
            order_id=uuid4(),
            customer_id=f"c-{rng.randrange(100_000)}",
            region="eu-west",
            currency="EUR",
            items=[
                OrderItem(
                    sku=f"SKU-{rng.randrange(5000):05d}",
                    quantity=rng.randint(1, 3),
                    unit_price_minor=rng.randrange(100, 20_000),
                )
                for _ in range(3)
            ],
        )
        for _ in range(count)
    ]


def _bench_sdk(args: argparse.Namespace) -> int:
    if args.events < 2:
        raise FloodwallError("--events must be at least 2")
    if args.batch < 0:
        raise FloodwallError("--batch must be at least 1 (or 0 for emit() per event)")
    base = settings_from_args(ProducerSettings, args)
    ensure_topics(base.bootstrap_servers, [BENCH_TOPIC], args.partitions)
    events = make_orders(args.events)
    # The pre-built events are the bench's heap, not the SDK's: keep the collector from rescanning them
    # (a service builds one event at a time). The SDK's own allocations still pay their GC cost.
    gc.freeze()
    with tempfile.TemporaryDirectory(prefix="floodwall-bench-spool-") as spool:
        settings = base.model_copy(update={"orders_topic": BENCH_TOPIC, "spool_dir": Path(spool)})
        result = run_sdk_bench(settings, events, args.batch)
    print(json.dumps(result))
    return 0


def run_sdk_bench(settings: ProducerSettings, events: list[OrderEvent], batch: int = 0) -> dict[str, object]:
    """Emit ``events`` (per event, or ``emit_many`` in chunks of ``batch``) and wait for all
    acknowledgements; then, in the same run, the raw baseline and the cost split. Returns the figures."""
    metrics = ProducerMetrics.on(CollectorRegistry())  # keep the bench out of the process-wide registry
    with EventProducer(settings, metrics=metrics) as producer:
        producer.emit(events[0]).result(timeout=30)  # connect and fetch metadata before the clock starts
        started = time.perf_counter()
        handles = _send(producer, events[1:], batch)
        emitted = time.perf_counter()
        pending = producer.flush(timeout=120)
        finished = time.perf_counter()
    acked = sum(1 for h in handles if h.status is DeliveryStatus.ACKNOWLEDGED)
    if pending or acked != len(handles):
        raise FloodwallError(f"bench: only {acked} of {len(handles)} events acknowledged ({pending} pending)")
    latencies = sorted(h.latency_s for h in handles if h.latency_s is not None)
    sdk_rate = len(handles) / (finished - started)
    raw_rate = raw_produce_rate(settings, events[1:])
    return {
        "events": len(handles),
        "mode": f"emit_many, batches of {batch}" if batch else "emit per event",
        "seconds": round(finished - started, 3),
        "events_per_s": round(sdk_rate),
        "raw_produce_per_s": round(raw_rate),
        "ratio_to_raw": round(sdk_rate / raw_rate, 3),
        "emit_us_per_event": round((emitted - started) / len(handles) * 1e6, 2),
        "per_event_us": cost_split(events[1:], 1e6 / sdk_rate, 1e6 / raw_rate),
        "delivery_latency_p50_s": _quantile(latencies, 0.5),
        "delivery_latency_p99_s": _quantile(latencies, 0.99),
        "bootstrap_servers": settings.bootstrap_servers,
    }


def _send(producer: EventProducer, events: list[OrderEvent], batch: int) -> list[Delivery]:
    if not batch:
        return [producer.emit(event) for event in events]
    handles: list[Delivery] = []
    for start in range(0, len(events), batch):
        handles += producer.emit_many(events[start : start + batch])
    return handles


def cost_split(events: list[OrderEvent], sdk_us: float, raw_us: float) -> dict[str, float]:
    """Where one event's microseconds go: validation, building the Avro record and fastavro's encoding
    (each timed alone over ``events``, as the SDK does them; ``encode`` is the last two), the rest of
    ``sdk_us`` (handle, lock, produce, delivery report, the broker's answer), and ``raw_us``, plain
    confluent-kafka's whole cost per message, for scale."""
    serializer = EventSerializer(validate=False)
    started = time.perf_counter()
    for event in events:
        is_valid(event)
    validated = time.perf_counter()
    for event in events:
        event.to_record()
    recorded = time.perf_counter()
    for event in events:
        serializer.encode(event)
    encoded = time.perf_counter()
    per_event = 1e6 / len(events)
    validate_us, encode_us = (validated - started) * per_event, (encoded - recorded) * per_event
    record_us = (recorded - validated) * per_event
    return {
        "validate": round(validate_us, 2),
        "encode": round(encode_us, 2),
        "encode_to_record": round(record_us, 2),
        "encode_fastavro": round(encode_us - record_us, 2),
        "produce_deliver": round(sdk_us - validate_us - encode_us, 2),
        "total": round(sdk_us, 2),
        "raw_total": round(raw_us, 2),
    }


def raw_produce_rate(settings: ProducerSettings, events: list[OrderEvent]) -> float:
    """The floor under the SDK, measured in the same run: plain confluent-kafka producing the same bytes
    (encoded before the clock starts) with the same client settings, one delivery callback per message."""
    serialize = EventSerializer()
    messages = [(serialize(e), e.key()) for e in events]
    client = Producer(settings.librdkafka())
    acked = 0

    def delivered(err: KafkaError | None, _msg: Message) -> None:
        nonlocal acked
        acked += err is None

    started = time.perf_counter()
    for value, key in messages:
        while True:
            try:
                client.produce(settings.orders_topic, value, key, on_delivery=delivered)
                break
            except BufferError:
                client.poll(0.001)
        client.poll(0)
    client.flush(120)
    elapsed = time.perf_counter() - started
    if acked != len(messages):
        raise FloodwallError(f"bench: raw producer got {acked} of {len(messages)} acknowledgements")
    return len(messages) / elapsed


def _quantile(values: list[float], q: float) -> float | None:
    return values[min(len(values) - 1, int(q * len(values)))] if values else None
