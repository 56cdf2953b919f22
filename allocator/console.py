"""Printing a command's result: the one output format of every ``allocator`` command."""

from __future__ import annotations

import json
from typing import Any


def emit(obj: dict[str, Any], as_json: bool) -> None:
    """Print a result: one compact JSON line with ``--json``, indented otherwise."""
    print(json.dumps(obj) if as_json else json.dumps(obj, indent=2))
