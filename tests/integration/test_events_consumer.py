"""The events stream from the consumer's side, on a real Redis: the shipped example
consumer killed mid-stream resumes with no event lost and duplicates deduped; bulk
events expand to their changes; a group replays from an entry id; `allocator events`."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import msgpack
import pytest

from allocator.config import Keys
from commands.main import main as allocator_main
from storage.events import Consumer, EventStream, expand, of_holds
from storage.journal import EventLog

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "event_consumer.py"


def publish(redis_client, prefix: str, n: int) -> list[str]:
    """``n`` single events in batches of 20 plus one bulk event of 3 changes."""
    log, ids = EventLog(redis_client, prefix), []
    for start in range(0, n, 20):
        batch = [{"event_id": f"s0:{i}-0:0", "type": "reserved", "shard": "s0",
                  "hold_id": i, "at": 1000 + i, "op_id": i} for i in range(start, min(n, start + 20))]
        log.publish("s0", batch, f"{start}-0")
        ids += [e["event_id"] for e in batch]
    data = {"type": ["committed", "released", "reserved"], "op_id": [1, 2, 3],
            "hold_id": [0, 1, 999], "sku": ["", "", "A"], "warehouse": ["", "", "W1"],
            "qty": [0, 0, 2]}
    log.publish("s0", [{"event_id": "s0:bulk-0:bulk", "type": "bulk", "shard": "s0",
                        "at": 5000, "count": 3, "data": msgpack.packb(data)}], "bulk-0")
    return ids + [f"s0:bulk-0:bulk:{i}" for i in range(3)]


def run_example(redis_url: str, prefix: str, db: Path, name: str, *extra: str
                ) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(EXAMPLE), "--redis-url", redis_url,
                           "--prefix", prefix, "--group", "billing", "--name", name,
                           "--db", str(db), "--claim-idle-ms", "300", *extra],
                          capture_output=True, text=True, timeout=120, cwd=ROOT)


def test_a_consumer_killed_mid_stream_resumes_with_nothing_lost(redis_url, redis_client,
                                                               prefix, tmp_path):
    expected = publish(redis_client, prefix, 200)
    db = tmp_path / "effects.sqlite"
    first = run_example(redis_url, prefix, db, "worker-1", "--crash-after", "120")
    assert first.returncode == 3, first.stderr  # died holding stored, unacknowledged entries
    assert Consumer(redis_client, "billing", "probe", Keys(prefix)).pending() > 0

    second = run_example(redis_url, prefix, db, "worker-2", "--stop-when-idle", "1.5")
    assert second.returncode == 0, second.stderr
    summary = json.loads(second.stdout)
    assert summary["duplicates"] > 0  # the dead worker's last entries came again ...
    stored = [r[0] for r in sqlite3.connect(db).execute("SELECT event_id FROM events")]
    assert sorted(stored) == sorted(expected)  # ... and each event is stored exactly once
    assert Consumer(redis_client, "billing", "probe", Keys(prefix)).pending() == 0


def test_bulk_events_expand_and_holds_find_their_events(redis_client, prefix):
    publish(redis_client, prefix, 5)
    events = [ev for _, ev in EventStream(redis_client, Keys(prefix)).read()]
    bulk = next(e for e in events if e["type"] == "bulk")
    changes = expand(bulk)
    assert [c["type"] for c in changes] == ["committed", "released", "reserved"]
    assert changes[2]["sku"] == "A" and changes[2]["qty"] == "2"
    found = of_holds(events, [("s0", 0), ("s0", 999)])
    assert [(e["type"], e["hold_id"]) for e in found] == \
        [("reserved", "0"), ("committed", "0"), ("reserved", "999")]


def test_replay_rewinds_a_group_and_rejects_a_bad_id(redis_client, prefix):
    publish(redis_client, prefix, 40)
    stream = EventStream(redis_client, Keys(prefix))
    consumer = Consumer(redis_client, "audit", "a1", Keys(prefix))
    rows = consumer.poll(count=1000, block_ms=10)
    consumer.ack([e for e, _ in rows])
    assert consumer.poll(count=10, block_ms=10) == []
    tenth = rows[10][0]
    assert stream.replay("audit", tenth)["created"] is False
    again = consumer.poll(count=1000, block_ms=10)
    assert [e for e, _ in again] == [e for e, _ in rows[10:]]
    with pytest.raises(ValueError, match="not a stream entry id"):
        stream.replay("audit", "yesterday")


def test_the_events_command_tails_and_replays(redis_url, redis_client, prefix, capsys):
    publish(redis_client, prefix, 3)
    base = ["events", "--redis-url", redis_url, "--prefix", prefix]
    assert allocator_main(base + ["tail", "--count", "2"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 2 and json.loads(lines[0])["event"]["type"] == "reserved"
    assert allocator_main(base + ["tail", "--expand", "--count", "100"]) == 0
    assert len(capsys.readouterr().out.strip().splitlines()) == 3 + 3
    assert allocator_main(base + ["replay", "--group", "g", "--from", "0"]) == 0
    assert json.loads(capsys.readouterr().out)["created"] is True
    assert allocator_main(base + ["replay", "--group", "g", "--from", "bad"]) == 2
