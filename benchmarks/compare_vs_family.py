"""Does a `selfsup compare` leaderboard rank the contrastive family as BENCHMARKS.md's contrastive-family table does,
within the noise? (issue 19's acceptance.)

    python benchmarks/compare_vs_family.py DIR/leaderboard.json [--family benchmarks/contrastive_family_validation.json]

For the methods in both, on linear 1% (the comparison's primary metric): both orders, Spearman's rank correlation, and
every pair of methods the two tables order differently, with whether the pair is a tie by the comparison's noise rule
(|difference of means| < the larger standard deviation over seeds) in either table. The rankings agree within the
noise when every differently ordered pair is such a tie. Prints JSON.
"""

from __future__ import annotations

import argparse
import json
import statistics
from itertools import combinations


def family_table(path: str, protocol: str = "linear", labels: str = "1%") -> dict[str, tuple[float, float]]:
    """method -> (mean, std) over the seeds of the family table, in accuracy points (x100)."""
    out = {}
    for method, entry in json.load(open(path)).items():
        vals = [r["protocols"][protocol][labels]["mean"] * 100 for r in entry["runs"]]
        out[method] = (statistics.mean(vals), statistics.stdev(vals) if len(vals) > 1 else 0.0)
    return out


def board_table(path: str) -> dict[str, tuple[float, float]]:
    board = json.load(open(path))
    return {r["method"]: (r["metric"]["mean"] * 100, (r["metric"].get("std") or 0.0) * 100) for r in board["rows"]}


def tie(a: tuple[float, float], b: tuple[float, float]) -> bool:
    return abs(a[0] - b[0]) < max(a[1], b[1])


def ranks(values: list[float]) -> list[float]:
    order = sorted(range(len(values)), key=lambda i: -values[i])
    r = [0.0] * len(values)
    for pos, i in enumerate(order):
        r[i] = pos + 1.0
    return r


def compare(board: dict, family: dict) -> dict:
    common = [m for m in family if m in board]
    rb, rf = ranks([board[m][0] for m in common]), ranks([family[m][0] for m in common])
    n = len(common)
    rho = 1 - 6 * sum((x - y) ** 2 for x, y in zip(rb, rf)) / (n * (n * n - 1)) if n > 1 else None
    swapped = []
    for a, b in combinations(common, 2):
        if (board[a][0] - board[b][0]) * (family[a][0] - family[b][0]) < 0:
            swapped.append({"pair": [a, b], "comparison": [round(board[a][0], 2), round(board[b][0], 2)],
                            "family": [round(family[a][0], 2), round(family[b][0], 2)],
                            "tie_in_comparison": tie(board[a], board[b]), "tie_in_family": tie(family[a], family[b])})
    return {"methods": common,
            "comparison_order": sorted(common, key=lambda m: -board[m][0]),
            "family_order": sorted(common, key=lambda m: -family[m][0]),
            "comparison": {m: [round(v, 2) for v in board[m]] for m in common},
            "family": {m: [round(v, 2) for v in family[m]] for m in common},
            "spearman": None if rho is None else round(rho, 3),
            "swapped_pairs": swapped,
            "agree_within_noise": all(p["tie_in_comparison"] or p["tie_in_family"] for p in swapped)}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("leaderboard")
    p.add_argument("--family", default="benchmarks/contrastive_family_validation.json")
    p.add_argument("--family-row", action="append", default=[], metavar="METHOD=V0,V1,V2",
                   help="a family row's per-seed values (x100) given by hand, e.g. a default changed since the json "
                        "(memory-bank's linear head: BENCHMARKS.md gives 81.26,81.22,81.18)")
    a = p.parse_args(argv)
    family = family_table(a.family)
    for row in a.family_row:
        method, vals = row.split("=", 1)
        v = [float(x) for x in vals.split(",")]
        family[method] = (statistics.mean(v), statistics.stdev(v) if len(v) > 1 else 0.0)
    print(json.dumps(compare(board_table(a.leaderboard), family), indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
