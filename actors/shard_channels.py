"""A shard's channel rules (see :mod:`allocator.ledger_channels`): set by ops,
journaled like every change (so recovery restores them; the counts come back from the
holds), and read with what each channel can still sell."""

from __future__ import annotations

from typing import Any

from allocator.errors import InvalidRequest
from allocator.ledger_channels import ChannelRule


class ShardChannels:
    """Mixin of :class:`~actors.shard_core.ShardCore`: channel rules."""

    def set_channel_rules(self, rules: list[list[Any]]) -> None:
        """Set channel rules, each ``[sku, channel, name, buffer, buffer_bp, cap,
        cap_bp]`` (an empty rule removes one; see :mod:`allocator.ledger_channels`):
        all validated first (all or none), applied, then journaled."""
        with self.lock:
            ledger = self._ready()
            for sku, ch, _name, *rule in rules:  # InvalidRequest before anything changes
                ledger.cell(sku, ledger.warehouse_ids[0])
                reason = ChannelRule(*rule).invalid_reason()
                if reason is not None or int(ch) <= 0:
                    raise InvalidRequest(reason or "channel ids are positive", sku=sku)
            ledger.load_channel_rules(rules)
            self._journal({"t": "chan", "rules": [list(r) for r in rules]})

    def channel_view(self, sku: str, channels: list[int]) -> dict[str, Any]:
        """A SKU's rules (by channel id) and, per asked channel, what it can sell here
        (see :meth:`allocator.ledger.Ledger.channel_view`)."""
        with self.lock:
            ledger = self._ready()
            rules = ledger.channel_rules(sku)
            return {"rules": [[ch, ledger.channel_names.get(ch, ""), *r]
                              for ch, r in sorted(rules.items())],
                    "units": [[ch, ledger.channel_view(sku, ch)["units"]] for ch in rules],
                    "views": [ledger.channel_view(sku, int(ch)) for ch in channels]}
