"""allocator: the stock domain (catalog, ledger, holds, batches, invariants).

Pure: no Ray, no Redis, no HTTP. Everything here runs and is tested in-process.
"""

__version__ = "0.1.0"
