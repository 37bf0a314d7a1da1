"""benchmarks/merge_leaderboards.py: leaderboards of one comparison made in parts pool by seed, weighted by how many
seeds each part holds, and a seed given twice is refused."""

import pytest
from _bench import load_benchmark


def _script():
    return load_benchmark("merge_leaderboards")


def _board(method, per_seed, linear1, knn100, sps, baselines=None):
    n = len(per_seed)
    return {"metric": {"protocol": "linear", "labels": "1%"}, "baselines": baselines or {},
            "rows": [{"method": method, "metric": {"mean": sum(per_seed.values()) / n, "n": n, "per_seed": per_seed},
                      "protocols": {"linear": {"1%": linear1}, "knn": {"100%": knn100}},
                      "samples_per_s": sps, "epochs": 0.5}]}


def test_pool_weights_cells_by_seed_count_and_keeps_the_baselines():
    m = _script()
    raw = {"linear": {"1%": 0.77}, "knn": {"100%": 0.85}}
    two = _board("dino", {"0": 0.60, "1": 0.62}, 0.61, 0.66, 10.0, baselines={"raw": raw})
    one = _board("dino", {"2": 0.70}, 0.70, 0.75, 20.0)
    pooled = m.pool([two, one])
    row = pooled["rows"][0]
    assert row["n"] == 3
    assert row["metric"]["per_seed"] == {"0": 0.60, "1": 0.62, "2": 0.70}
    assert row["metric"]["mean"] == pytest.approx((0.60 + 0.62 + 0.70) / 3)
    assert row["cells"]["linear 1%"] == pytest.approx((2 * 0.61 + 0.70) / 3)  # not the plain mean of the two parts
    assert row["cells"]["knn 100%"] == pytest.approx((2 * 0.66 + 0.75) / 3)
    assert row["samples_per_s"] == pytest.approx((2 * 10.0 + 20.0) / 3)
    assert pooled["baselines"] == {"raw": raw}
    assert "| dino | 64.0 ± " in m.markdown(pooled)


def test_a_seed_in_two_parts_is_refused():
    m = _script()
    with pytest.raises(SystemExit, match="seed"):
        m.pool([_board("mae", {"0": 0.5}, 0.5, 0.6, 1.0), _board("mae", {"0": 0.55}, 0.55, 0.6, 1.0)])
