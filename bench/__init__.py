"""Benchmarks behind ``allocator bench …``: each prints one JSON object with its baseline."""
