"""Storage adapters of the API processes: Redis records, first answers (idempotency),
kill switch and rate-limit buckets, all through one coalescing pipeline."""
