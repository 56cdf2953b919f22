"""Background tasks that cannot vanish: the event loop keeps only weak references to
tasks, so a task nobody holds may be garbage-collected before it finishes."""

from __future__ import annotations

import asyncio
from typing import Any, Coroutine

_running: set[asyncio.Task] = set()


def spawn(coro: Coroutine[Any, Any, Any]) -> asyncio.Task:
    """Run ``coro`` in the background, referenced until it is done."""
    task = asyncio.get_running_loop().create_task(coro)
    _running.add(task)
    task.add_done_callback(_running.discard)
    return task
