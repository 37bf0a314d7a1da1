"""Pool `selfsup compare` leaderboards of the same comparison made in parts (other seeds, other lanes) whose run
folders are no longer together, so `selfsup report DIR` cannot rank them again.

Each row's cells are means over the seeds that leaderboard holds (`metric.n`); the pooled cell is their mean weighted
by n, and the pooled primary metric is the mean of the per-seed values. The baselines are taken from the first file
that has them (`--baselines none` parts have none). images/s is pooled the same way: where the parts ran on different
machines, quote each part's own rate instead. Prints a Markdown table and writes the pooled json.

    python benchmarks/merge_leaderboards.py A.json B.json C.json --out pooled.json
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

CELLS = [("linear", "1%"), ("linear", "10%"), ("linear", "100%"), ("knn", "1%"), ("knn", "100%")]


def weighted_mean(pairs: list[tuple[float | None, int]]) -> float | None:
    """Mean of the values weighted by their seed counts, over the values that exist."""
    pairs = [(v, n) for v, n in pairs if v is not None]
    return sum(v * n for v, n in pairs) / sum(n for _, n in pairs) if pairs else None


def pool(boards: list[dict]) -> dict:
    rows: dict[str, dict] = {}
    for board in boards:
        for row in board["rows"]:
            n = int(row["metric"]["n"])
            acc = rows.setdefault(row["method"], {"n": 0, "per_seed": {}, "cells": {}, "samples_per_s": [],
                                                  "epochs": [], "sources": []})
            overlap = set(acc["per_seed"]) & set(row["metric"]["per_seed"])
            if overlap:
                raise SystemExit(f"{row['method']}: seed(s) {sorted(overlap)} appear in two leaderboards")
            acc["per_seed"].update(row["metric"]["per_seed"])
            for proto, lab in CELLS:
                value = row["protocols"].get(proto, {}).get(lab)
                if value is not None:
                    acc["cells"].setdefault(f"{proto} {lab}", []).append((value, n))
            acc["n"] += n
            acc["samples_per_s"].append((row.get("samples_per_s"), n))
            acc["epochs"].append((row.get("epochs"), n))
    out_rows = []
    for method, acc in rows.items():
        seeds = [acc["per_seed"][s] for s in sorted(acc["per_seed"], key=int)]
        out_rows.append({"method": method, "n": acc["n"],
                         "metric": {"mean": statistics.mean(seeds),
                                    "std": statistics.stdev(seeds) if len(seeds) > 1 else 0.0,
                                    "per_seed": {s: acc["per_seed"][s] for s in sorted(acc["per_seed"], key=int)}},
                         "cells": {k: weighted_mean(v) for k, v in acc["cells"].items()},
                         "samples_per_s": weighted_mean(acc["samples_per_s"]), "epochs": weighted_mean(acc["epochs"])})
    out_rows.sort(key=lambda r: -r["metric"]["mean"])
    baselines = next((b["baselines"] for b in boards if b.get("baselines")), {})
    return {"metric": boards[0]["metric"], "rows": out_rows, "baselines": baselines}


def markdown(pooled: dict) -> str:
    head = "| representation | " + " | ".join(f"{p} {l}" for p, l in CELLS) + " | seeds | images/s |"
    lines = [head, "|" + "---|" * (len(CELLS) + 3)]
    for r in pooled["rows"]:
        per_seed = " / ".join(f"{100 * v:.1f}" for v in r["metric"]["per_seed"].values())
        cells = [f"{100 * r['cells'][f'{p} {l}']:.1f}" if r["cells"].get(f"{p} {l}") is not None else "–"
                 for p, l in CELLS]
        cells[0] += f" ± {100 * r['metric']['std']:.1f} ({per_seed})"
        sps = f"{r['samples_per_s']:.1f}" if r["samples_per_s"] is not None else "–"
        lines.append(f"| {r['method']} | " + " | ".join(cells) + f" | {r['n']} | {sps} |")
    for name, cells in pooled["baselines"].items():
        vals = [f"{100 * cells[p][l]:.1f}" if cells.get(p, {}).get(l) is not None else "–" for p, l in CELLS]
        lines.append(f"| {name} | " + " | ".join(vals) + " | | |")
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("leaderboards", nargs="+", type=Path)
    ap.add_argument("--out", type=Path, help="write the pooled leaderboard here (json)")
    args = ap.parse_args(argv)
    boards = [json.loads(p.read_text()) for p in args.leaderboards]
    pooled = pool(boards)
    pooled["sources"] = [str(p) for p in args.leaderboards]
    print(markdown(pooled))
    if args.out:
        args.out.write_text(json.dumps(pooled, indent=1) + "\n")


if __name__ == "__main__":
    main()
