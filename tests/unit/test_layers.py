"""Layers that only point down (docs/architecture.md): core <- events/schemas <- roles <- edge.

- **core**: settings base, errors, Kafka connection, HTTP serving and client, offsets, metrics helpers,
  redaction, private files, database URLs, local-stack discovery; it imports no role.
- **events**: the schemas (registry, framing, compatibility) and the event model every role shares
  (``floodwall.events``: typed events, validation, currencies, the wire codec).
- **role:<name>**: producers (the SDK), consumers, autoscaler, loadgen. A role imports the core, the events
  and another role's public API only (the SDK's, which the load generator uses as any application would),
  never another role's internals.
- **edge**: the CLI, every ``commands`` module, the benches and the demo; they wire roles together.
- **stack**: the local dev stack; only the edge may import it, never a runtime module.

Every module must be placed by the table below, so a new module is placed on purpose.
"""

from __future__ import annotations

from tests.unit.imports_walk import Import, all_imports, module_files

CORE = {
    "floodwall",
    "floodwall.cliargs",
    "floodwall.dburl",
    "floodwall.errors",
    "floodwall.histograms",
    "floodwall.httpclient",
    "floodwall.httpserve",
    "floodwall.kafkaconn",
    "floodwall.localstack",
    "floodwall.offsets",
    "floodwall.privatefs",
    "floodwall.progress",
    "floodwall.promtargets",
    "floodwall.redact",
    "floodwall.settings",
    "floodwall.topics",
    "floodwall.writebudget",
    "floodwall.db",
    "floodwall.db.config",
    "floodwall.db.migrate",
    "floodwall.db.roles",
    "floodwall.monitoring",
    "floodwall.monitoring.dashboards",
    "floodwall.monitoring.grafana",
}
EVENTS_PACKAGES = ("floodwall.schemas", "floodwall.events")
ROLES = ("producers", "consumers", "autoscaler", "loadgen")
EDGE = {
    "floodwall.__main__",
    "floodwall.cli",
    "floodwall.cli.bench",
    "floodwall.cli.topics",
    "floodwall.db.commands",
    "floodwall.monitoring.export",
    "floodwall.producers.bench",
    "floodwall.consumers.bench",
    "floodwall.consumers.bench_anchor",
    "floodwall.consumers.bench_costs",
    "floodwall.consumers.bench_world",
    "floodwall.consumers.bench_rebalance",
    "floodwall.loadgen.demo",
    "floodwall.loadgen.demofleet",  # the demo's autoscaler-in-a-thread
    "floodwall.loadgen.chaos",  # the demo's faults, injected into the dev stack
}
# A role's modules that other roles may import: the SDK's public API.
PUBLIC = {
    "floodwall.producers.producer",
    "floodwall.producers.config",
    "floodwall.producers.delivery",
    "floodwall.producers.metrics",
}
# Known crossings still to be removed, each with the step that removes it. A stale entry fails too.
PENDING: dict[tuple[str, str], str] = {}
RANK = {"core": 0, "events": 1, "role": 2, "edge": 3, "stack": 3}


def layer_of(module: str) -> str:
    """``core``, ``events``, ``role:<name>``, ``edge`` or ``stack``; KeyError for a module not placed."""
    if module in CORE:
        return "core"
    if module.startswith(EVENTS_PACKAGES):
        return "events"
    if module in EDGE or module.endswith(".commands"):
        return "edge"
    if module == "floodwall.stack" or module.startswith("floodwall.stack."):
        return "stack"
    for role in ROLES:
        if module == f"floodwall.{role}" or module.startswith(f"floodwall.{role}."):
            return f"role:{role}"
    raise KeyError(module)


def violation(imp: Import) -> str | None:
    """Why this import breaks the layering, or None."""
    source, target = layer_of(imp.source), layer_of(imp.target)
    if target == "stack" and source not in ("stack", "edge"):
        return "a runtime module imports the dev stack"
    if RANK[target.split(":")[0]] > RANK[source.split(":")[0]]:
        return f"{source} imports the higher layer {target}"
    crossing = source.startswith("role:") and target.startswith("role:") and source != target
    if crossing and imp.target not in PUBLIC and (imp.source, imp.target) not in PENDING:
        return f"{source} imports an internal of {target}"
    return None


def own_imports() -> list[Import]:
    return [imp for imp in all_imports() if imp.target == "floodwall" or imp.target.startswith("floodwall.")]


def test_every_module_has_a_layer() -> None:
    unplaced = []
    for module in module_files():
        try:
            layer_of(module)
        except KeyError:
            unplaced.append(module)
    assert not unplaced, "place these modules in the table of tests/unit/test_layers.py: " + ", ".join(
        unplaced
    )


def test_imports_only_point_down() -> None:
    found = [(imp, why) for imp in own_imports() if (why := violation(imp))]
    # One line per statement and target (``from x import a, b`` is one crossing).
    lines = list(dict.fromkeys(f"{imp.where}: {imp.source} -> {imp.target} ({why})" for imp, why in found))
    assert not lines, f"{len(lines)} imports break the layers:\n" + "\n".join(lines)


def test_pending_crossings_still_exist() -> None:
    """An entry of PENDING that no import uses any more is removed from the table (it only shrinks)."""
    used = {(imp.source, imp.target) for imp in own_imports()}
    assert not set(PENDING) - used, f"stale PENDING entries: {sorted(set(PENDING) - used)}"


def test_the_table_catches_each_kind_of_violation() -> None:
    """The checker itself: upward, sideways into internals, and into the dev stack."""
    here = next(iter(own_imports()))

    def probe(source: str, target: str) -> str | None:
        return violation(Import(here.path, 1, source, target))

    assert (
        probe("floodwall.settings", "floodwall.consumers.sink")
        == "core imports the higher layer role:consumers"
    )
    assert probe("floodwall.schemas.registry", "floodwall.producers.producer") is not None
    assert probe("floodwall.events.codec", "floodwall.consumers.decoder") is not None
    assert probe("floodwall.consumers.decoder", "floodwall.events.codec") is None
    assert probe("floodwall.autoscaler.fleetmodel", "floodwall.consumers.ratelimit") is not None
    assert probe("floodwall.consumers.config", "floodwall.stack.config") is not None
    assert probe("floodwall.loadgen.sender", "floodwall.producers.producer") is None
    assert probe("floodwall.cli", "floodwall.stack.commands") is None
