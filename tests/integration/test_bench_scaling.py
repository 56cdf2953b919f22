"""``allocator bench actors --shards 1 2``: one row per shard count, on the session's Ray
(each row its own deployment, prefix and Redis)."""

from __future__ import annotations

import pytest

from bench.scaling import bench_scaling
from commands.main import main

pytestmark = pytest.mark.integration


def test_scaling_rows_against_the_one_shard_baseline(cluster):
    out = bench_scaling([1, 2], lines=20_000, repeats=1, n_skus=500)
    one, two = out["rows"]
    assert (one["shards"], two["shards"]) == (1, 2)
    assert out["baseline"] == {"shards": 1, "lines_per_s": one["lines_per_s"]}
    assert one["speedup"] == 1.0 and two["speedup"] == round(
        two["lines_per_s"] / one["lines_per_s"], 2)
    for row in out["rows"]:
        assert row["accepted"] == 20_000 and row["audit_ok"] and row["oversold_units"] == 0
        assert row["journal_records"] > 0 and row["redis_bytes_per_line"] > 0
    assert one["busiest_shard_share"] == 1.0 > two["busiest_shard_share"] >= 0.5


@pytest.mark.parametrize("argv", [["--shards", "2", "2"], ["--shards", "0", "1"],
                                  ["--shards", "1", "2", "--scaling-lines", "10"]])
def test_bad_scaling_arguments_are_refused_before_anything_starts(argv, capsys):
    assert main(["bench", "actors", *argv]) == 2
    assert "allocator bench actors:" in capsys.readouterr().err
