"""loadgen/terminal.py's PlainTicker: a plain progress line every 10 s when the output is not a terminal."""

from __future__ import annotations

from io import StringIO

from rich.console import Console

from floodwall.loadgen.terminal import PlainTicker


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_line_every_ten_seconds_into_a_file_and_none_at_a_terminal() -> None:
    clock, out, made = Clock(), StringIO(), []
    ticker = PlainTicker(Console(file=out, width=200), clock=clock)

    def line() -> str:
        made.append(clock.now)
        return f"at {clock.now:.0f}"

    for step in range(0, 35):  # every second for 35 s
        clock.now = 100.0 + step
        ticker(line)
    assert out.getvalue().splitlines() == ["at 110", "at 120", "at 130"]
    assert made == [110.0, 120.0, 130.0]  # the line is only built when it is printed

    terminal = StringIO()
    quiet = PlainTicker(Console(file=terminal, force_terminal=True), clock=clock)
    clock.now += 60
    quiet(line)
    assert terminal.getvalue() == ""  # the progress bars speak there
