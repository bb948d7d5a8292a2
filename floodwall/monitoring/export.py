"""Write the chart's monitoring files from their sources: ``python -m floodwall.monitoring.export [CHART]``.

``helm/floodwall/files/alerts.yaml`` is a verbatim copy of the packaged rules and
``helm/floodwall/dashboards/*.json`` are rendered from :mod:`floodwall.monitoring.dashboards`. A unit test
regenerates them and fails when the committed files differ.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from floodwall.monitoring import alert_rules_text
from floodwall.monitoring.dashboards import DASHBOARDS, render

CHART_RULES = "files/alerts.yaml"
DEFAULT_CHART = Path("helm/floodwall")


def chart_files() -> dict[str, str]:
    """Path inside the chart → content, for every generated monitoring file."""
    files = {CHART_RULES: alert_rules_text()}
    for board in DASHBOARDS:
        files[f"dashboards/{board.uid}.json"] = json.dumps(render(board), indent=2) + "\n"
    return files


def write_chart_files(chart: Path) -> list[Path]:
    written = []
    for name, text in chart_files().items():
        path = chart / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    chart = Path(args[0]) if args else DEFAULT_CHART
    if not (chart / "Chart.yaml").is_file():
        print(f"export: {chart} is not a chart directory (no Chart.yaml)", file=sys.stderr)
        return 2
    for path in write_chart_files(chart):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
