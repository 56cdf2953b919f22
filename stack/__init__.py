"""Start the whole allocator on this machine or against a cluster: the Ray cluster (via
:mod:`actors.cluster`), the API in uvicorn processes with the environment it needs.
Used by ``allocator serve``, the rehearsal, the benchmarks and the end-to-end tests."""
