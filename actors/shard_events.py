"""A shard's events outbox: every journaled change becomes events (one bulk event for a
big batch), published to the events stream with deterministic ids, at least once."""

from __future__ import annotations

from typing import Any

import msgpack
import numpy as np

from allocator.errors import StorageUnavailable
from allocator.ops import LINE_HOLD_OPS, Code, OpKind

EVENT_OF = {
    OpKind.HOLD: "reserved", OpKind.COMMIT: "committed", OpKind.RELEASE: "released",
    OpKind.CANCEL: "cancelled", OpKind.SHIP: "shipped", OpKind.RESTOCK: "restocked",
    OpKind.RETURN: "returned", OpKind.SYNC: "synced", OpKind.TRANSFER_OUT: "transferred_out",
    OpKind.TRANSFER_IN: "transferred_in", OpKind.AMEND: "amended",
    OpKind.DROP_LINES: "lines_dropped", OpKind.REALLOCATE: "reallocated",
}


class EventPublisher:
    """Mixin of :class:`~actors.shard_core.ShardCore`: the events outbox."""

    def _load_unpublished(self) -> None:
        """After a restart: queue the journal entries whose events were not published."""
        assert self.events is not None
        cursor = self.events.cursor(self.name)
        self.outbox.clear()
        for entry_id, record in self.journal._entries_after(cursor, 512):
            self.outbox.append((entry_id, record))

    def publish_events(self) -> int:
        """Turn outbox records into events on the events stream (at-least-once)."""
        if self.events is None:
            return 0
        with self.lock:
            taken: list[tuple[str, dict]] = []
            n = 0
            while self.outbox and n < self.config.max_events_per_publish:
                entry, record = self.outbox.popleft()
                taken.append((entry, record))
                n += len(record.get("code", ())) + 1
        if not taken:
            return 0
        events = [e for entry, record in taken for e in self._events_of(entry, record)]
        try:
            self.events.publish(self.name, events, taken[-1][0])
        except StorageUnavailable:
            with self.lock:
                self.outbox.extendleft(reversed(taken))
            raise
        return len(events)

    def _bulk_event(self, entry: str, record: dict[str, Any], changed: np.ndarray,
                    base: dict[str, Any]) -> dict[str, Any]:
        """One event for many changes (a bulk batch): their columns, msgpack-packed in
        ``data`` (see docs/EVENTS.md) — thousands of stream entries a second would
        cost the shard more than the changes themselves."""
        nwh = len(self.warehouse_ids)
        kinds = record["kind"][changed]
        first = record["l_cell"][np.minimum(record["line_start"][changed],
                                            max(0, len(record["l_cell"]) - 1))]
        has_line = record["line_count"][changed] > 0
        hold_id = np.where(kinds == OpKind.HOLD, record["value"][changed],
                           record["hold_id"][changed])
        names = {int(k): EVENT_OF[OpKind(int(k))] for k in np.unique(kinds)}
        data = {"type": [names[k] for k in kinds.tolist()],
                "op_id": record["op_id"][changed].tolist(), "hold_id": hold_id.tolist(),
                "sku": [self.sku_ids[c // nwh] if h else "" for c, h in
                        zip(first.tolist(), has_line.tolist())],
                "warehouse": [self.warehouse_ids[c % nwh] if h else "" for c, h in
                              zip(first.tolist(), has_line.tolist())],
                "qty": np.where(has_line, record["l_qty"][np.minimum(
                    record["line_start"][changed], max(0, len(record["l_qty"]) - 1))],
                    0).tolist()}
        return {**base, "event_id": f"{self.name}:{entry}:bulk", "type": "bulk",
                "count": len(changed), "data": msgpack.packb(data, use_bin_type=True)}

    def _events_of(self, entry: str, record: dict[str, Any]) -> list[dict[str, Any]]:
        nwh = len(self.warehouse_ids)
        base = {"shard": self.name, "at": int(record.get("now", 0))}
        out: list[dict[str, Any]] = []

        def cell_ids(cell: int) -> tuple[str, str]:
            return self.sku_ids[cell // nwh], self.warehouse_ids[cell % nwh]

        if record["t"] == "b":
            codes, kinds = record["code"], record["kind"]
            changed = np.flatnonzero((codes == Code.OK) & ~record["replayed"])
            if len(changed) > self.config.bulk_events_over:
                out.append(self._bulk_event(entry, record, changed, base))
                changed = changed[:0]
            for i in changed.tolist():
                kind = OpKind(int(kinds[i]))
                ev = {**base, "event_id": f"{self.name}:{entry}:{i}", "type": EVENT_OF[kind],
                      "op_id": int(record["op_id"][i])}
                s, c = int(record["line_start"][i]), int(record["line_count"][i])
                if kind == OpKind.HOLD:
                    ev["hold_id"] = int(record["value"][i])
                    ev["lines"] = ";".join(
                        f"{cell_ids(int(cl))[0]}@{cell_ids(int(cl))[1]}x{int(q)}"
                        for cl, q in zip(record["l_cell"][s:s + c], record["l_qty"][s:s + c]))
                elif c == 0:
                    ev["hold_id"] = int(record["hold_id"][i])
                elif kind in LINE_HOLD_OPS:  # a hold's lines: which units, and where to
                    ev["hold_id"] = int(record["hold_id"][i])
                    ev["lines"] = ";".join(
                        f"{cell_ids(int(cl))[0]}@{cell_ids(int(cl))[1]}x{int(q)}"
                        for cl, q in zip(record["l_cell"][s:s + c], record["l_qty"][s:s + c]))
                    if kind == OpKind.REALLOCATE:  # lines: from, then to
                        ev["to_warehouse"] = cell_ids(int(record["l_cell"][s + 1]))[1]
                else:
                    ev["sku"], ev["warehouse"] = cell_ids(int(record["l_cell"][s]))
                    ev["qty"] = int(record["l_qty"][s])
                out.append(ev)
                if kind == OpKind.SYNC and int(record["detail"][i]) > 0:
                    out.append({**ev, "event_id": f"{self.name}:{entry}:{i}:drift",
                                "type": "drift", "missing": int(record["detail"][i])})
            for j, cell in enumerate(record["low"].tolist()):
                sku, wh = cell_ids(int(cell))
                out.append({**base, "event_id": f"{self.name}:{entry}:low:{j}",
                            "type": "low_stock", "sku": sku, "warehouse": wh})
        elif record["t"] == "x":
            for hid in record["ids"].tolist():
                out.append({**base, "event_id": f"{self.name}:{entry}:x:{hid}",
                            "type": "expired", "hold_id": int(hid)})
        return out
