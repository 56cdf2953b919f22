"""The delivery network: warehouses, destinations, zones, rate card and transit times.

A :class:`Network` is read from a JSON document (see docs/ROUTING.md) and validated
field by field; every problem raises :class:`NetworkFileError` naming the offending
field. On load it precomputes destination × warehouse matrices (distance, zone,
transit days, first-slab and additional-slab price) so that planning an order is a
handful of array lookups.
"""

from __future__ import annotations

import json
import math
from fractions import Fraction
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from allocator.errors import UnknownWarehouse
from routing.errors import NetworkFileError, UnknownDestination

EARTH_RADIUS_KM = 6371.0
MAX_RUPEES = 1_000_000
"""Largest amount a network file may give (₹10 lakh): keeps every cost far below INF."""
MAX_COUNT = 1_000_000_000
"""Largest whole number a network file may give (units, grams, days)."""
DEMO_NETWORK_FILE = "demo_network.json"
RTO_DECIMALS = 6
RTO_SCALE = 10 ** RTO_DECIMALS
"""``rto_rate`` is kept in parts per million: a file may give at most six decimals."""


@dataclass(frozen=True)
class Zone:
    """A rate-card zone.

    A *distance band* has ``max_km`` (``None`` = unbounded, only for the last band).
    A *special zone* has ``destination_tag``: it replaces the band for every lane
    longer than ``beyond_km`` into a destination whose ``zone`` names it.
    """

    name: str
    max_km: float | None = None
    destination_tag: str | None = None
    beyond_km: float = 0.0
    extra_transit_days: int = 0

    @property
    def is_special(self) -> bool:
        return self.destination_tag is not None


@dataclass(frozen=True)
class Rate:
    """Price of a parcel in one zone: the first slab, and each slab after it (paise)."""

    first_paise: int
    additional_paise: int


@dataclass(frozen=True)
class NetworkWarehouse:
    """A warehouse as routing sees it: place, costs and daily capacity."""

    id: str
    name: str
    city: str
    lat: float
    lon: float
    handling_paise: int
    fixed_paise: int
    daily_capacity: int | None
    rates: tuple[Rate, ...]  # one per zone, in network zone order


@dataclass(frozen=True)
class Destination:
    """A delivery pincode with its coordinates, special-zone tag and RTO rate."""

    pincode: str
    city: str
    state: str
    lat: float
    lon: float
    zone: str | None
    rto_rate: float

    @property
    def rto_ppm(self) -> int:
        """RTO rate in parts per million: exact, since the file's rate has at most six
        decimals (checked on load), so ``⌈rto_rate × shipping⌉`` is priced exactly."""
        return rto_ppm(self.rto_rate)


@dataclass(frozen=True)
class TransitBand:
    max_km: float | None
    days: int


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
        band_bounds = np.array([_km(self.zones[i].max_km) for i in bands])
        zone = np.asarray(bands)[np.searchsorted(band_bounds, dist, side="left")]
        extra = np.array([z.extra_transit_days for z in self.zones], np.int64)[zone]
        for zi, z in enumerate(self.zones):
            if z.is_special:
                tagged = np.array([d.zone == z.destination_tag for d in self.destinations])
                hit = tagged[:, None] & (dist > z.beyond_km)
                zone = np.where(hit, zi, zone)
                extra = np.where(hit, z.extra_transit_days, extra)
        self.zone: np.ndarray = zone.astype(np.int64)

        t_bounds = np.array([_km(b.max_km) for b in self.transit])
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
        return _Parser(source).network(data)

    @classmethod
    def load(cls, path: str | Path) -> "Network":
        """Read a network JSON file; :class:`NetworkFileError` on any problem."""
        return cls.from_dict(read_json(path, "network"), source=str(path))

    def summary(self) -> dict[str, Any]:
        return {"name": self.name, "warehouses": self.n_warehouses,
                "destinations": len(self.destinations),
                "zones": [z.name for z in self.zones]}


def read_json(path: str | Path, what: str) -> Any:
    """Parse a JSON file, turning I/O and syntax errors into :class:`NetworkFileError`."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise NetworkFileError(f"cannot read {what} file {str(path)!r}: {exc.strerror or exc}",
                               path=str(path)) from None
    except UnicodeDecodeError as exc:
        raise NetworkFileError(f"{what} file {str(path)!r} is not UTF-8 text: {exc.reason} "
                               f"at byte {exc.start}", path=str(path)) from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise NetworkFileError(
            f"{what} file {str(path)!r} is not valid JSON: {exc.msg} "
            f"(line {exc.lineno}, column {exc.colno})", path=str(path)) from None


@lru_cache(maxsize=1)
def demo_network() -> Network:
    """The bundled demo network: 12 Indian fulfilment centres, 300+ pincodes."""
    ref = resources.files("routing") / "data" / DEMO_NETWORK_FILE
    data = json.loads(ref.read_text(encoding="utf-8"))
    return Network.from_dict(data, source=DEMO_NETWORK_FILE)


def demo_network_path() -> Path:
    return Path(str(resources.files("routing") / "data" / DEMO_NETWORK_FILE))


def rto_ppm(rate: float) -> int:
    """``rate`` (at most six decimals) in parts per million, exactly; ValueError if it
    has more decimals than that."""
    ppm = Fraction(repr(float(rate))) * RTO_SCALE
    if ppm.denominator != 1:
        raise ValueError(f"{rate!r} has more than {RTO_DECIMALS} decimals")
    return int(ppm)


def _km(value: float | None) -> float:
    return math.inf if value is None else float(value)


class _Parser:
    """Field-by-field validation with messages that name the file and the field."""

    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, where: str, problem: str) -> NetworkFileError:
        return NetworkFileError(f"{self.source}: {where}: {problem}", field=where)

    def obj(self, value: Any, where: str) -> Mapping[str, Any]:
        if not isinstance(value, dict):
            raise self.fail(where, f"expected an object, got {type(value).__name__}")
        return value

    def lst(self, value: Any, where: str, min_len: int = 1) -> list[Any]:
        if not isinstance(value, list):
            raise self.fail(where, f"expected a list, got {type(value).__name__}")
        if len(value) < min_len:
            raise self.fail(where, f"needs at least {min_len} entr{'y' if min_len == 1 else 'ies'}")
        return value

    def get(self, obj: Mapping[str, Any], key: str, where: str) -> Any:
        if key not in obj:
            raise self.fail(where, f"missing required field {key!r}")
        return obj[key]

    def text(self, obj: Mapping[str, Any], key: str, where: str, default: str | None = None) -> str:
        value = obj.get(key, default) if default is not None else self.get(obj, key, where)
        if not isinstance(value, str) or (not value and default is None):
            raise self.fail(f"{where}.{key}", "expected a non-empty string")
        return value

    def number(self, obj: Mapping[str, Any], key: str, where: str, *, lo: float | None = None,
               hi: float | None = None, default: float | None = None, allow_none: bool = False
               ) -> float | None:
        if key not in obj and (default is not None or allow_none):
            return default
        value = self.get(obj, key, where)
        if value is None and allow_none:
            return None
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise self.fail(f"{where}.{key}", f"expected a number, got {value!r}")
        if (lo is not None and value < lo) or (hi is not None and value > hi):
            raise self.fail(f"{where}.{key}", f"{value!r} is outside [{lo}, {hi}]")
        return float(value)

    def integer(self, obj: Mapping[str, Any], key: str, where: str, *, lo: int = 0,
                default: int | None = None, allow_none: bool = False) -> int | None:
        value = self.number(obj, key, where, lo=lo, hi=MAX_COUNT, default=default,
                            allow_none=allow_none)
        if value is None:
            return None
        if value != int(value):
            raise self.fail(f"{where}.{key}", f"expected a whole number, got {value!r}")
        return int(value)

    def money(self, obj: Mapping[str, Any], key: str, where: str, default: float | None = None) -> int:
        """Rupees in the file → integer paise."""
        value = self.number(obj, key, where, lo=0, hi=MAX_RUPEES, default=default)
        assert value is not None
        return int(round(value * 100))

    # -- sections ------------------------------------------------------------
    def network(self, data: Any) -> Network:
        root = self.obj(data, "top level")
        zones = self.zones(self.get(root, "zones", "top level"))
        card = self.rate_card(self.get(root, "rate_card", "top level"), zones, "rate_card")
        warehouses = self.warehouses(self.get(root, "warehouses", "top level"), zones, card)
        tags = {z.destination_tag for z in zones if z.is_special}
        destinations = self.destinations(self.get(root, "destinations", "top level"), tags)
        health = self.obj(root.get("stock_health", {}), "stock_health")
        policy = self.obj(root.get("policy", {}), "policy")
        unknown = sorted(set(policy) - {"split_lines"})
        if unknown:
            raise self.fail("policy", f"unknown field(s) {unknown}; known: ['split_lines']")
        split = policy.get("split_lines", False)
        if not isinstance(split, bool):
            raise self.fail("policy.split_lines", f"expected true or false, got {split!r}")
        return Network(
            split_lines=split,
            name=self.text(root, "name", "top level", default="network"),
            slab_g=self.integer(root, "weight_slab_g", "top level", lo=1, default=500) or 500,
            zones=zones,
            transit=self.transit(self.get(root, "transit_days", "top level")),
            lateness_paise_per_day=self.money(root, "lateness_penalty_per_day", "top level", 0.0),
            stock_health_threshold=self.integer(health, "threshold_units", "stock_health",
                                                default=0) or 0,
            stock_health_paise=self.money(health, "penalty_per_unit", "stock_health", 0.0),
            warehouses=warehouses,
            destinations=destinations,
        )

    def zones(self, raw: Any) -> tuple[Zone, ...]:
        zones: list[Zone] = []
        last_band = -math.inf
        for i, z in enumerate(self.lst(raw, "zones")):
            where = f"zones[{i}]"
            z = self.obj(z, where)
            name = self.text(z, "name", where)
            if any(name == other.name for other in zones):
                raise self.fail(where, f"duplicate zone name {name!r}")
            extra = self.integer(z, "extra_transit_days", where, default=0) or 0
            if "destination_tag" in z:
                zones.append(Zone(name, None, self.text(z, "destination_tag", where),
                                  self.number(z, "beyond_km", where, lo=0, default=0.0) or 0.0,
                                  extra))
                continue
            if last_band == math.inf:
                raise self.fail(where, "a distance band follows the unbounded band")
            max_km = self.number(z, "max_km", where, lo=0, allow_none=True)
            bound = _km(max_km)
            if bound <= last_band:
                raise self.fail(f"{where}.max_km", "distance bands must increase")
            last_band = bound
            zones.append(Zone(name, max_km, None, 0.0, extra))
        if last_band != math.inf:
            raise self.fail("zones", "the last distance band must have \"max_km\": null (unbounded)")
        return tuple(zones)

    def rate_card(self, raw: Any, zones: tuple[Zone, ...], where: str,
                  base: tuple[Rate, ...] | None = None, multiplier: float = 1.0) -> tuple[Rate, ...]:
        card = self.obj(raw, where)
        names = {z.name for z in zones}
        for key in card:
            if key not in names:
                raise self.fail(where, f"unknown zone {key!r} (zones: {sorted(names)})")
        rates: list[Rate] = []
        for zi, z in enumerate(zones):
            if z.name not in card:
                if base is None:
                    raise self.fail(where, f"no rate for zone {z.name!r}")
                r = base[zi]
                rates.append(Rate(int(round(r.first_paise * multiplier)),
                                  int(round(r.additional_paise * multiplier))))
                continue
            entry = self.obj(card[z.name], f"{where}.{z.name}")
            first = self.money(entry, "first_500g", f"{where}.{z.name}")
            addl = self.money(entry, "each_additional_500g", f"{where}.{z.name}")
            if addl > first:
                # Needed for the planners' exactness argument and true of real cards.
                raise self.fail(f"{where}.{z.name}",
                                "each_additional_500g must not exceed first_500g")
            rates.append(Rate(first, addl))
        return tuple(rates)

    def transit(self, raw: Any) -> tuple[TransitBand, ...]:
        bands: list[TransitBand] = []
        last = -math.inf
        for i, b in enumerate(self.lst(raw, "transit_days")):
            where = f"transit_days[{i}]"
            b = self.obj(b, where)
            if last == math.inf:
                raise self.fail(where, "a band follows the unbounded band")
            max_km = self.number(b, "max_km", where, lo=0, allow_none=True)
            if _km(max_km) <= last:
                raise self.fail(f"{where}.max_km", "transit bands must increase")
            last = _km(max_km)
            bands.append(TransitBand(max_km, self.integer(b, "days", where, lo=0) or 0))
        if last != math.inf:
            raise self.fail("transit_days", "the last band must have \"max_km\": null (unbounded)")
        return tuple(bands)

    def warehouses(self, raw: Any, zones: tuple[Zone, ...], card: tuple[Rate, ...]
                   ) -> tuple[NetworkWarehouse, ...]:
        out: list[NetworkWarehouse] = []
        seen: set[str] = set()
        for i, w in enumerate(self.lst(raw, "warehouses")):
            where = f"warehouses[{i}]"
            w = self.obj(w, where)
            wid = self.text(w, "id", where)
            where = f"warehouses[{i}] ({wid})"
            if wid in seen:
                raise self.fail(where, f"duplicate warehouse id {wid!r}")
            seen.add(wid)
            mult = self.number(w, "rate_multiplier", where, lo=0.01, hi=100, default=1.0) or 1.0
            rates = self.rate_card(w.get("rate_card", {}), zones, f"{where}.rate_card",
                                   base=card, multiplier=mult)
            out.append(NetworkWarehouse(
                id=wid,
                name=self.text(w, "name", where, default=wid),
                city=self.text(w, "city", where, default=""),
                lat=self.number(w, "lat", where, lo=-90, hi=90) or 0.0,
                lon=self.number(w, "lon", where, lo=-180, hi=180) or 0.0,
                handling_paise=self.money(w, "handling_per_unit", where),
                fixed_paise=self.money(w, "fixed_per_shipment", where),
                daily_capacity=self.integer(w, "daily_capacity_units", where, lo=0,
                                            allow_none=True),
                rates=rates,
            ))
        return tuple(out)

    def rto_rate(self, d: Mapping[str, Any], where: str) -> float:
        """A probability with at most six decimals (so it is priced exactly)."""
        rate = self.number(d, "rto_rate", where, lo=0, hi=1, default=0.0) or 0.0
        try:
            rto_ppm(rate)
        except ValueError:
            raise self.fail(f"{where}.rto_rate", f"{rate!r} has more than {RTO_DECIMALS} "
                            "decimals; give the rate to at most 6 (e.g. 0.073930)") from None
        return rate

    def destinations(self, raw: Any, tags: set[str | None]) -> tuple[Destination, ...]:
        out: list[Destination] = []
        seen: set[str] = set()
        for i, d in enumerate(self.lst(raw, "destinations")):
            where = f"destinations[{i}]"
            d = self.obj(d, where)
            pin = self.get(d, "pincode", where)
            if not isinstance(pin, str) or len(pin) != 6 or not pin.isdigit() or pin[0] == "0":
                raise self.fail(f"{where}.pincode", f"expected a 6-digit pincode string, got {pin!r}")
            where = f"destinations[{i}] ({pin})"
            if pin in seen:
                raise self.fail(where, f"duplicate pincode {pin!r}")
            seen.add(pin)
            zone = d.get("zone")
            if zone is not None and (not isinstance(zone, str) or zone not in tags):
                raise self.fail(f"{where}.zone", f"{zone!r} is not a special zone's destination_tag "
                                f"(known: {sorted(t for t in tags if t)})")
            out.append(Destination(
                pincode=pin,
                city=self.text(d, "city", where, default=""),
                state=self.text(d, "state", where, default=""),
                lat=self.number(d, "lat", where, lo=-90, hi=90) or 0.0,
                lon=self.number(d, "lon", where, lo=-180, hi=180) or 0.0,
                zone=zone,
                rto_rate=self.rto_rate(d, where),
            ))
        return tuple(out)
