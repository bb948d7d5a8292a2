"""A one-line progress report on stderr for the benches' long waits.

At a terminal the line is rewritten in place. Anywhere else (a log file, CI, ``tee``) carriage returns
would pile thousands of reports into one unreadable line, so it prints a whole line at most every
``every_s`` seconds, and the last one when the wait ends.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TextIO


class ProgressLine:
    """Call :meth:`update` as often as you like; :meth:`done` once at the end (it ends the line)."""

    def __init__(
        self,
        every_s: float = 10.0,
        stream: TextIO | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._stream = stream if stream is not None else sys.stderr
        self._terminal = self._stream.isatty()
        self._every_s, self._clock = every_s, clock
        self._next = clock() + every_s
        self._last = ""

    def update(self, text: str) -> None:
        self._last = text
        if self._terminal:
            print(f"\r{text}", end="", file=self._stream, flush=True)
        elif self._clock() >= self._next:
            self._next = self._clock() + self._every_s
            print(text, file=self._stream, flush=True)

    def done(self) -> None:
        """End the line: at a terminal a newline, elsewhere the last report in full."""
        if self._terminal:
            print(file=self._stream, flush=True)
        elif self._last:
            print(self._last, file=self._stream, flush=True)


@contextmanager
def closing_line(progress: ProgressLine) -> Iterator[ProgressLine]:
    """``progress``, ended with :meth:`ProgressLine.done` however the wait ends (a raised error then
    starts on a line of its own)."""
    try:
        yield progress
    finally:
        progress.done()
