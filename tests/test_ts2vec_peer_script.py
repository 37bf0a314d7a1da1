"""benchmarks/ts2vec_official.py's table builder: mean ± sample std over seeds, seed counts, failed runs left out."""

from _bench import load_benchmark


def _script():
    return load_benchmark("ts2vec_official")


def _run(method, seed, acc, secs=10.0, dataset="GunPoint"):
    return {"dataset": dataset, "method": method, "seed": seed, "accuracy": acc, "wall_seconds": secs,
            "train_seconds": secs / 2}


def test_table_mean_sample_std_counts_and_paper_column():
    mod = _script()
    runs = [_run("official-ts2vec", s, a, 30.0) for s, a in enumerate((0.9, 1.0, 0.95))]
    runs += [_run("ts2vec", 0, 0.8), {"dataset": "GunPoint", "method": "ts2vec", "seed": 1, "error": "rc 1"}]
    table = mod.markdown({"runs": runs})
    row = next(line for line in table.splitlines() if line.startswith("| GunPoint | 0."))
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[1] == "0.950 ± 0.050 [3]"  # sample std (ddof=1) of 0.9, 1.0, 0.95
    assert cells[2] == "0.800 ± 0.000 [1]"  # the failed seed is not counted
    assert cells[-2:] == ["0.980", "0.980"]  # paper columns (secondary source): TS2Vec, T-Loss
    secs = next(line for line in table.splitlines() if line.startswith("| GunPoint | 30"))
    assert secs.split("|")[1:3] == [" GunPoint ", " 30 (15) "]
