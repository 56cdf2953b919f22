"""freeze_long_lived: what is alive is frozen out of the collector's sight and young
collections are rarer; the process's settings are restored afterwards."""

from __future__ import annotations

import gc

from allocator.gctune import GC_THRESHOLDS, freeze_long_lived


def test_freeze_long_lived_freezes_what_is_alive_and_raises_the_thresholds():
    before = gc.get_threshold()
    gc.unfreeze()  # another test may have frozen the heap: start from nothing frozen
    gc.set_threshold(700, 10, 10)
    try:
        assert gc.get_freeze_count() == 0
        kept = [object() for _ in range(10)] + [[i] for i in range(100)]
        freeze_long_lived()
        assert gc.get_threshold() == GC_THRESHOLDS
        assert gc.get_freeze_count() >= len(kept)  # the objects above among them
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)
