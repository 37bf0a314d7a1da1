"""benchmarks/graph.py: runs of separate processes merge by seed (none is dropped), each keeps its provenance."""

import json
import sys
from _bench import load_benchmark


def _script():
    return load_benchmark("graph")


def _env(commit, date):
    return {"commit": commit, "date": date, "command": "python benchmarks/graph.py"}


def _part(env, **rows):
    return {"dgi-citeseer": {**{k: {"runs": [{"seed": s, "acc": a, "epochs": 300, "seconds_per_epoch": 1.0}
                                             for s, a in v]} for k, v in rows.items()}, "env": env}}


def test_merge_keeps_other_seeds_replaces_same_seed_and_recomputes_summary(tmp_path, monkeypatch, capsys):
    mod = _script()
    first = _part(_env("aaaaaaa", "day 1"), ours=[(0, 0.70), (1, 0.60)], pyg_example_as_written=[(0, 0.71)])
    second = _part(_env("bbbbbbb", "day 2"), pyg_example_as_written=[(1, 0.69), (2, 0.73)])
    third = _part(_env("ccccccc", "day 3"), ours=[(1, 0.72), (2, 0.74)])
    out, f2, f3 = tmp_path / "out.json", tmp_path / "2.json", tmp_path / "3.json"
    out.write_text(json.dumps(first))
    f2.write_text(json.dumps(second))
    f3.write_text(json.dumps(third))
    monkeypatch.setattr(sys, "argv", ["graph.py", "--out", str(out), "--merge", str(f2), str(f3)])
    mod.main()
    res = json.loads(out.read_text())["dgi-citeseer"]
    ours, pyg = res["ours"], res["pyg_example_as_written"]
    assert [(r["seed"], r["acc"], r["env"]["commit"]) for r in ours["runs"]] == [
        (0, 0.70, "aaaaaaa"), (1, 0.72, "ccccccc"), (2, 0.74, "ccccccc")]
    assert [(r["seed"], r["env"]["commit"]) for r in pyg["runs"]] == [(0, "aaaaaaa"), (1, "bbbbbbb"), (2, "bbbbbbb")]
    assert abs(ours["summary"]["mean"] - 0.72) < 1e-9 and ours["summary"]["values"] == [0.7, 0.72, 0.74]
    assert abs(pyg["summary"]["mean"] - 0.71) < 1e-9
    monkeypatch.setattr(sys, "argv", ["graph.py", "--out", str(out), "--markdown"])
    mod.main()
    table = capsys.readouterr().out
    row = next(line for line in table.splitlines() if line.startswith("| DGI (ours, defaults) | CiteSeer"))
    assert "(3 seeds)" in row and row.endswith("| aaaaaaa, day 1 (seed 0); ccccccc, day 3 (seeds 1, 2) |")
