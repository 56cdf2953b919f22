"""What the rehearsal's users write down for the audit: append-only JSON lines."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import orjson


class Recorder:
    """Append-only JSON lines, one file per process (Locust workers fork); with
    ``forward`` (a worker on another machine) kept in memory until the next stats
    report carries them to the master."""

    def __init__(self, directory: str, forward: bool = False) -> None:
        self.directory = Path(directory)
        self.forward = forward
        self.pending: list[dict[str, Any]] = []
        self.pid = -1
        self.fh: Any = None

    def take(self) -> list[dict[str, Any]]:
        """The forwarded events since the last call."""
        out, self.pending = self.pending, []
        return out

    def write(self, **event: Any) -> None:
        if self.forward:
            event["ts"] = round(time.time(), 3)
            self.pending.append(event)
            return
        if self.pid != os.getpid():
            self.pid = os.getpid()
            self.directory.mkdir(parents=True, exist_ok=True)
            self.fh = open(self.directory / f"events-{self.pid}.jsonl", "a", buffering=1,
                           encoding="utf-8")
        event["ts"] = round(time.time(), 3)
        self.fh.write(orjson.dumps(event).decode() + "\n")

    def close(self) -> None:
        if self.fh is not None and self.pid == os.getpid():
            self.fh.flush()
            self.fh.close()
            self.fh = None
