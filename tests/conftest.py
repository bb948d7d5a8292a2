"""Figures measured by tests (failover windows, start-up time) are printed in pytest's summary; the Helm
chart's tests (unit and security) share the loaded chart."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    import helm_python as helm

_FIGURES: list[tuple[str, str]] = []


@pytest.fixture
def record_figure() -> Callable[[str, str], None]:
    """Record a measured figure; it is printed at the end of the run under 'measured figures'."""

    def record(name: str, value: str) -> None:
        _FIGURES.append((name, value))

    return record


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if _FIGURES:
        terminalreporter.section("measured figures")
        for name, value in _FIGURES:
            terminalreporter.write_line(f"{name}: {value}")


@pytest.fixture(scope="module")
def chart() -> Iterator[helm.Chart]:
    """The chart as the real Helm engine loads it, once per test module (render it with helm_render)."""
    import helm_python as helm  # only the chart's tests load Helm's engine

    from tests.unit.helm_render import CHART

    with helm.Chart.load(CHART) as loaded:
        yield loaded
