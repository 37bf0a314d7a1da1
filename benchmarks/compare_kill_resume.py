"""`selfsup compare` killed (SIGKILL) at random moments and resumed ends with the leaderboard of an uninterrupted one.

Runs the same comparison twice: once straight through, once killed with SIGKILL at ``--kills`` random moments
(uniform over the uninterrupted run's wall time) and continued each time with ``selfsup compare --resume``.
CPU, deterministic settings (one thread). Compares the rows' metric (mean, std, per seed), per-protocol means
and the baselines; prints one JSON line and writes it to ``--out``/summary.json.

    .venv/bin/python benchmarks/compare_kill_resume.py --data digits --methods simclr,byol,vicreg \\
        --epochs-per-method 3 --seeds 0,1 --kills 2 --out bench_runs/compare_kill
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default="digits")
    ap.add_argument("--methods", default="simclr,byol,vicreg")
    ap.add_argument("--epochs-per-method", default="3")
    ap.add_argument("--seeds", default="0,1")
    ap.add_argument("--encoder", default="mlp")
    ap.add_argument("--kills", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0, help="seed of the kill moments")
    ap.add_argument("--out", default="bench_runs/compare_kill")
    a = ap.parse_args()
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "SELFSUP_THREADS": "1"}
    exe = [sys.executable, "-m", "selfsup.cli.main", "compare"]
    args = ["--data", a.data, "--methods", a.methods, "--epochs-per-method", a.epochs_per_method, "--seeds", a.seeds,
            "--encoder", a.encoder, "--set", "threads=1", "--set", "ckpt_every_steps=2", "--no-progress"]
    t0 = time.monotonic()
    subprocess.run([*exe, "--out", str(out / "straight"), *args], env=env, check=True, capture_output=True)
    straight_s = time.monotonic() - t0
    rng = random.Random(a.seed)
    killed = out / "killed"

    def command() -> list[str]:  # a fresh start until the plan exists, then --resume
        if (killed / "compare.json").is_file():
            return [*exe, "--resume", str(killed), "--no-progress"]
        return [*exe, "--out", str(killed), *args]

    kills_done = []
    for _ in range(a.kills):
        after = rng.uniform(0.2, 0.8) * straight_s / a.kills  # each segment runs part of the way, then SIGKILL
        p = subprocess.Popen(command(), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(after)
        if p.poll() is None:
            os.kill(p.pid, signal.SIGKILL)
            kills_done.append(round(after, 1))
        p.wait()
    subprocess.run(command(), env=env, check=True, capture_output=True)

    def key(path: Path) -> dict:
        b = json.loads((path / "leaderboard.json").read_text())
        return {"rows": [(r["method"], r["metric"], r["protocols"]) for r in b["rows"]], "baselines": b["baselines"]}

    same = key(out / "straight") == key(killed)
    summary = {"same_leaderboard": same, "kills_after_s": kills_done, "straight_wall_s": round(straight_s, 1),
               "data": a.data, "methods": a.methods, "epochs_per_method": a.epochs_per_method, "seeds": a.seeds}
    (out / "summary.json").write_text(json.dumps(summary, indent=1))
    print(json.dumps(summary))
    return 0 if same else 1


if __name__ == "__main__":
    raise SystemExit(main())
