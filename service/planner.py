"""reserve's planner: route an order on the client's availability view.

:class:`RoutedPlanner` reads the availability of the order's SKUs and their catalog
substitutes (the shortfall answer names them) as rows in the layout's warehouse
order, plans with :class:`routing.Router`, and returns the lines to hold with the
plan JSON. An order no plan can fill raises :class:`InsufficientStock` carrying the
plan's shortfall (short lines, substitutes, backorder option).
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import fields
from datetime import date
from typing import Any, Mapping, NamedTuple, Sequence

import msgpack
import numpy as np

from allocator.catalog import Catalog
from allocator.errors import CatalogError, InsufficientStock
from allocator.ops import Line
from routing import Network, Order, Plan, Router, StockMap

Rows = Mapping[str, np.ndarray]  # sku -> available units per warehouse (layout order)
#: An order's fields besides its lines, as they key the plan memo.
_ORDER_FIELDS = tuple(f.name for f in fields(Order) if f.name != "lines")


class Choice:
    """A filled plan: the lines to hold and the plan JSON; ``packed``, the plan as
    msgpack (reservation records store it), is packed on first use — a route never
    needs it."""

    __slots__ = ("lines", "plan", "_packed")

    def __init__(self, lines: list[Line], plan: dict[str, Any],
                 packed: bytes | None = None) -> None:
        self.lines, self.plan = lines, plan
        self._packed = packed

    @property
    def packed(self) -> bytes:
        if self._packed is None:
            self._packed = msgpack.packb(self.plan, use_bin_type=True)
        return self._packed


class Unfillable(NamedTuple):
    """An order no plan fills on some availability: its plan JSON and the refusal."""

    plan: dict[str, Any]
    shortfall: dict[str, Any]
    message: str
    reason: str

    @classmethod
    def of(cls, plan: dict[str, Any]) -> Unfillable:
        """The refusal an unfilled plan JSON carries."""
        shortfall = plan["shortfall"]
        return cls(plan, shortfall, shortfall["message"], shortfall["reason"])

    def refusal(self) -> InsufficientStock:
        return InsufficientStock(self.message, reason=self.reason, shortfall=self.shortfall)


class RoutedPlanner:
    """Plans orders over ``network``; availability rows come in ``warehouses`` order.

    Filled plans are memoised (``cache_size`` of them, least recently used out) by the
    order, the day, and the availability *as the cost model sees it*: a warehouse's
    units only matter up to ``qty + stock-health threshold`` (beyond that it is
    eligible and costs no stock-health penalty), so a flash sale's many orders for
    the same SKU and destination plan once while stock is plentiful. Unfillable plans
    are memoised too, by the *raw* availability (their shortfall reports it), so the
    stampede after a sell-out — every buyer of the SKU refused on the same empty rows —
    plans each (order, rows) once; a refusal because the routing budget ran out is not.
    """

    def __init__(self, network: Network, catalog: Catalog, warehouses: Sequence[str],
                 router: Router | None = None, cache_size: int = 20_000,
                 budget_s: float = 0.25) -> None:
        missing = set(network.warehouse_ids) - set(catalog.warehouse_ids)
        if missing:
            raise CatalogError(f"network warehouses {sorted(missing)} are not in the catalog")
        self.network = network
        self.catalog = catalog
        self.router = router or Router(network, catalog)
        self.one_line = self.router.one_line  # the router's: one per network
        col = {w: j for j, w in enumerate(warehouses)}
        self._take = np.array([col[w] for w in network.warehouse_ids], np.int64)
        # rows already in network order (the usual layout) are used as they are
        self._same_order = list(warehouses) == list(network.warehouse_ids)
        self.cache_size = cache_size
        self.budget_s = budget_s  # routing work per order, at most
        self.stats = {"hits": 0, "misses": 0, "unfillable_hits": 0}
        self._cache: OrderedDict[bytes, bytes] = OrderedDict()  # key -> packed plan

    def skus_to_read(self, order: Order) -> list[str]:
        """The order's SKUs and their substitutes (UnknownSku for a bad id)."""
        out: dict[str, None] = {}
        for sku in order.skus:
            out[sku] = None
            for sub in self.catalog.sku(sku).substitutes:
                out[sub] = None
        return list(out)

    def plan(self, order: Order, rows: Rows, today: date | None = None) -> Plan:
        """The plan on these availability rows (nothing is held)."""
        self.network.destination_index(order.destination)  # UnknownDestination first
        return self.router.plan(order, self.stock(rows), budget_s=self.budget_s, today=today)

    def stock(self, rows: Rows) -> StockMap:
        """Availability rows (layout order) as stock over the network's warehouses."""
        if self._same_order:
            return StockMap(rows, len(self._take))
        return StockMap({s: r[self._take] for s, r in rows.items()}, len(self._take))

    @staticmethod
    def surely_short(order: Order, rows: Rows) -> bool:
        """Whether no plan can fill ``order`` on ``rows``, by a test much cheaper than
        planning: some SKU has fewer units in all warehouses together than the order
        asks for (an order has one line per SKU). Only a sufficient condition (False
        does not mean fillable); never True for an order that may take substitutes."""
        if order.allow_substitutes:
            return False
        return any(sum(rows[line.sku].tolist()) < line.qty for line in order.lines)

    def is_quick(self, order: Order) -> bool:
        """Whether planning ``order`` takes well under a millisecond (so it may run on
        the event loop): one or two lines, no substitutes to explore."""
        return len(order.lines) <= 2 and not order.allow_substitutes

    def choose(self, order: Order, rows: Rows) -> Choice:
        """The lines to hold, the plan JSON and the same msgpack-packed (reservation
        records store it); InsufficientStock with the shortfall when no plan fills the
        order."""
        out = self._planned(order, rows)
        if isinstance(out, Unfillable):
            raise out.refusal()
        return out

    def quote(self, order: Order, rows: Rows) -> dict[str, Any]:
        """The plan JSON, filled or not (nothing is held)."""
        return self._planned(order, rows).plan

    def _planned(self, order: Order, rows: Rows) -> Choice | Unfillable:
        """The memoised answer: a plan under the capped key, a refusal under the raw one
        (read only when no plan is memoised; the two kinds of key never meet)."""
        today = date.today()
        capped = self._key(order, rows, today, capped=True)
        hit = self._recall(capped, "hits")
        if hit is not None:
            return hit
        raw = self._key(order, rows, today, capped=False)
        hit = self._recall(raw, "unfillable_hits")
        if hit is not None:
            return hit
        self.stats["misses"] += 1
        # one line, and a routing budget the one-line planner cannot exhaust
        if self.one_line is not None and self.budget_s >= 0.001 \
                and self.one_line.applies(order):
            quick = self.one_line.plan(order, lambda sku: self._row(rows, sku), today)
            if quick is not None:
                return self._answer(quick, capped, raw)
        plan = self.plan(order, rows, today)
        return self._answer(plan.to_dict(), capped, raw,
                            about_stock=plan.shortfall is None or plan.shortfall.about_stock)

    def _answer(self, plan: dict[str, Any], capped: bytes, raw: bytes,
                about_stock: bool = True) -> Choice | Unfillable:
        """A plan JSON as a Choice or a refusal, memoised: a filled plan under the capped
        key, a refusal under the raw one unless the routing budget ran out
        (``about_stock`` false: the next try may fill it)."""
        if plan["status"] == "planned":
            chosen = Choice(self.lines_of(plan), plan)
            self._remember(capped, chosen)
            return chosen
        refused = Unfillable.of(plan)
        if about_stock:
            self._remember(raw, refused)
        return refused

    def _row(self, rows: Rows, sku: str) -> list[int]:
        """One SKU's available units per network warehouse (none: zeros)."""
        row = rows.get(sku)
        if row is None:
            return [0] * len(self._take)
        return (row if self._same_order else row[self._take]).tolist()

    def _recall(self, key: bytes, stat: str) -> Choice | Unfillable | None:
        hit = self._cache.get(key)
        if hit is None:
            return None
        self._cache.move_to_end(key)
        self.stats[stat] += 1
        plan = msgpack.unpackb(hit, raw=False)
        if plan["status"] == "planned":
            return Choice(self.lines_of(plan), plan, hit)
        return Unfillable.of(plan)

    def _remember(self, key: bytes, answer: Choice | Unfillable) -> None:
        """Memoise an answer as its packed plan (what :meth:`_recall` rebuilds it from):
        keys and values are bytes, which the cyclic collector never scans — tens of
        thousands of plans as dicts made every young collection of the API long."""
        self._cache[key] = answer.packed if isinstance(answer, Choice) else \
            msgpack.packb(answer.plan, use_bin_type=True)
        if len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)

    def _key(self, order: Order, rows: Rows, today: date, capped: bool) -> bytes:
        """Plans are keyed by the rows capped at what the cost model can tell apart,
        refusals by the raw rows; the first element keeps the two kinds apart."""
        cap = (max(line.qty for line in order.lines) + self.network.stock_health_threshold
               if capped else None)
        return msgpack.packb(
            (capped, [(line.sku, line.qty) for line in order.lines],
             [getattr(order, name) for name in _ORDER_FIELDS], today.toordinal(),
             [(s, (r if cap is None else np.minimum(r, cap)).tobytes())
              for s, r in rows.items()]), use_bin_type=True)

    @staticmethod
    def lines_of(plan: dict[str, Any]) -> list[Line]:
        """What to hold for a filled plan (its JSON)."""
        return [(line["sku"], s["warehouse"], line["qty"]) for s in plan["shipments"]
                for line in s["lines"]]
