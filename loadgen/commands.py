"""``floodwall loadgen run | replay | generate | verify`` — flash-sale traffic through the SDK, judged
in PostgreSQL."""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from floodwall.cliargs import add_command_group, add_settings_command, settings_from_args
from floodwall.loadgen.config import LoadgenSettings

# rich, matplotlib and the runner are imported by the handlers: every other floodwall command would
# otherwise pay for loading them.

GENERATE = {
    "profile", "rate", "duration", "surge_factor", "seed", "namespace", "skus", "zipf_s", "initial_stock",
    "pay_share", "cancel_share", "restock_share", "max_items",
}  # fmt: skip
SEND = {
    "senders",
    "sender_capacity",
    "bootstrap_servers",
    "orders_topic",
    "inventory_topic",
    "flush_timeout_s",
}
CHECK = {"group_id", "database_url", "prometheus_url", "state_dir", "report_dir", "drain_timeout_s",
         "sample_interval_s", "verify"}  # fmt: skip

_EPILOG = (
    "Exit status: 0 PASS (with --no-verify: the whole trace sent and accepted), 1 FAIL, 2 bad settings. "
    "Writes REPORT_DIR/report.json, REPORT_DIR/report.png and REPORT_DIR/run/ (acknowledgement logs, "
    "sender logs). See docs/loadgen.md."
)


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    sub = add_command_group(
        commands,
        "loadgen",
        help="replay flash-sale traffic through the SDK and verify the outcome in PostgreSQL",
        description="Open-loop load generator: built-in profiles (steady, ramp, flash-sale, day-curve) of "
        "deterministic e-commerce traffic (orders of 1-5 items over Zipf-popular SKUs that sell out, "
        "payments, cancellations, restocks) sent through the producer SDK on schedule; then it waits for "
        "the sink to drain and checks PostgreSQL against what the SDK acknowledged.",
    )

    run = add_settings_command(
        sub,
        "run",
        LoadgenSettings,
        _run,
        help="generate a profile's traffic, send it, drain, verify, report",
        description="Generate the traffic the settings describe, send it through the SDK (several sender "
        "processes when the peak needs them), wait for the pipeline to drain, verify PostgreSQL and report. "
        "The same seed and settings send byte-identical events; --record keeps them as a trace file.",
        epilog=_EPILOG,
    )
    run.add_argument("--record", type=Path, metavar="FILE", help="keep the generated trace in FILE (.fwt)")

    replay = add_settings_command(
        sub,
        "replay",
        LoadgenSettings,
        _replay,
        help="send a recorded trace file, drain, verify, report",
        description="Send the events of a trace file (from `run --record` or `generate`) on its schedule, "
        "then drain, verify and report as `run` does. The trace fixes the traffic; the generation "
        "settings do not apply.",
        epilog=_EPILOG,
        only=SEND | CHECK,
    )
    replay.add_argument("trace", type=Path, help="trace file (.fwt)")

    generate = add_settings_command(
        sub,
        "generate",
        LoadgenSettings,
        _generate,
        help="write a profile's traffic to a trace file without sending it",
        description="Generate the traffic the settings describe into a trace file and print what it "
        "holds. Needs no stack. Two runs with the same settings write byte-identical files.",
        only=GENERATE,
    )
    generate.add_argument("trace", type=Path, help="trace file to write (.fwt)")

    add_settings_command(
        sub,
        "verify",
        LoadgenSettings,
        _verify,
        help="drain, verify and report a run sent earlier (its REPORT_DIR)",
        description="Judge again a run whose REPORT_DIR/run/ is still there, e.g. after a drain timed out: "
        "wait for the pipeline to drain, verify PostgreSQL, rewrite the report.",
        epilog=_EPILOG,
        only=CHECK - {"verify", "sample_interval_s"},
    )


def _exit_status(report: dict[str, object]) -> int:
    if report["verdict"] == "NOT VERIFIED":
        return 0 if not report["reasons"] else 1  # interrupted, or events the SDK did not accept
    return 0 if report["verdict"] == "PASS" else 1


def _run(args: argparse.Namespace) -> int:
    from rich.console import Console

    from floodwall.loadgen.runner import execute, prepare_trace, resolve_endpoints

    settings = settings_from_args(LoadgenSettings, args)
    resolve_endpoints(settings)  # a missing stack or URL is reported before seconds of generating
    console = Console()
    with tempfile.TemporaryDirectory(prefix="floodwall-trace-") as scratch:
        path = args.record or Path(scratch) / "trace.fwt"
        trace = prepare_trace(settings, path, console)
        return _exit_status(execute(settings, trace, console, config_file=args.config))


def _replay(args: argparse.Namespace) -> int:
    from rich.console import Console

    from floodwall.loadgen.runner import execute
    from floodwall.loadgen.trace import open_trace

    settings = settings_from_args(LoadgenSettings, args)
    trace = open_trace(args.trace)
    return _exit_status(execute(settings, trace, Console(), config_file=args.config))


def _generate(args: argparse.Namespace) -> int:
    from rich.console import Console

    from floodwall.loadgen.runner import prepare_trace
    from floodwall.loadgen.tracegen import profile_from_json

    settings = settings_from_args(LoadgenSettings, args)
    console = Console()
    trace = prepare_trace(settings, args.trace, console)
    prediction = trace.footer["prediction"]
    profile = profile_from_json(trace.header["profile"])
    console.print(
        f"{trace.events:,} events ({trace.path.stat().st_size / 2**20:.1f} MiB) in {trace.path}: "
        f"{profile.name}, peak {profile.peak:,.0f} events/s for {profile.duration_s:g} s, "
        f"namespace {trace.header['workload']['namespace']!r}"
    )
    for name, n in prediction["by_type"].items():
        console.print(f"  {name:<24}{n:>10,}")
    console.print(
        f"  the sink should reject {prediction['rejected_reservations']:,} reservations "
        f"({prediction['sold_out_skus']} SKUs sell out)"
    )
    return 0


def _verify(args: argparse.Namespace) -> int:
    from rich.console import Console

    from floodwall.loadgen.runner import finish, reopen, resolve_endpoints

    settings = settings_from_args(LoadgenSettings, args)
    run_dir = settings.report_dir / "run"
    run = reopen(run_dir)
    report = finish(run, run_dir, settings, resolve_endpoints(settings), Console())
    return _exit_status(report)
