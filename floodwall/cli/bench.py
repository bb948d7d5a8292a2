"""``floodwall bench …``: benchmarks that print one JSON object of measured figures."""

from __future__ import annotations

import argparse

from floodwall.consumers import bench as sink_bench
from floodwall.consumers import bench_rebalance as rebalance_bench
from floodwall.producers import bench as sdk_bench


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    bench = commands.add_parser("bench", help="run a benchmark and print its figures as JSON")
    sub = bench.add_subparsers(title="benchmarks", metavar="BENCHMARK", required=True)
    sdk_bench.register(sub)
    sink_bench.register(sub)
    rebalance_bench.register(sub)
