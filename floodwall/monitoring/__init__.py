"""Floodwall's monitoring as code: Prometheus alert rules (``alerts.yaml``, packaged with Floodwall) and
Grafana dashboards (:mod:`floodwall.monitoring.dashboards`).

The local stack's Prometheus loads the packaged rules; the Helm chart carries a copy of them and the
generated dashboards, written by ``python -m floodwall.monitoring.export`` and checked by a test.
"""

from __future__ import annotations

from importlib import resources

RULES_FILE = "alerts.yaml"


def alert_rules_text() -> str:
    """The alert rules file (a Prometheus rule file: ``groups: [...]``) as shipped with Floodwall."""
    return resources.files(__package__).joinpath(RULES_FILE).read_text(encoding="utf-8")
