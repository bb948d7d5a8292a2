"""floodwall/progress.py: a progress line rewritten in place at a terminal, whole lines every 10 s
elsewhere (a log file gets readable lines, not thousands of carriage returns)."""

from __future__ import annotations

from io import StringIO

import pytest

from floodwall.progress import ProgressLine, closing_line


class Terminal(StringIO):
    def isatty(self) -> bool:
        return True


class Clock:
    now = 0.0

    def __call__(self) -> float:
        return self.now


def test_off_a_terminal_a_whole_line_every_ten_seconds_and_the_last_one_at_the_end() -> None:
    out, clock = StringIO(), Clock()
    with closing_line(ProgressLine(stream=out, clock=clock)) as progress:
        for second in range(25):
            clock.now = float(second)
            progress.update(f"{second} applied")
    assert out.getvalue().splitlines() == ["10 applied", "20 applied", "24 applied"]
    assert "\r" not in out.getvalue()


def test_at_a_terminal_the_line_is_rewritten_and_ended_even_when_the_wait_fails() -> None:
    out = Terminal()
    with pytest.raises(RuntimeError), closing_line(ProgressLine(stream=out)) as progress:
        progress.update("1 applied")
        progress.update("2 applied")
        raise RuntimeError("a consumer exited early")
    assert out.getvalue() == "\r1 applied\r2 applied\n"
