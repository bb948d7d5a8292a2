"""``floodwall bench sink`` on the test stack: the sink against a like-for-like COPY of the same rows."""

from __future__ import annotations

import json
from collections.abc import Callable

import psycopg
import pytest
from confluent_kafka.admin import AdminClient

from floodwall.stack.layout import Layout
from tests.helpers import floodwall
from tests.integration.conftest import RunningStack

pytestmark = pytest.mark.integration

EVENTS, BATCH = 3000, 500


def bench(stack: RunningStack, *flags: str, database_url: str | None = None) -> tuple[int, str, str]:
    layout = Layout(stack.settings)
    done = floodwall("bench", "sink", "--state-dir", str(stack.settings.state_dir), "--bootstrap-servers",
                     layout.bootstrap_servers, "--database-url", database_url or layout.owner_dsn(), *flags,
                     timeout=300)  # fmt: skip
    return done.returncode, done.stdout, done.stderr


@pytest.mark.parametrize("workload", ["orders", "mixed"])
def test_bench_sink_measures_the_sink_against_a_copy_of_the_same_rows(
    stack: RunningStack, workload: str, record_figure: Callable[[str, str], None]
) -> None:
    status, out, err = bench(stack, "--events", str(EVENTS), "--consumers", "1", "--partitions", "2",
                             "--batch-max-events", str(BATCH), "--workload", workload)  # fmt: skip
    assert status == 0, err
    figures = json.loads(out)
    record_figure(f"bench sink --workload {workload} --events {EVENTS}", out.strip())
    sink, copy = figures["sink"], figures["like_for_like_copy"]
    assert (figures["workload"], figures["events"]) == (workload, EVENTS)

    # The anchor holds exactly what the sink wrote: the same rows, the same verdicts.
    assert sink["rows_by_table"] == copy["rows_by_table"], (sink, copy)
    assert sink["rows_per_event"] == copy["rows_per_event"] > 1
    assert sink["rejected_events"] == copy["rejected_events"]
    tables = sink["rows_by_table"]
    assert tables["processed_events"] == EVENTS
    if workload == "orders":
        assert (tables["order_items"], tables["inventory_ledger"], sink["rejected_events"]) == (
            3 * EVENTS,
            0,
            0,
        )
    else:
        assert tables["inventory_ledger"] > 0 and tables["stock_levels"] > 0 and tables["orders"] > 0
        assert sink["rejected_events"] > 0, "hot SKUs sell out in the mixed workload"
    assert copy["transactions"] == sink["transactions"] >= EVENTS // BATCH

    # Costs: measured for both, on this machine's primary, and the ratios are theirs.
    assert figures["db_cpu_measured"].startswith("user+system CPU of the primary's postmaster")
    for side in (sink, copy):
        assert side["events_per_s"] > 0 and side["client_cpu_us_per_event"] > 0
        assert side["db_cpu_us_per_event"] > 0
        assert side["wal_bytes_per_event"] > 100, "a processed_events row alone takes more WAL than that"
        assert 0 < side["commit_p50_s"] <= side["commit_p99_s"]
    ratios = figures["sink_vs_like_for_like_copy"]
    assert ratios["wal"] == pytest.approx(sink["wal_bytes_per_event"] / copy["wal_bytes_per_event"], abs=0.01)
    assert ratios["db_cpu"] > 0 and ratios["client_cpu"] > 0
    assert 0.5 < ratios["wal"] < 5, "the sink writes the same rows and a little more"
    assert figures["apply_vs_like_for_like_copy"] == pytest.approx(
        sink["events_per_s"] / copy["events_per_s"], rel=0.01
    )
    narrow = figures["narrow_row_copy"]["rows_per_s"]
    assert narrow > figures["apply_events_per_s"] > 0
    assert figures["apply_vs_narrow_row_copy"] == pytest.approx(
        figures["apply_events_per_s"] / narrow, rel=0.01
    )

    with psycopg.connect(Layout(stack.settings).write_dsn()) as conn:
        left = conn.execute(
            "SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'floodwall_bench_%'"
        ).fetchone()
    assert left == (0,), "a bench schema was not dropped"
    admin = AdminClient({"bootstrap.servers": Layout(stack.settings).bootstrap_servers})
    topics = admin.list_topics(timeout=10).topics
    assert not [t for t in topics if t.startswith("bench-sink-")], "a bench topic was not deleted"


def test_bench_sink_as_the_runtime_role_is_one_clear_error(stack: RunningStack) -> None:
    """The runtime role has DML only: the bench's throwaway schema needs the owner, and says so."""
    status, _, err = bench(stack, "--events", "100", database_url=Layout(stack.settings).write_dsn())
    assert status == 1 and "Traceback" not in err, err
    assert "floodwall: error: cannot create the bench schema: permission denied" in err
