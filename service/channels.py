"""Sales channels: the rules ops set per (SKU, channel) — a buffer kept for the
channel, an allocation cap — and what a channel can still sell of a SKU.

The rules live in the ledger of the shard that owns the SKU (journaled there, checked
atomically with every hold: see :mod:`allocator.ledger_channels`); a channel name maps
to the ledger's id by a hash (:func:`service.ids.channel_id`), so every process agrees
without a registry. Shares travel as basis points.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any, Sequence

from actors.client import ShardClient
from allocator.errors import InvalidRequest
from allocator.ledger_channels import ChannelRule
from allocator.ledger_state import MAX_SHARE_BP
from service.ids import channel_id


@dataclass(frozen=True)
class RuleSpec:
    """One (SKU, channel) rule as ops give it: each part in units or a share (0..1) of
    the SKU's on-hand units, None where not set. All None removes the rule."""

    sku: str
    channel: str
    buffer: int | None = None
    buffer_share: float | None = None
    cap: int | None = None
    cap_share: float | None = None

    def rule(self) -> ChannelRule:
        """The ledger's form (basis points); InvalidRequest for a contradictory rule."""
        rule = ChannelRule(buffer=self.buffer or 0,
                           buffer_bp=0 if self.buffer_share is None else _bp(self.buffer_share),
                           cap=-1 if self.cap is None else self.cap,
                           cap_bp=-1 if self.cap_share is None else _bp(self.cap_share))
        reason = rule.invalid_reason()
        if reason is not None:
            raise InvalidRequest(f"rule for {self.sku} on {self.channel}: {reason}",
                                 sku=self.sku, channel=self.channel)
        return rule


def _bp(share: float) -> int:
    return round(share * MAX_SHARE_BP)


def rule_json(rule: Sequence[int]) -> dict[str, Any]:
    """A ledger rule ``(buffer, buffer_bp, cap, cap_bp)`` as the API shows it."""
    buffer, buffer_bp, cap, cap_bp = (int(x) for x in rule)
    return {"buffer": buffer or None,
            "buffer_share": buffer_bp / MAX_SHARE_BP if buffer_bp else None,
            "cap": cap if cap >= 0 else None,
            "cap_share": cap_bp / MAX_SHARE_BP if cap_bp >= 0 else None}


class Channels:
    def __init__(self, client: ShardClient) -> None:
        self.client = client

    async def set_rules(self, specs: Sequence[RuleSpec]) -> list[dict[str, Any]]:
        """Set every rule, or none if one is invalid or names an unknown SKU; each
        shard applies its SKUs' rules at once. Returns the SKUs' rules as now set."""
        by_shard: dict[str, list[list[Any]]] = {}
        for spec in specs:
            self.client.check(spec.sku)
            by_shard.setdefault(self.client.owner(spec.sku), []).append(
                [spec.sku, channel_id(spec.channel), spec.channel, *spec.rule()])
        await asyncio.gather(*(self.client.actor(name).set_channel_rules.remote(rows)
                               for name, rows in by_shard.items()))
        return list(await asyncio.gather(*(self.rules(sku) for sku in
                                           dict.fromkeys(s.sku for s in specs))))

    async def rules(self, sku: str) -> dict[str, Any]:
        """A SKU's rules, each with the channel's live (held + committed) units."""
        self.client.check(sku)
        got = await self.client.read(self.client.owner(sku), "channels", sku=sku,
                                     channels=[])
        units = {int(ch): int(u) for ch, u in got["units"]}
        return {"sku": sku, "rules": [{"channel": name, **rule_json(rule),
                                       "units": units.get(int(ch), 0)}
                                      for ch, name, *rule in got["rules"]]}

    async def inventory(self, sku: str, channel: str) -> dict[str, Any]:
        """What ``channel`` can still sell of ``sku``: in total and per warehouse, with
        its live units and its rule (a hot SKU's base shard, still draining, is not
        counted: its units are held or committed already)."""
        self.client.check(sku)
        got = await self.client.read(self.client.owner(sku), "channels", sku=sku,
                                     channels=[channel_id(channel)])
        view = got["views"][0]
        rule = view["rule"]
        return {"sku": sku, "channel": channel, "sellable": int(view["sellable"]),
                "warehouses": {w: int(u) for w, u in view["warehouses"].items()},
                "units": int(view["units"]),
                "rule": None if rule is None else rule_json(
                    [rule[k] for k in ("buffer", "buffer_bp", "cap", "cap_bp")])}
