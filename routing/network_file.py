"""Reading a delivery network file: JSON parsed with errors that name the file, then
validated field by field (:class:`NetworkParser`), every problem a
:class:`~routing.errors.NetworkFileError` naming the offending field."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Mapping

from routing.errors import NetworkFileError
from routing.network_parts import (
    MAX_COUNT, MAX_RUPEES, RTO_DECIMALS, Destination, NetworkWarehouse, Rate, TransitBand,
    Zone, km_or_inf, rto_ppm,
)


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


class NetworkParser:
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
    def fields(self, data: Any) -> dict[str, Any]:
        """The validated arguments of :class:`~routing.network.Network`."""
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
        return dict(
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
            bound = km_or_inf(max_km)
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
            if km_or_inf(max_km) <= last:
                raise self.fail(f"{where}.max_km", "transit bands must increase")
            last = km_or_inf(max_km)
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
