"""A load-generator run from end to end: trace → pre-flight → send → drain → verify → report.

The entry points other code calls (``floodwall demo`` included):

- :func:`prepare_trace` — generate a trace (with a progress bar), or open a recorded one;
- :func:`execute` — send it and, unless ``verify`` is off, drain, verify and write the report;
- :func:`finish` — drain, verify and report a run that was already sent (``loadgen verify``).

Extra or replacement series (say, the autoscaler's replica count) go in through ``probes``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from confluent_kafka.admin import AdminClient
from rich.console import Console

from floodwall.db.config import resolve_database_url
from floodwall.errors import FloodwallError
from floodwall.events.codec import EventDeserializer
from floodwall.kafkaconn import KAFKA_CLIENT_LOG
from floodwall.loadgen.acks import read_acks
from floodwall.loadgen.chart import write_chart
from floodwall.loadgen.config import LoadgenSettings, resolve_endpoint
from floodwall.loadgen.drain import DrainResult, StallWatch, Watch, spans_of, wait_drained
from floodwall.loadgen.pacer import processes_for
from floodwall.loadgen.record import RUN_FILE, RunRecord, Target
from floodwall.loadgen.report import build_report, findings_of, ingress_per_second, write_json
from floodwall.loadgen.sampler import Probe, Sampler, default_probes
from floodwall.loadgen.send import SendOutcome, Tick, send_trace
from floodwall.loadgen.terminal import PlainTicker, print_summary, progress_bars
from floodwall.loadgen.trace import Trace
from floodwall.loadgen.tracegen import generate_trace, planned_events, profile_from_json
from floodwall.loadgen.verdict import judge
from floodwall.loadgen.verify import verify_database
from floodwall.producers.config import ProducerSettings
from floodwall.redact import error_line
from floodwall.settings import load_settings

PREFLIGHT_IDS = 200


@dataclass(frozen=True)
class Endpoints:
    bootstrap_servers: str
    database_url: str  # "" when the run is not verified
    prometheus_url: str | None  # None: off, or no local stack to ask


def resolve_endpoints(settings: LoadgenSettings) -> Endpoints:
    """Flags/env first, else the local stack in ``state_dir``. Raises ConfigError when neither exists."""
    s = settings
    bootstrap = resolve_endpoint(s.bootstrap_servers, s.state_dir, "bootstrap_servers", "bootstrap_servers")
    database = resolve_database_url(s.database_url, s.state_dir) if s.verify else ""
    prometheus: str | None = None
    if s.prometheus_url and s.prometheus_url != "off":
        prometheus = s.prometheus_url
    elif not s.prometheus_url:
        try:
            prometheus = resolve_endpoint("", s.state_dir, "prometheus_url", "prometheus")
        except FloodwallError:
            prometheus = None  # no local stack: those series stay empty
    return Endpoints(bootstrap, database, prometheus)


def prepare_trace(settings: LoadgenSettings, path: Path, console: Console) -> Trace:
    """Generate the trace the settings describe into ``path`` (progress bar while generating)."""
    profile, workload = settings.build_profile(), settings.workload()
    with progress_bars(console) as bars:
        task = bars.add_task("generating", total=planned_events(profile, workload), note=str(path))
        trace = generate_trace(path, profile, workload, progress=lambda n: bars.update(task, completed=n))
    return trace


def execute(
    settings: LoadgenSettings,
    trace: Trace,
    console: Console,
    probes: Mapping[str, Probe] | None = None,
    config_file: Path | None = None,
    scenario: Mapping[str, Any] | None = None,
    settle: Callable[[], None] | None = None,
    health: Callable[[], str | None] | None = None,
    on_start: Callable[[float], None] | None = None,
    producer_overrides: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Send ``trace``, then (if ``settings.verify``) drain, verify and write the report. Returns the
    report document; ``report["verdict"]`` is PASS, FAIL or NOT VERIFIED.

    Never waits forever: senders that fail or wedge, a drain that stalls for ``stall_timeout_s`` or
    does not end within ``drain_timeout_s``, and a part ``health`` reports broken (a reason; None: all
    well) end the run with a FAIL verdict that names them, the report written all the same.

    ``scenario``: what the caller set up (say, the write budget), kept in the report for the chart.
    ``settle``: called once drained, while the series are still sampled (the demo waits there for the
    autoscaler to scale back down). ``on_start``: called with the wall-clock time of t = 0 once the
    senders are ready. ``producer_overrides``: SDK settings of the senders (say, a short delivery
    timeout)."""
    endpoints = resolve_endpoints(settings)
    producer = load_settings(
        ProducerSettings,
        {
            "bootstrap_servers": endpoints.bootstrap_servers,
            "orders_topic": settings.orders_topic,
            "inventory_topic": settings.inventory_topic,
            **(producer_overrides or {}),
        },
        config_file,
    )
    preflight(trace, settings, endpoints)
    run_dir = settings.report_dir / "run"
    _clear_previous(run_dir)
    senders = settings.senders or processes_for(
        float(trace.header["profile"]["peak"]), settings.sender_capacity, os.cpu_count() or 1
    )
    topics = [settings.orders_topic, settings.inventory_topic]
    sampler = Sampler(
        default_probes(endpoints.bootstrap_servers, settings.group_id, topics, endpoints.prometheus_url)
        | dict(probes or {}),
        settings.sample_interval_s,
    )
    try:
        outcome = _send(trace, producer, run_dir, senders, settings, sampler, console, on_start)
    except BaseException:
        sampler.stop()  # a sender failed or Ctrl-C twice: no report, and no thread left polling
        raise
    run = _record(trace, settings, outcome)
    run.series = sampler.series.points  # filled on; saved again after the drain
    run.save(run_dir)
    return finish(run, run_dir, settings, endpoints, console, sampler, scenario, settle, health)


def _clear_previous(run_dir: Path) -> None:
    """Remove an earlier run's logs: they would be verified with this one. Its spool directories stay:
    events in them were accepted and this run's senders deliver them first."""
    for pattern in ("acks-*.bin", "sender-*.log", RUN_FILE):
        for path in run_dir.glob(pattern):
            path.unlink()


def preflight(trace: Trace, settings: LoadgenSettings, endpoints: Endpoints) -> None:
    """Before sending: the topics exist, and (when verifying) the database answers and has not seen
    this trace's events already — the sink would drop them all as replays. Raises FloodwallError."""
    conf: dict[str, Any] = {"bootstrap.servers": endpoints.bootstrap_servers, "socket.timeout.ms": 5000}
    conf["logger"] = KAFKA_CLIENT_LOG  # the stubs' value type leaves the logger out
    admin = AdminClient(conf)
    try:
        present = set(admin.list_topics(timeout=10).topics)
    except Exception as exc:  # KafkaException: the broker is unreachable
        raise FloodwallError(f"the broker at {endpoints.bootstrap_servers} does not answer: {exc}") from None
    absent = [t for t in (settings.orders_topic, settings.inventory_topic) if t not in present]
    if absent:
        raise FloodwallError(f"topic {absent[0]!r} does not exist on {endpoints.bootstrap_servers}")
    if not settings.verify:
        return
    decode = EventDeserializer(validate=False)
    ids = []
    for n, record in enumerate(trace.records()):
        if n >= PREFLIGHT_IDS:
            break
        ids.append(decode(record.value).event_id)
    try:
        with psycopg.connect(endpoints.database_url, connect_timeout=10) as conn:
            row = conn.execute(
                "SELECT count(*) FROM processed_events WHERE event_id = ANY(%s)", (ids,)
            ).fetchone()
    except psycopg.Error as exc:
        raise FloodwallError(
            f"the sink database does not answer: {error_line(exc, endpoints.database_url)}"
        ) from None
    if row and int(row[0]):
        workload = trace.header["workload"]
        raise FloodwallError(
            f"the database already holds events of this trace (seed {workload['seed']}, namespace "
            f"{workload['namespace']!r}): the sink would drop them all as replays; pick another --seed "
            f"or --namespace (or replay into a fresh stack)"
        )


def _send(
    trace: Trace,
    producer: ProducerSettings,
    run_dir: Path,
    senders: int,
    settings: LoadgenSettings,
    sampler: Sampler,
    console: Console,
    on_start: Callable[[float], None] | None = None,
) -> SendOutcome:
    profile = profile_from_json(trace.header["profile"])

    def started(start_at: float) -> None:
        sampler.start(start_at)
        if on_start is not None:
            on_start(start_at)

    last = [0.0, 0]  # elapsed, sent at the previous rate reading
    plain = PlainTicker(console)

    with progress_bars(console) as bars:
        task = bars.add_task("sending", total=trace.events, note=f"{senders} sender(s)")

        def tick(t: Tick) -> None:
            plain(lambda: f"sending: {t.elapsed_s:.0f} s, {t.sent:,} of {trace.events:,} sent, "
                          f"{t.acked:,} acknowledged, {_latest(sampler)}")  # fmt: skip
            note = ""
            if t.elapsed_s - last[0] >= 1.0:
                rate = (t.sent - last[1]) / (t.elapsed_s - last[0])
                target = profile.rate(t.elapsed_s) if 0 <= t.elapsed_s < profile.duration_s else 0.0
                note = f"target {target:,.0f}/s  sent {rate:,.0f}/s  acked {t.acked:,}"
                last[:] = [t.elapsed_s, t.sent]
                bars.update(task, note=note)
            bars.update(task, completed=t.sent)

        # The schedule, the last acknowledgements' wait, and a minute of slack for a loaded machine.
        finish_within_s = profile.duration_s + settings.flush_timeout_s + 60
        outcome = send_trace(
            trace, producer, run_dir, senders, settings.flush_timeout_s, tick=tick, on_start=started,
            finish_within_s=finish_within_s,
        )  # fmt: skip
        bars.update(task, completed=sum(r.events for r in outcome.results))
    return outcome


def _latest(sampler: Sampler | None) -> str:
    """The sampler's latest consumer-group lag and replica count, for a plain progress line."""
    points = sampler.series.points if sampler is not None else {}

    def last(name: str) -> str:
        series = points.get(name)
        return f"{series[-1][1]:,.0f}" if series else "-"

    return f"lag {last('lag_events')}, replicas {last('replicas')}"


def _record(trace: Trace, settings: LoadgenSettings, outcome: SendOutcome) -> RunRecord:
    return RunRecord(
        header=trace.header,
        footer=trace.footer,
        trace_path=str(trace.path),
        target=Target(settings.group_id, settings.orders_topic, settings.inventory_topic),
        start_at=outcome.start_at,
        finished_at=outcome.finished_at,
        senders=outcome.senders,
        interrupted=outcome.interrupted,
        statuses=outcome.statuses,
        target_per_s=outcome.target_per_s,
        sent_per_s=outcome.sent_per_s,
        late_events=sum(r.late_events for r in outcome.results),
        late_max_s=max((r.late_max_s for r in outcome.results), default=0.0),
        failures=list(outcome.failures),
    )


def finish(
    run: RunRecord,
    run_dir: Path,
    settings: LoadgenSettings,
    endpoints: Endpoints,
    console: Console,
    sampler: Sampler | None = None,
    scenario: Mapping[str, Any] | None = None,
    settle: Callable[[], None] | None = None,
    health: Callable[[], str | None] | None = None,
) -> dict[str, Any]:
    """Drain, verify, judge and write ``report.json`` and ``report.png`` into ``settings.report_dir``
    (``scenario``, ``settle`` and ``health``: see :func:`execute`)."""
    # A sender killed before it opened its log left none (it is named in run.failures).
    acks = list(read_acks(p for p in run.ack_paths(run_dir) if p.exists()))
    ingress = ingress_per_second([a.acked for a in acks if a.has_ack_time], run.start_at)
    drain: DrainResult | None = None
    db = None
    verdict = None
    if settings.verify:
        spans = spans_of(acks, run.target.topics)
        with progress_bars(console) as bars:
            task = bars.add_task(
                "draining", total=max(1, sum(s.end - s.first for s in spans.values())), note=""
            )

            plain = PlainTicker(console)

            def progress(done: int, total: int) -> None:
                bars.update(task, completed=done, note=f"{total - done:,} behind")
                plain(lambda: f"draining: {done:,} of {total:,} applied, {total - done:,} behind, "
                              f"{_latest(sampler)}")  # fmt: skip

            drain = wait_drained(
                endpoints.database_url, run.target.group_id, spans, settings.drain_timeout_s, progress,
                watch=_drain_watch(settings.stall_timeout_s, health),
            )  # fmt: skip
        if drain.stopped is not None:
            run.failures.append(drain.stopped)
        if settle is not None and drain.drained:
            settle()
            time.sleep(settings.sample_interval_s * 1.5)  # the series see where settling ended
        if sampler is not None:
            run.series = sampler.stop().points
            run.save(run_dir)
        with console.status("verifying PostgreSQL against the acknowledgements"):
            db = verify_database(
                endpoints.database_url, acks, run.header["workload"]["namespace"], run.start_at
            )
        verdict = judge(findings_of(run, drain, db))
    elif sampler is not None:
        time.sleep(settings.sample_interval_s)  # one more sample after the last send
        run.series = sampler.stop().points
        run.save(run_dir)
    report = build_report(run, ingress, drain, db, verdict, scenario)
    files = [settings.report_dir / "report.json", settings.report_dir / "report.png"]
    write_json(report, files[0])
    write_chart(report, files[1])
    print_summary(report, console, files)
    return report


def _drain_watch(stall_s: float, health: Callable[[], str | None] | None) -> Watch:
    """Stop waiting when nothing is applied for ``stall_s``, or as soon as ``health`` names a broken part."""
    stalled = StallWatch(stall_s)

    def watch(left: int, now: float) -> str | None:
        return (health() if health is not None else None) or stalled(left, now)

    return watch


def reopen(run_dir: Path) -> RunRecord:
    """The record of a run sent earlier (for ``loadgen verify``). Raises FloodwallError."""
    run = RunRecord.load(run_dir)
    missing = [p for p in run.ack_paths(run_dir) if not p.exists()]
    if missing:
        raise FloodwallError(f"{run_dir}: acknowledgement log {missing[0].name} is missing")
    return run
