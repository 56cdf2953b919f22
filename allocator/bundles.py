"""Bundles (kits): a bundle SKU sold as one, made of catalog SKUs × quantities.

A bundle is not stocked: warehouses stock its components. So a bundle line is
*expanded* into component lines (``qty × per-kit qty``) before it is routed and held,
the reservation keeps the bundle (its :class:`Kit`) beside the held lines, and a
bundle's availability is computed from its components: at a warehouse, the number of
whole kits its components make, ``min over components of floor(available / per kit)``.

Rules (checked by :func:`validate`): a bundle id is not a catalog SKU, every component
is one (so bundles never nest and cannot form cycles), a component appears once, each
per-kit quantity is ≥ 1. Within one order a SKU may appear once — as a line or as a
component of one bundle line — so a kit's units are never mixed with other units.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from allocator.config import LIMITS
from allocator.errors import InvalidRequest

MAX_COMPONENTS = 32


@dataclass(frozen=True)
class Bundle:
    """A bundle SKU and its components: (component SKU, units per kit)."""

    id: str
    components: tuple[tuple[str, int], ...]
    name: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"sku": self.id, "name": self.name or self.id,
                "components": [{"sku": s, "qty": q} for s, q in self.components]}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "Bundle":
        return cls(str(d["sku"]), tuple((str(c["sku"]), int(c["qty"]))
                                        for c in d["components"]), str(d.get("name", "")))


@dataclass(frozen=True)
class Kit:
    """A bundle line of an order: ``qty`` kits of ``bundle`` as it was defined then."""

    bundle: str
    qty: int
    components: tuple[tuple[str, int], ...]

    def to_record(self) -> list[Any]:
        return [self.bundle, self.qty, [list(c) for c in self.components]]

    @classmethod
    def from_record(cls, r: Sequence[Any]) -> "Kit":
        return cls(str(r[0]), int(r[1]), tuple((str(s), int(q)) for s, q in r[2]))


def validate(bundle: Bundle, is_sku: Any) -> Bundle:
    """``bundle`` if it follows the rules (``is_sku(id)``: a catalog SKU); else
    :class:`InvalidRequest` saying which rule it breaks."""
    if not bundle.id or len(bundle.id) > 64:
        raise InvalidRequest("sku: a bundle id is 1 to 64 characters")
    if is_sku(bundle.id):
        raise InvalidRequest(f"{bundle.id} is a catalog SKU: a bundle needs an id of its own",
                             sku=bundle.id)
    if not 1 <= len(bundle.components) <= MAX_COMPONENTS:
        raise InvalidRequest(f"components: 1 to {MAX_COMPONENTS} per bundle")
    seen: set[str] = set()
    for sku, qty in bundle.components:
        if sku == bundle.id:
            raise InvalidRequest(f"bundle {bundle.id} names itself as a component", sku=sku)
        if not is_sku(sku):
            raise InvalidRequest(f"component {sku} is not a catalog SKU (bundles do not "
                                 "nest)", sku=sku)
        if sku in seen:
            raise InvalidRequest(f"component {sku} appears twice; give its quantity once",
                                 sku=sku)
        if not 1 <= qty <= LIMITS.max_qty_per_line:
            raise InvalidRequest(f"component {sku}: qty must be 1..{LIMITS.max_qty_per_line}",
                                 sku=sku)
        seen.add(sku)
    return bundle


def expand(lines: Iterable[tuple[str, Any, int]], bundles: Mapping[str, Bundle]
           ) -> tuple[list[tuple[str, Any, int]], list[Kit]]:
    """Bundle lines as component lines (same middle field: warehouse or None), other
    lines as they are, in order; and the kits. A SKU twice (as lines or components) is
    :class:`InvalidRequest`."""
    out: list[tuple[str, Any, int]] = []
    kits: list[Kit] = []
    owner: dict[tuple[str, Any], str] = {}
    for sku, wh, qty in lines:
        bundle = bundles.get(sku)
        parts = [(sku, qty)] if bundle is None else \
            [(c, qty * per) for c, per in bundle.components]
        if bundle is not None:
            kits.append(Kit(sku, qty, bundle.components))
        for c, q in parts:
            if (c, wh) in owner:
                raise InvalidRequest(
                    f"{c} is in this order twice ({owner[(c, wh)]} and {sku}); a bundle's "
                    "components cannot share an order with other units of the same SKU",
                    sku=c)
            if q > LIMITS.max_qty_per_line:
                raise InvalidRequest(f"{sku}: {q} units of {c} exceed "
                                     f"{LIMITS.max_qty_per_line} per line", sku=c)
            owner[(c, wh)] = sku
            out.append((c, wh, q))
    return out, kits


def kits_available(components: Sequence[tuple[str, int]],
                   available: Mapping[str, np.ndarray]) -> np.ndarray:
    """Whole kits per column (warehouse): min over components of available // per."""
    return np.min(np.stack([np.maximum(np.asarray(available[s], np.int64), 0) // per
                            for s, per in components]), axis=0)


def whole_kit_rows(kits: Sequence[Kit], rows: Mapping[str, np.ndarray]
                   ) -> dict[str, np.ndarray]:
    """Availability rows where a kit's components are seen only at warehouses that can
    make all of its kits: a plan on them ships each kit whole from one warehouse (the
    router prefers one parcel), if any warehouse can."""
    out = dict(rows)
    for kit in kits:
        whole = kits_available(kit.components, rows) >= kit.qty
        for sku, _ in kit.components:
            out[sku] = np.where(whole, rows[sku], 0)
    return out


def kit_views(kits: Sequence[Kit], line_states: Sequence[Mapping[str, Any]],
              state: str) -> list[dict[str, Any]]:
    """Each kit as the API shows it: live kits (``qty``), its state, its components
    (units per kit, the warehouses they are held at) and whether they ship together
    (one warehouse); ``line_states``: the reservation's lines (sku, warehouse, live
    qty, state, cancelled)."""
    out = []
    for kit in kits:
        comps, live, states, cancelled = [], [], set(), 0
        for sku, per in kit.components:
            mine = [x for x in line_states if x["sku"] == sku]
            live.append(sum(x["qty"] for x in mine) // per)
            states |= {x["state"] for x in mine if x["qty"]}
            cancelled += sum(x.get("cancelled", 0) for x in mine)
            comps.append({"sku": sku, "qty": per,
                          "warehouses": sorted({x["warehouse"] for x in mine if x["qty"]})})
        n = min(live)
        kit_state = (states.pop() if len(states) == 1 and n else
                     ("cancelled" if cancelled else "released") if not n else state)
        whs = {w for c in comps for w in c["warehouses"]}
        out.append({"sku": kit.bundle, "qty": n, "ordered": kit.qty, "state": kit_state,
                    "together": len(whs) <= 1, "components": comps})
    return out


def cancel_wants(kits: Sequence[Kit], wants: Iterable[tuple[str, Any, int | None]],
                 line_states: Sequence[Mapping[str, Any]]
                 ) -> tuple[list[tuple[str, Any, int | None]], str | None]:
    """Lines to take off with bundle lines as their components' units (``qty`` kits,
    None: every live kit), and the first component named alone (``None`` if none: a
    component is taken off only with its kit)."""
    by_id = {k.bundle: k for k in kits}
    parts = {s: k.bundle for k in kits for s, _ in k.components}
    out: list[tuple[str, Any, int | None]] = []
    for sku, wh, qty in wants:
        if sku in parts:
            return out, sku
        kit = by_id.get(sku)
        if kit is None:
            out.append((sku, wh, qty))
            continue
        (live,) = [v["qty"] for v in kit_views([kit], line_states, "")]
        n = live if qty is None else qty
        if n > live or n == 0:
            raise InvalidRequest(f"lines: the reservation has {live} live kits of {sku}, "
                                 f"cannot take off {n}", sku=sku, live=live)
        out += [(c, None, n * per) for c, per in kit.components]
    return out, None
