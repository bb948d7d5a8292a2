"""The tally of one ``floodwall produce`` run and its summary — printed however the run ends."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from floodwall.producers.delivery import Delivery, DeliveryStatus
from floodwall.producers.jsonlines import shorten

MAX_REASONS_SHOWN = 20
EXIT_OK, EXIT_PARTIAL, EXIT_INTERRUPTED = 0, 1, 130


@dataclass
class _Reasons:
    """A count and the first few reasons (a file of a million bad lines must not fill memory)."""

    count: int = 0
    shown: list[str] = field(default_factory=list)

    def add(self, number: int, reason: str) -> None:
        self.count += 1
        if len(self.shown) < MAX_REASONS_SHOWN:
            self.shown.append(f"line {number}: {shorten(reason)}")

    def lines(self, title: str) -> list[str]:
        if not self.count:
            return []
        out = [title] + [f"  {reason}" for reason in self.shown]
        if self.count > len(self.shown):
            out.append(f"  ... and {self.count - len(self.shown)} more")
        return out


@dataclass
class ProduceReport:
    """What happened to every line. ``exit_status()``: 0 all accepted, 1 anything else, 130 interrupted."""

    ids_note: str = ""
    last_line: int = 0
    read_all: bool = False
    interrupted: bool = False
    stopped: str | None = None
    rejected: _Reasons = field(default_factory=_Reasons)
    refused: _Reasons = field(default_factory=_Reasons)  # emit() raised: the event was never accepted
    emitted: list[tuple[int, Delivery]] = field(default_factory=list)

    def reject(self, number: int, reason: str) -> None:
        self.rejected.add(number, reason)

    def refuse(self, number: int, reason: str) -> None:
        self.refused.add(number, reason)

    def stop(self, reason: str) -> None:
        """The run ended early for ``reason`` (the first reason is the one reported)."""
        if self.stopped is None:
            self.stopped = reason

    def exit_status(self) -> int:
        if self.interrupted:
            return EXIT_INTERRUPTED
        statuses = Counter(h.status for _, h in self.emitted)
        failed = statuses[DeliveryStatus.FAILED] + statuses[DeliveryStatus.PENDING] + self.refused.count
        return EXIT_PARTIAL if self.rejected.count or failed or self.stopped else EXIT_OK

    def summary(self, spool_dir: Path) -> list[str]:
        """The summary lines: counts first, then the reasons, then how the run ended."""
        statuses = Counter(h.status for _, h in self.emitted)
        acked, spooled = statuses[DeliveryStatus.ACKNOWLEDGED], statuses[DeliveryStatus.SPOOLED]
        pending = statuses[DeliveryStatus.PENDING]
        total = len(self.emitted) + self.rejected.count + self.refused.count
        accepted = acked + spooled
        head = f"accepted {accepted} of {total} events: {acked} acknowledged by the broker, {spooled} spooled"
        out = [head]
        if spooled:
            out.append(
                f"  spooled events wait in {spool_dir}; the next producer on that spool delivers them once "
                f"the broker is reachable"
            )
        failed = _Reasons()
        for number, handle in self.emitted:
            if handle.status is DeliveryStatus.FAILED:
                failed.add(number, f"event {handle.event_id}: {handle.error}")
        failed.count += self.refused.count
        failed.shown = (self.refused.shown + failed.shown)[:MAX_REASONS_SHOWN]
        out += failed.lines(f"failed {failed.count} events (not accepted):")
        if pending:
            out.append(
                f"unconfirmed {pending} events: neither acknowledged nor spooled when the wait ended "
                f"(they may still have reached the broker)"
            )
        out += self.rejected.lines(f"rejected {self.rejected.count} lines (nothing of them was sent):")
        out += self._ending()
        if self.ids_note:
            out.append(self.ids_note)
        out.append(
            f"summary: {total} events read, {accepted} accepted, {self.rejected.count} rejected, "
            f"{failed.count} failed, {pending} unconfirmed; exit status {self.exit_status()}"
        )
        return out

    def _ending(self) -> list[str]:
        unread = "" if self.read_all else "; the lines after it were not read"
        out = []
        if self.stopped:
            out.append(f"stopped after line {self.last_line}: {shorten(self.stopped)}{unread}")
        if self.interrupted:
            when = "while waiting for the broker" if self.read_all else f"after line {self.last_line}"
            out.append(f"interrupted {when} (Ctrl-C){'' if self.stopped else unread}")
        return out
