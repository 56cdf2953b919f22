"""The delivery network: warehouses, destinations, zones, rate card and transit times.

A :class:`Network` is read from a JSON document (see docs/ROUTING.md) and validated
field by field; every problem raises :class:`NetworkFileError` naming the offending
field. On load it precomputes destination × warehouse matrices (distance, zone,
transit days, first-slab and additional-slab price) so that planning an order is a
handful of array lookups.
"""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from allocator.errors import UnknownWarehouse
from routing.errors import UnknownDestination
from routing.network_file import NetworkParser, read_json
from routing.network_parts import (Destination, NetworkWarehouse, TransitBand, Zone,
                                   km_or_inf)

EARTH_RADIUS_KM = 6371.0
DEMO_NETWORK_FILE = "demo_network.json"


class Network:
    """Validated network plus precomputed destination × warehouse matrices.

    Matrices (shape ``(n_destinations, n_warehouses)``): ``distance_km``,
    ``zone`` (index into :attr:`zones`), ``transit_days``, ``first_paise``,
    ``additional_paise``. Vectors over warehouses: ``handling_paise``,
    ``fixed_paise``, ``capacity`` (``-1`` = unlimited). Vector over destinations:
    ``rto_ppm``.
    """

    def __init__(
        self,
        *,
        name: str,
        slab_g: int,
        zones: tuple[Zone, ...],
        transit: tuple[TransitBand, ...],
        lateness_paise_per_day: int,
        stock_health_threshold: int,
        stock_health_paise: int,
        warehouses: tuple[NetworkWarehouse, ...],
        destinations: tuple[Destination, ...],
        split_lines: bool = False,
    ) -> None:
        self.name = name
        self.split_lines = split_lines  # policy: may a line's units ship from several FCs
        self.slab_g = slab_g
        self.zones = zones
        self.transit = transit
        self.lateness_paise_per_day = lateness_paise_per_day
        self.stock_health_threshold = stock_health_threshold
        self.stock_health_paise = stock_health_paise
        self.warehouses = warehouses
        self.destinations = destinations
        self.warehouse_ids: tuple[str, ...] = tuple(w.id for w in warehouses)
        self._wh_index = {w: i for i, w in enumerate(self.warehouse_ids)}
        self._dest_index = {d.pincode: i for i, d in enumerate(destinations)}
        self._precompute()

    # -- lookups -------------------------------------------------------------
    @property
    def n_warehouses(self) -> int:
        return len(self.warehouses)

    def warehouse_index(self, warehouse_id: str) -> int:
        """Dense index of a warehouse; :class:`UnknownWarehouse` if absent."""
        try:
            return self._wh_index[warehouse_id]
        except KeyError:
            raise UnknownWarehouse(
                f"warehouse {warehouse_id!r} is not in network {self.name!r}",
                warehouse=warehouse_id,
            ) from None

    def destination_index(self, pincode: str) -> int:
        """Dense index of a pincode; :class:`UnknownDestination` if the network lacks it."""
        try:
            return self._dest_index[pincode]
        except KeyError:
            raise UnknownDestination(
                f"destination pincode {pincode!r} is not served by network {self.name!r}",
                destination=pincode,
            ) from None

    def splits_for(self, order: Any) -> bool:
        """Whether ``order``'s lines may be split: its own ``split_lines`` if it says,
        else this network's policy."""
        own = getattr(order, "split_lines", None)
        return self.split_lines if own is None else bool(own)

    def destination(self, pincode: str) -> Destination:
        return self.destinations[self.destination_index(pincode)]

    # -- matrices ------------------------------------------------------------
    def _precompute(self) -> None:
        wlat = np.radians([w.lat for w in self.warehouses])
        wlon = np.radians([w.lon for w in self.warehouses])
        dlat = np.radians([d.lat for d in self.destinations])[:, None]
        dlon = np.radians([d.lon for d in self.destinations])[:, None]
        h = (np.sin((dlat - wlat) / 2) ** 2
             + np.cos(dlat) * np.cos(wlat) * np.sin((dlon - wlon) / 2) ** 2)
        dist = 2 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(np.clip(h, 0.0, 1.0)))
        self.distance_km: np.ndarray = dist

        bands = [i for i, z in enumerate(self.zones) if not z.is_special]
        band_bounds = np.array([km_or_inf(self.zones[i].max_km) for i in bands])
        zone = np.asarray(bands)[np.searchsorted(band_bounds, dist, side="left")]
        extra = np.array([z.extra_transit_days for z in self.zones], np.int64)[zone]
        for zi, z in enumerate(self.zones):
            if z.is_special:
                tagged = np.array([d.zone == z.destination_tag for d in self.destinations])
                hit = tagged[:, None] & (dist > z.beyond_km)
                zone = np.where(hit, zi, zone)
                extra = np.where(hit, z.extra_transit_days, extra)
        self.zone: np.ndarray = zone.astype(np.int64)

        t_bounds = np.array([km_or_inf(b.max_km) for b in self.transit])
        t_days = np.array([b.days for b in self.transit], dtype=np.int64)
        self.transit_days: np.ndarray = t_days[np.searchsorted(t_bounds, dist, side="left")] + extra

        first = np.array([[r.first_paise for r in w.rates] for w in self.warehouses], np.int64)
        addl = np.array([[r.additional_paise for r in w.rates] for w in self.warehouses], np.int64)
        cols = np.arange(self.n_warehouses)[None, :]
        self.first_paise: np.ndarray = first[cols, self.zone]
        self.additional_paise: np.ndarray = addl[cols, self.zone]

        self.handling_paise = np.array([w.handling_paise for w in self.warehouses], np.int64)
        self.fixed_paise = np.array([w.fixed_paise for w in self.warehouses], np.int64)
        self.capacity = np.array(
            [-1 if w.daily_capacity is None else w.daily_capacity for w in self.warehouses],
            np.int64,
        )
        self.rto_ppm = np.array([d.rto_ppm for d in self.destinations], np.int64)

    # -- loading -------------------------------------------------------------
    @classmethod
    def from_dict(cls, data: Any, source: str = "network") -> "Network":
        """Build and validate from the JSON shape in docs/ROUTING.md."""
        return cls(**NetworkParser(source).fields(data))

    @classmethod
    def load(cls, path: str | Path) -> "Network":
        """Read a network JSON file; :class:`NetworkFileError` on any problem."""
        return cls.from_dict(read_json(path, "network"), source=str(path))

    def summary(self) -> dict[str, Any]:
        return {"name": self.name, "warehouses": self.n_warehouses,
                "destinations": len(self.destinations),
                "zones": [z.name for z in self.zones]}


@lru_cache(maxsize=1)
def demo_network() -> Network:
    """The bundled demo network: 12 Indian fulfilment centres, 300+ pincodes."""
    ref = resources.files("routing") / "data" / DEMO_NETWORK_FILE
    data = json.loads(ref.read_text(encoding="utf-8"))
    return Network.from_dict(data, source=DEMO_NETWORK_FILE)


def demo_network_path() -> Path:
    return Path(str(resources.files("routing") / "data" / DEMO_NETWORK_FILE))
