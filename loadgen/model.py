"""What the sink will make of the generated traffic — a pure model of consumers/decide.py's stock rule.

The sink decides stock per (SKU, warehouse) in the order of that SKU's events, and they share a key and
so a partition: their order on the wire is the order the generator emitted them in. So the outcome of
every reservation is known when the generator emits it — as long as every event is accepted and
delivered. The generator uses that to release only reservations that were applied, and verification
compares the database with the prediction.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from floodwall.events.model import AdjustmentKind, Event, InventoryEvent, event_type_of, stock_after

StockKey = tuple[str, str]


@dataclass
class Prediction:
    """Counts the generated stream should produce in the database (when all of it is delivered)."""

    by_type: Counter[str] = field(default_factory=Counter)
    rejected_reservations: int = 0
    sold_out_skus: set[str] = field(default_factory=set)

    @property
    def events(self) -> int:
        return sum(self.by_type.values())

    def to_json(self) -> dict[str, Any]:
        return {
            "events": self.events,
            "by_type": dict(sorted(self.by_type.items())),
            "rejected_reservations": self.rejected_reservations,
            "sold_out_skus": len(self.sold_out_skus),
        }


class StockModel:
    """Stock per (SKU, warehouse) as the sink computes it, by the same rule
    (:func:`floodwall.events.model.stock_after`): an adjustment that would take the level below zero is
    rejected and leaves it untouched."""

    def __init__(self) -> None:
        self.levels: dict[StockKey, int] = {}
        self.prediction = Prediction()

    def observe(self, event: Event) -> bool:
        """Record ``event`` as emitted; return whether the sink will apply it."""
        self.prediction.by_type[event_type_of(event)] += 1
        if not isinstance(event, InventoryEvent):
            return True  # the generator only emits valid order transitions
        return self._adjust(event)

    def would_apply(self, event: InventoryEvent) -> bool:
        """Whether the sink would apply ``event`` now (nothing recorded)."""
        return self._after(event) is not None

    def _after(self, event: InventoryEvent) -> int | None:
        return stock_after(self.levels.get((event.sku, event.warehouse), 0), event)

    def _adjust(self, event: InventoryEvent) -> bool:
        after = self._after(event)
        if after is None:
            if event.kind is AdjustmentKind.RESERVATION:
                self.prediction.rejected_reservations += 1
                self.prediction.sold_out_skus.add(event.sku)
            return False
        self.levels[(event.sku, event.warehouse)] = after
        return True
