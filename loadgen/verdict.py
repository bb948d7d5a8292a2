"""Verification arithmetic (pure): per-SKU stock findings and the PASS/FAIL verdict with its reasons."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class SkuLedger:
    """One (SKU, warehouse) as the database shows it, summed over its inventory ledger in partition order.

    ``lowest`` is the lowest level the applied adjustments ever left (None: nothing applied);
    ``reserved`` the units of applied reservations, ``supplied`` those of applied restocks, releases and
    corrections; ``ledger_level`` the sum of every applied adjustment, ``stock_level`` what
    ``stock_levels`` holds (None: no row).
    """

    sku: str
    warehouse: str
    lowest: int | None
    reserved: int
    supplied: int
    ledger_level: int
    stock_level: int | None
    rejected_reservations: int


@dataclass
class SkuFindings:
    oversold: list[str] = field(default_factory=list)  # "sku@warehouse"
    stock_above_ledger: list[str] = field(default_factory=list)  # an adjustment applied twice
    stock_below_ledger: list[str] = field(default_factory=list)  # an adjustment lost
    sold_out: int = 0  # SKUs with at least one rejected reservation
    skus: int = 0


def judge_skus(rows: list[SkuLedger]) -> SkuFindings:
    """Oversold: the stock went below zero, or more was reserved than ever came in. Stock row vs ledger:
    a level above the ledger's sum means an adjustment was applied twice, below means one was lost."""
    found = SkuFindings(skus=len(rows))
    for row in rows:
        name = f"{row.sku}@{row.warehouse}"
        if (
            (row.lowest is not None and row.lowest < 0)
            or row.reserved > row.supplied
            or (row.stock_level is not None and row.stock_level < 0)
        ):
            found.oversold.append(name)
        stock = 0 if row.stock_level is None else row.stock_level
        if stock > row.ledger_level:
            found.stock_above_ledger.append(name)
        elif stock < row.ledger_level:
            found.stock_below_ledger.append(name)
        found.sold_out += row.rejected_reservations > 0
    return found


@dataclass
class Findings:
    """Everything the verdict looks at. Counts are events unless named otherwise."""

    emitted: int
    accepted: int
    not_accepted: int  # refused by emit(), failed, or still pending when the senders gave up
    drained: bool
    drain_remaining: int
    missing: int
    duplicated: int
    lost_effects: int  # orders missing item lines, SKUs whose stock lost an adjustment
    oversold_skus: list[str]
    rejected_reservations: int
    unexplained_rejections: int
    unexpected_rejections: dict[str, int]  # reason -> count, for events the traffic never makes invalid
    inconsistent_applied: int  # applied adjustments whose recorded level disagrees with the ledger
    preexisting: int  # applied before this run started (the same ids sent before)
    predicted_rejected: int | None  # None: the prediction does not apply (not every event went through)
    interrupted: bool = False
    failures: list[str] = field(default_factory=list)  # parts that failed, died or wedged, in words


@dataclass(frozen=True)
class Verdict:
    passed: bool
    reasons: list[str]

    @property
    def label(self) -> str:
        return "PASS" if self.passed else "FAIL"

    def to_json(self) -> dict[str, Any]:
        return {"verdict": self.label, "reasons": self.reasons}


def judge(f: Findings) -> Verdict:
    """PASS when every accepted event is in PostgreSQL exactly once, no SKU is oversold, every rejection
    is explained and the traffic was delivered; otherwise FAIL with one reason per broken promise."""
    reasons: list[str] = list(f.failures)
    if f.interrupted:
        reasons.append("the run was interrupted before the whole trace was sent")
    if f.not_accepted:
        reasons.append(f"{f.not_accepted} of {f.emitted} events were not accepted by the SDK")
    if not f.drained:
        reasons.append(
            f"the pipeline did not drain: {f.drain_remaining} acknowledged events not yet consumed"
        )
    if f.missing:
        reasons.append(f"{f.missing} acknowledged events are missing from PostgreSQL")
    if f.duplicated:
        reasons.append(f"{f.duplicated} events took effect more than once")
    if f.lost_effects:
        reasons.append(f"{f.lost_effects} orders or SKUs lost part of an event's effect")
    if f.oversold_skus:
        reasons.append(f"{len(f.oversold_skus)} SKUs oversold: {', '.join(f.oversold_skus[:5])}")
    if f.unexplained_rejections:
        reasons.append(f"{f.unexplained_rejections} rejected reservations do not match the stock at the time")
    for reason, n in sorted(f.unexpected_rejections.items()):
        reasons.append(f"{n} events rejected unexpectedly: {reason}")
    if f.inconsistent_applied:
        reasons.append(
            f"{f.inconsistent_applied} applied adjustments record a stock level the ledger contradicts"
        )
    if f.preexisting:
        reasons.append(f"{f.preexisting} events had been applied before this run (same seed and namespace?)")
    if f.predicted_rejected is not None and f.predicted_rejected != f.rejected_reservations:
        reasons.append(
            f"{f.rejected_reservations} reservations rejected, the model predicted {f.predicted_rejected}"
        )
    return Verdict(not reasons, reasons)
