"""The kill switch as checkout sees it: a local copy, refreshed every ``refresh_s``.

Reading Redis on every reserve would cost a round trip each; instead each API process
keeps the switch in memory and re-reads it in the background. A switch flipped on
another process takes effect here within ``refresh_s`` (default 0.25 s): at most that
long of reservations still accepted after an operator pulled the switch. A switch
flipped through this process takes effect here at once.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Sequence

from allocator.errors import AllocatorError, BrandOff, ChannelOff, ReservationsOff
from storage.killswitch import KillState, KillSwitchStore

log = logging.getLogger("allocator.service")


class KillSwitch:
    def __init__(self, store: KillSwitchStore, refresh_s: float = 0.25) -> None:
        self.store = store
        self.refresh_s = refresh_s
        self.on = False
        self.skus: frozenset[str] = frozenset()
        self.channels: frozenset[str] = frozenset()
        self.brands: frozenset[str] = frozenset()
        self._task: asyncio.Task | None = None

    async def start(self) -> None:
        await self.reload()
        self._task = asyncio.get_running_loop().create_task(self._loop())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.refresh_s)
            try:
                await self.reload()
            except AllocatorError:
                pass  # Redis down: keep the last known switch

    async def reload(self) -> None:
        state: KillState = await self.store.read()
        self.on, self.skus = state.on, state.skus
        self.channels, self.brands = state.channels, state.brands

    def check(self, skus: Sequence[str], channel: str | None = None,
              brand: str | None = None) -> None:
        """ReservationsOff if the switch is on globally or for any of ``skus``;
        ChannelOff / BrandOff if it is on for the request's channel / brand."""
        if self.on:
            raise ReservationsOff("reservations are switched off", skus=["*"])
        if self.skus:
            hit = sorted(set(skus) & self.skus)
            if hit:
                raise ReservationsOff(f"reservations are switched off for {', '.join(hit)}",
                                      skus=hit)
        if channel and channel in self.channels:
            raise ChannelOff(f"reservations are switched off for channel {channel}",
                             channel=channel)
        if brand and brand in self.brands:
            raise BrandOff(f"reservations are switched off for brand {brand}", brand=brand)

    async def set(self, on: bool, skus: Sequence[str] = (), channels: Sequence[str] = (),
                  brands: Sequence[str] = ()) -> dict[str, Any]:
        await self.store.set(on, skus, channels, brands)
        await self.reload()
        return self.state()

    def state(self) -> dict[str, Any]:
        return {"global": self.on, "skus": sorted(self.skus),
                "channels": sorted(self.channels), "brands": sorted(self.brands)}
