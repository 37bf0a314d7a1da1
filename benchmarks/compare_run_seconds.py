"""The pretraining and evaluation seconds a `selfsup compare` folder's runs took, summed (the one-thread work of the
comparison, whatever lanes or sessions it ran in). Runs copied in from another comparison folder (docs/compare.md,
"Spreading one comparison over several machines") take their seconds from that folder's plan.

    python benchmarks/compare_run_seconds.py /tmp/cmp_fm [--also /tmp/cmp_fm_s2]
"""

from __future__ import annotations

import argparse
import json


def run_seconds(main: str, also: list[str]) -> dict:
    plans = [json.load(open(f"{d}/compare.json")) for d in [main, *also]]
    other = {r["id"]: r for p in plans[1:] for r in p["runs"] if r.get("eval_wall_seconds") is not None}
    total, per_run = 0.0, {}
    for r in plans[0]["runs"]:
        src = r if r.get("eval_wall_seconds") is not None else other.get(r["id"], r)
        s = (src.get("pretrain_wall_seconds") or 0.0) + (src.get("eval_wall_seconds") or 0.0)
        per_run[r["id"]] = round(s, 1)
        total += s
    return {"total_seconds": round(total, 1), "runs": per_run}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("dir")
    p.add_argument("--also", action="append", default=[], help="a comparison folder whose runs were copied in")
    a = p.parse_args(argv)
    print(json.dumps(run_seconds(a.dir, a.also), indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
