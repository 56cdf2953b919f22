"""What a rehearsal sells and with which keys: the same on the runner and on every
Locust worker, since both build it from the same flags."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from loadtest.params import Params

if TYPE_CHECKING:
    from loadtest.options import RehearsalOptions


def destinations() -> list[str]:
    """Every pincode of the demo network (the buyers' destinations)."""
    path = Path(__file__).resolve().parent.parent / "routing" / "data" / "demo_network.json"
    try:
        data = json.loads(path.read_text())
        return [d["pincode"] for d in data["destinations"]]
    except (OSError, KeyError, ValueError):
        return ["110001", "400001", "560001"]


LOCAL_KEYS: dict[str, dict[str, Any]] = {
    **{f"rehearse-shop-{i}": {"name": f"shop-{i}", "scopes": ["checkout", "read"], "rate": 0}
       for i in range(8)},
    "rehearse-ops": {"name": "wms", "scopes": ["ops", "read"], "rate": 0},
    "rehearse-admin": {"name": "oncall", "scopes": ["admin", "ops", "checkout", "read"],
                       "rate": 0},
    "rehearse-throttled": {"name": "scraper", "scopes": ["checkout", "read"], "rate": 2,
                           "burst": 2},
}


@dataclass
class Sale:
    """What a rehearsal sells and with which keys (the same on every Locust worker)."""

    sale: list[str]
    hot: list[str]
    ops_skus: list[str]
    warehouses: list[str]
    checkout_keys: list[str]
    ops_key: str
    admin_key: str
    throttled_key: str


def plan_sale(opts: "RehearsalOptions") -> Sale:
    """The sale's SKUs (the first of the demo catalog) and the keys: generated for the
    local stack, from the options with ``host``."""
    from allocator.catalog import demo_catalog

    catalog = demo_catalog()
    sale = catalog.sku_ids[:opts.skus]
    if opts.host is None:
        keys = [[k for k in LOCAL_KEYS if k.startswith("rehearse-shop-")], "rehearse-ops",
                "rehearse-admin", "rehearse-throttled"]
    else:
        keys = [opts.checkout_keys or ["dev-checkout-key"], opts.ops_key or "dev-ops-key",
                opts.admin_key, opts.throttled_key]
    return Sale(sale, sale[:opts.hot], catalog.sku_ids[opts.skus:opts.skus + 5],
                list(catalog.warehouse_ids), keys[0], keys[1], keys[2],
                keys[3] if opts.throttled else "")


def load_params(opts: "RehearsalOptions") -> dict[str, Any]:
    """The Params fields of the open model, the SLO and the capacity search."""
    plan = opts.plan()
    return dict(rps_per_buyer=opts.rps_per_buyer, slo_p99_ms=opts.slo_p99_ms,
                max_error_rate=opts.max_error_rate, find_capacity=opts.find_capacity,
                capacity_start_rps=plan.start_rps, capacity_factor=plan.factor,
                capacity_max_rps=plan.max_rps, step_s=opts.step_s, warmup_s=opts.warmup_s,
                flush_s=5.0 if opts.distributed() else 0.0)


def make_params(opts: "RehearsalOptions", sale: Sale, record_dir: Path,
                meter_path: Path | None) -> Params:
    """The parameters every Locust process of this rehearsal loads."""
    return Params(record_dir=str(record_dir), sale_skus=sale.sale, hot_skus=sale.hot,
                  ops_skus=sale.ops_skus, warehouses=sale.warehouses,
                  destinations=destinations(), checkout_keys=sale.checkout_keys,
                  ops_key=sale.ops_key, throttled_key=sale.throttled_key, ttl_s=opts.ttl_s,
                  duration_s=opts.duration_s, multiple=opts.multiple,
                  peak_users=opts.peak_users, **load_params(opts),
                  meter_path=str(meter_path or ""))
