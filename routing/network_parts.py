"""The delivery network's parts as values: zones, rates, warehouses, destinations,
transit bands, and the bounds a network file must respect. Read by
:mod:`routing.network_file`, assembled by :class:`routing.network.Network`."""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

MAX_RUPEES = 1_000_000
"""Largest amount a network file may give (₹10 lakh): keeps every cost far below INF."""
MAX_COUNT = 1_000_000_000
"""Largest whole number a network file may give (units, grams, days)."""
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


def rto_ppm(rate: float) -> int:
    """``rate`` (at most six decimals) in parts per million, exactly; ValueError if it
    has more decimals than that."""
    ppm = Fraction(repr(float(rate))) * RTO_SCALE
    if ppm.denominator != 1:
        raise ValueError(f"{rate!r} has more than {RTO_DECIMALS} decimals")
    return int(ppm)


def km_or_inf(value: float | None) -> float:
    """A distance band's bound in km (None: unbounded)."""
    return math.inf if value is None else float(value)
