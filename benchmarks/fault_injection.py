"""Fault injection: SIGKILL a Fashion-MNIST SimCLR pretrain at random moments, resume it,
and compare its final weights with an uninterrupted run of the same seed.

Each trial starts ``selfsup pretrain simclr --data fashion-mnist ...`` as a subprocess,
kills it with SIGKILL at a moment of one of these kinds, then runs
``selfsup pretrain --resume RUN_DIR`` until the run finishes:

* ``mid-step``: after a random step, a random fraction of a step later (inside a step);
* ``checkpoint-write``: after a random step, the moment a temporary checkpoint file appears
  (the kill lands while the checkpoint is being written);
* ``final-write``: the moment the final weights' temporary file appears;
* ``startup``: a random time after launch (imports, data loading, first steps).

The final ``model.safetensors`` (every tensor of the method: encoder, head) is compared
with the uninterrupted run's: identical means ``torch.equal`` for every tensor.

Usage::

    python benchmarks/fault_injection.py                 # full: 10 kills (BENCHMARKS.md)
    python benchmarks/fault_injection.py --short         # CI: 2 kills, tiny run, 3 jobs

Writes ``--json`` (default benchmarks/fault_injection.json) and prints a markdown table.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file

REPO = Path(__file__).resolve().parents[1]

# run sizes: train_samples / batch_size steps per epoch
FULL = {"train_samples": 2048, "batch_size": 64, "epochs": 3, "ckpt_every_steps": 10, "encoder_width": 32}  # 96 steps
SHORT = {"train_samples": 512, "batch_size": 64, "epochs": 2, "ckpt_every_steps": 4, "encoder_width": 16}  # 16 steps
FULL_MODES = ["mid-step", "checkpoint-write", "mid-step", "startup", "mid-step",
              "checkpoint-write", "mid-step", "final-write", "mid-step", "checkpoint-write"]
SHORT_MODES = ["mid-step", "checkpoint-write"]


def pretrain_cmd(run_dir: Path, size: dict[str, int], seed: int, python: str) -> list[str]:
    return [
        python, "-m", "selfsup.cli.main", "pretrain", "simclr", "--data", "fashion-mnist", "--out", str(run_dir),
        "--epochs", str(size["epochs"]), "--batch-size", str(size["batch_size"]), "--seed", str(seed),
        "--set", f"train_samples={size['train_samples']}", "--set", f"ckpt_every_steps={size['ckpt_every_steps']}",
        "--set", "ckpt_every_minutes=0", "--set", "keep_checkpoints=2", "--set", "threads=1",
        "--set", "log_every_steps=1", "--set", f"encoder_width={size['encoder_width']}", "--no-progress",
    ]


def resume_cmd(run_dir: Path, python: str) -> list[str]:
    return [python, "-m", "selfsup.cli.main", "pretrain", "--resume", str(run_dir), "--no-progress"]


def launch(cmd: list[str], log: Path) -> subprocess.Popen:
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    with open(log, "ab") as f:
        f.write(("$ " + " ".join(cmd) + "\n").encode())
        return subprocess.Popen(cmd, stdout=f, stderr=subprocess.STDOUT, env=env, cwd=REPO)


def run_to_end(cmd: list[str], log: Path) -> int:
    return launch(cmd, log).wait()


def step_rows(run_dir: Path) -> list[tuple[int, float]]:
    """(step, elapsed_s) rows of metrics.csv so far (the last, possibly partial, line dropped)."""
    try:
        text = (run_dir / "metrics.csv").read_text()
    except OSError:
        return []
    lines = text.splitlines()[1:]
    if text and not text.endswith("\n"):
        lines = lines[:-1]
    rows = []
    for r in csv.reader(lines):
        try:
            rows.append((int(r[0]), float(r[4])))
        except (ValueError, IndexError):
            continue
    return rows


def tmp_files(d: Path) -> list[str]:
    try:
        return sorted(p.name for p in d.iterdir() if p.name.startswith(".") and p.name.endswith(".tmp"))
    except OSError:
        return []


def kill_at(proc: subprocess.Popen, run_dir: Path, mode: str, rng: random.Random, total_steps: int) -> dict[str, Any]:
    """Wait for a moment of kind ``mode`` and SIGKILL ``proc``; describe where it landed."""
    t0 = time.monotonic()
    target = rng.randint(1, max(1, total_steps - 2))
    info: dict[str, Any] = {"mode": mode}

    def alive() -> bool:
        return proc.poll() is None

    if mode == "startup":
        delay = rng.uniform(0.5, 6.0)
        info["delay_s"] = round(delay, 2)
        while alive() and time.monotonic() - t0 < delay:
            time.sleep(0.01)
    else:
        info["after_step"] = target
        rows = step_rows(run_dir)
        while alive() and (not rows or rows[-1][0] < target):
            time.sleep(0.005)
            rows = step_rows(run_dir)
        if mode == "mid-step":
            dt = [b[1] - a[1] for a, b in zip(rows[-4:], rows[-3:])] or [0.2]
            time.sleep(rng.uniform(0.0, max(dt)))
        elif mode in ("checkpoint-write", "final-write"):
            watch = run_dir / "checkpoints" if mode == "checkpoint-write" else run_dir
            while alive() and not tmp_files(watch):
                time.sleep(0.0005)
    if alive():
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        info["killed"] = True
    else:
        info["killed"] = False  # it finished (or failed) before the moment came
        info["rc_before_kill"] = proc.returncode
    info["killed_at_s"] = round(time.monotonic() - t0, 2)
    rows = step_rows(run_dir)
    info["last_logged_step"] = rows[-1][0] if rows else None
    ckpts = sorted(p.name for p in (run_dir / "checkpoints").glob("step-*.ckpt")) if (run_dir / "checkpoints").is_dir() else []
    info["newest_checkpoint"] = ckpts[-1] if ckpts else None
    info["tmp_files_left"] = tmp_files(run_dir) + tmp_files(run_dir / "checkpoints")
    return info


def weights_diff(a: Path, b: Path) -> tuple[bool, float]:
    wa, wb = load_file(str(a)), load_file(str(b))
    if wa.keys() != wb.keys():
        return False, float("inf")
    same = all(torch.equal(wa[k], wb[k]) for k in wa)
    diff = max(float((wa[k].double() - wb[k].double()).abs().max()) if wa[k].numel() else 0.0 for k in wa)
    return same, diff


def trial(i: int, mode: str, work: Path, size: dict[str, int], seed: int, python: str, kill_seed: int,
          total_steps: int, reference: Path) -> dict[str, Any]:
    rng = random.Random(kill_seed * 1000 + i)
    run_dir = work / f"trial-{i:02d}"
    log = work / f"trial-{i:02d}.log"
    cmd = pretrain_cmd(run_dir, size, seed, python)
    t0 = time.monotonic()
    info = kill_at(launch(cmd, log), run_dir, mode, rng, total_steps)
    resumes = 0
    rc = 0
    while resumes < 5:
        resumes += 1
        if (run_dir / "run.json").is_file():
            rc = run_to_end(resume_cmd(run_dir, python), log)
        else:  # killed before the run wrote anything: start it again
            rc = run_to_end(cmd, log)
        if rc == 0:
            break
    info.update(trial=i, resumes=resumes, rc=rc, seconds=round(time.monotonic() - t0, 1))
    final = run_dir / "model.safetensors"
    meta = json.loads((run_dir / "run.json").read_text()) if (run_dir / "run.json").is_file() else {}
    info["status"] = meta.get("status")
    info["steps"] = meta.get("steps")
    if rc == 0 and final.is_file():
        info["identical"], info["max_abs_diff"] = weights_diff(reference / "model.safetensors", final)
    else:
        info["identical"], info["max_abs_diff"] = False, None
        info["log_tail"] = log.read_text()[-2000:]
    return info


def git_commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True,
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def markdown(result: dict[str, Any]) -> str:
    lines = [
        "| # | kill moment | after step | killed at (s) | newest checkpoint at kill | temp files left | resumes | steps | identical | max abs diff |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for t in result["trials"]:
        lines.append(
            f"| {t['trial']} | {t['mode']}{'' if t['killed'] else ' (finished first)'} | {t.get('after_step', '-')} "
            f"| {t['killed_at_s']} | {t['newest_checkpoint'] or '-'} | {', '.join(t['tmp_files_left']) or '-'} "
            f"| {t['resumes']} | {t['steps']} | {'yes' if t['identical'] else 'NO'} | {t['max_abs_diff']} |"
        )
    n = len(result["trials"])
    ok = sum(t["identical"] for t in result["trials"])
    lines.append("")
    lines.append(f"{ok}/{n} resumed runs identical to the uninterrupted run "
                 f"({result['reference']['steps']} steps, {result['reference']['seconds']} s).")
    if result.get("control") is not None:
        lines.append(f"Control: a second uninterrupted run identical to the first: {'yes' if result['control'] else 'NO'}.")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--short", action="store_true", help="CI form: 2 kills of a 16-step run, 3 parallel jobs")
    p.add_argument("--kills", type=int, help="number of killed-and-resumed runs (default 10; --short: 2)")
    p.add_argument("--jobs", type=int, help="runs at a time (default 1; --short: 3)")
    p.add_argument("--seed", type=int, default=0, help="training seed")
    p.add_argument("--kill-seed", type=int, default=0, help="seed of the kill moments")
    p.add_argument("--reference", help="an existing uninterrupted run of the same settings (else one is made)")
    p.add_argument("--control", action="store_true", help="also repeat the uninterrupted run (determinism check)")
    p.add_argument("--work", help="working directory (default: a temporary one, deleted afterwards)")
    p.add_argument("--json", default=str(REPO / "benchmarks" / "fault_injection.json"), help="result file ('' = none)")
    p.add_argument("--python", default=sys.executable, help="interpreter that runs selfsup")
    args = p.parse_args(argv)
    size = SHORT if args.short else FULL
    modes = SHORT_MODES if args.short else FULL_MODES
    kills = args.kills if args.kills is not None else len(modes)
    jobs = args.jobs or (3 if args.short else 1)
    work = Path(args.work) if args.work else Path(tempfile.mkdtemp(prefix="selfsup-fault-"))
    work.mkdir(parents=True, exist_ok=True)
    total_steps = size["train_samples"] // size["batch_size"] * size["epochs"]
    t_start = time.monotonic()
    try:
        ref = Path(args.reference) if args.reference else work / "reference"

        def reference(name: str) -> dict[str, Any]:
            t0 = time.monotonic()
            if name == "reference" and args.reference:
                return {"steps": json.loads((ref / "run.json").read_text())["steps"], "seconds": None}
            rc = run_to_end(pretrain_cmd(work / name, size, args.seed, args.python), work / f"{name}.log")
            if rc != 0:
                raise SystemExit(f"uninterrupted run failed (rc {rc}):\n" + (work / f"{name}.log").read_text()[-3000:])
            meta = json.loads((work / name / "run.json").read_text())
            return {"steps": meta["steps"], "seconds": round(time.monotonic() - t0, 1)}

        with ThreadPoolExecutor(max_workers=jobs) as pool:
            ref_future = pool.submit(reference, "reference")
            control_future = pool.submit(reference, "control") if args.control else None
            ref_info = ref_future.result()
            futures = [pool.submit(trial, i, modes[i % len(modes)], work, size, args.seed, args.python,
                                   args.kill_seed, total_steps, ref) for i in range(kills)]
            trials = [f.result() for f in futures]
            control = None
            if control_future is not None:
                control_future.result()
                control = weights_diff(ref / "model.safetensors", work / "control" / "model.safetensors")[0]
        result = {
            "command": "python benchmarks/fault_injection.py " + " ".join(argv if argv is not None else sys.argv[1:]),
            "run": " ".join(pretrain_cmd(Path("RUN_DIR"), size, args.seed, "python")),
            "size": size,
            "machine": f"{platform.machine()}, {os.cpu_count()} cores",
            "torch": torch.__version__,
            "python": platform.python_version(),
            "commit": git_commit(),
            "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "wall_seconds": round(time.monotonic() - t_start, 1),
            "reference": ref_info,
            "control": control,
            "trials": trials,
            "all_identical": all(t["identical"] for t in trials),
        }
        if args.json:
            Path(args.json).write_text(json.dumps(result, indent=2))
        print(markdown(result))
        return result
    finally:
        if not args.work:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    res = main()
    sys.exit(0 if res["all_identical"] else 1)
