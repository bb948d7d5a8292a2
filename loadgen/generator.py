"""Deterministic flash-sale traffic: the same :class:`Workload` and send times give the same events.

Everything random comes from one seeded ``random.Random`` — event ids included — and every event's
``occurred_at`` is the workload's ``epoch`` plus its send time, never the wall clock. So a trace written
twice from the same settings is byte-identical.

The content follows a shop's flash sale:

- a catalogue of SKUs whose popularity follows a Zipf law (a few hot SKUs take most of the orders),
  each stocked in one warehouse with ``initial_stock`` units, restocked before the profile starts;
- orders of 1 to ``max_items`` distinct SKUs; each line reserves its quantity right away (an
  ``inventory.reservation`` keyed by SKU — hot SKUs sell out and the sink rejects the rest);
- a share of orders is paid a few seconds later, another share cancelled, which releases the
  reservations the sink applied (the :class:`~loadgen.model.StockModel` knows which);
- occasional restocks of (Zipf-picked, so mostly hot) SKUs.
"""

from __future__ import annotations

import heapq
import itertools
import random
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any
from uuid import UUID

from floodwall.events.model import Event, InventoryEvent, OrderEvent, OrderItem
from floodwall.loadgen.model import StockModel

# Black Friday 2026, midnight UTC: the default day the generated events claim to happen on.
DEFAULT_EPOCH = datetime(2026, 11, 27, tzinfo=UTC)
REGIONS = ("eu-west", "eu-central", "us-east", "ap-south")
WAREHOUSES = 3
PRELOAD_S = 1.0  # the initial restocks go out in the second before the profile starts
PAY_DELAY_S = (1.0, 5.0)
CANCEL_DELAY_S = (2.0, 8.0)
RESTOCK_UNITS = (10, 50)

Timed = tuple[float, Event]  # (send time in seconds from the profile's start, event)


@dataclass(frozen=True)
class Workload:
    """What the traffic looks like (the rate curve is the profile's business)."""

    seed: int
    namespace: str  # prefixes SKUs and customers, and seeds the ids, so runs never collide
    skus: int = 500
    zipf_s: float = 1.1
    initial_stock: int = 40
    pay_share: float = 0.7
    cancel_share: float = 0.1
    restock_share: float = 0.02
    max_items: int = 5
    epoch: datetime = DEFAULT_EPOCH

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["epoch"] = self.epoch.isoformat()
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Workload:
        return cls(**{**data, "epoch": datetime.fromisoformat(data["epoch"])})


@dataclass(frozen=True)
class Catalog:
    """SKUs, their warehouse and unit price, and Zipf popularity (rank 1 = hottest)."""

    skus: tuple[str, ...]
    warehouses: tuple[str, ...]
    prices: tuple[int, ...]
    cum_weights: tuple[float, ...]

    @classmethod
    def build(cls, workload: Workload, rng: random.Random) -> Catalog:
        n = workload.skus
        weights = itertools.accumulate(1.0 / (rank**workload.zipf_s) for rank in range(1, n + 1))
        return cls(
            skus=tuple(f"{workload.namespace}-SKU-{i:05d}" for i in range(n)),
            warehouses=tuple(f"wh-{i % WAREHOUSES + 1}" for i in range(n)),
            prices=tuple(rng.randrange(199, 20_000) for _ in range(n)),
            cum_weights=tuple(weights),
        )

    def pick(self, rng: random.Random, k: int = 1) -> list[int]:
        """``k`` SKU indexes drawn (with replacement) by Zipf popularity."""
        return rng.choices(range(len(self.skus)), cum_weights=self.cum_weights, k=k)


@dataclass
class _Order:
    order_id: UUID
    customer_id: str
    region: str
    lines: list[tuple[int, int]]  # (SKU index, quantity)
    reserved: dict[int, bool] = field(default_factory=dict)  # line -> did the sink apply its reservation


class Generator:
    """Turns send times into events, one event per send time, in order."""

    def __init__(self, workload: Workload) -> None:
        self.workload = workload
        self._rng = random.Random(f"{workload.namespace}:{workload.seed}")
        self.catalog = Catalog.build(workload, self._rng)
        self.model = StockModel()
        # Follow-ups (reservations, payments, cancellations, releases) by due time; seq breaks ties.
        self._due: list[tuple[float, int, Callable[[float], Event | None]]] = []
        self._seq = itertools.count()

    # ---- public ----------------------------------------------------------------------------------

    def preload(self) -> Iterator[Timed]:
        """The initial stock: one restock per SKU, spread over the second before the profile starts."""
        n = len(self.catalog.skus)
        for i in range(n):
            t = -PRELOAD_S + PRELOAD_S * i / n
            yield t, self._emit(self._restock(i, self.workload.initial_stock, t))

    def events(self, times: Iterable[float]) -> Iterator[Timed]:
        """One event per send time: a due follow-up first, else a new order (or, rarely, a restock)."""
        for t in times:
            event = self._next_due(t)
            if event is None:
                event = self._new_action(t)
            yield t, self._emit(event)

    # ---- one step ----------------------------------------------------------------------------------

    def _emit(self, event: Event) -> Event:
        self.model.observe(event)
        return event

    def _next_due(self, t: float) -> Event | None:
        while self._due and self._due[0][0] <= t:
            _, _, build = heapq.heappop(self._due)
            event = build(t)
            if event is not None:
                return event
        return None

    def _later(self, due: float, build: Callable[[float], Event | None]) -> None:
        heapq.heappush(self._due, (due, next(self._seq), build))

    def _new_action(self, t: float) -> Event:
        rng = self._rng
        if rng.random() < self.workload.restock_share:
            sku = self.catalog.pick(rng)[0]
            return self._restock(sku, rng.randint(*RESTOCK_UNITS), t)
        return self._place(t)

    # ---- orders ------------------------------------------------------------------------------------

    def _place(self, t: float) -> Event:
        rng, w = self._rng, self.workload
        wanted = rng.randint(1, w.max_items)
        skus = list(dict.fromkeys(self.catalog.pick(rng, wanted)))  # distinct, in draw order
        order = _Order(
            order_id=self._uuid(),
            customer_id=f"{w.namespace}-c{rng.randrange(1_000_000)}",
            region=rng.choice(REGIONS),
            lines=[(sku, 1 if rng.random() < 0.8 else rng.randint(2, 3)) for sku in skus],
        )
        for line in range(len(order.lines)):
            self._later(t, partial(self._reserve, order, line))
        fate = rng.random()
        if fate < w.cancel_share:
            self._later(t + rng.uniform(*CANCEL_DELAY_S), partial(self._cancel, order))
        elif fate < w.cancel_share + w.pay_share:
            self._later(t + rng.uniform(*PAY_DELAY_S), partial(self._pay, order))
        return OrderEvent.placed(
            order_id=order.order_id,
            customer_id=order.customer_id,
            region=order.region,
            currency="EUR",
            items=[
                OrderItem(sku=self.catalog.skus[s], quantity=q, unit_price_minor=self.catalog.prices[s])
                for s, q in order.lines
            ],
            **self._identity(t),
        )

    def _reserve(self, order: _Order, line: int, t: float) -> Event:
        sku, quantity = order.lines[line]
        event = InventoryEvent.reservation(
            sku=self.catalog.skus[sku],
            warehouse=self.catalog.warehouses[sku],
            quantity=quantity,
            order_id=order.order_id,
            **self._identity(t),
        )
        # _emit() hands this event to the model right after, before any other event: the answer holds.
        order.reserved[line] = self.model.would_apply(event)
        return event

    def _pay(self, order: _Order, t: float) -> Event:
        return OrderEvent.paid(
            order_id=order.order_id,
            customer_id=order.customer_id,
            region=order.region,
            currency="EUR",
            amount_minor=sum(self.catalog.prices[s] * q for s, q in order.lines),
            **self._identity(t),
        )

    def _cancel(self, order: _Order, t: float) -> Event:
        # The service gives back what it holds: one release per applied reservation, right after.
        for line, held in sorted(order.reserved.items()):
            if held:
                self._later(t, partial(self._release, order, line))
        return OrderEvent.cancelled(
            order_id=order.order_id,
            customer_id=order.customer_id,
            region=order.region,
            currency="EUR",
            reason="customer cancelled",
            **self._identity(t),
        )

    def _release(self, order: _Order, line: int, t: float) -> Event:
        sku, quantity = order.lines[line]
        return InventoryEvent.release(
            sku=self.catalog.skus[sku],
            warehouse=self.catalog.warehouses[sku],
            quantity=quantity,
            order_id=order.order_id,
            **self._identity(t),
        )

    def _restock(self, sku: int, quantity: int, t: float) -> Event:
        return InventoryEvent.restock(
            sku=self.catalog.skus[sku],
            warehouse=self.catalog.warehouses[sku],
            quantity=quantity,
            **self._identity(t),
        )

    # ---- helpers -----------------------------------------------------------------------------------

    def _uuid(self) -> UUID:
        return UUID(int=self._rng.getrandbits(128), version=4)

    def _identity(self, t: float) -> dict[str, Any]:
        return {
            "event_id": self._uuid(),
            "occurred_at": self.workload.epoch + timedelta(microseconds=round(t * 1e6)),
        }
