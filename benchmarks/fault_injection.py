"""Fault injection: SIGKILL pretraining runs at chosen moments, resume them, and compare each resumed run's
final weights and step count with an uninterrupted run of the same settings.

A trial starts a ``selfsup pretrain ...`` subprocess, SIGKILLs it at a moment of one of these kinds, runs
``selfsup pretrain --resume RUN_DIR`` (a chained trial kills that resume too), then resumes until the run
finishes:

* ``after-epoch-ckpt``: the moment the checkpoint of an epoch's end (``step-{k * steps_per_epoch}.ckpt``)
  appears, i.e. right after it was written (issue 16: the resume used to end at step 21 of 30);
* ``after-ckpt``: the moment a mid-epoch checkpoint (``ckpt_every_steps``) appears;
* ``mid-step``: after a given step, a random fraction of a step later (inside a step);
* ``ckpt-write``: after a given step, the moment a temporary checkpoint file appears (the kill lands
  while the checkpoint is being written and leaves a partial file);
* ``final-write``: the moment the final weights' temporary file appears;
* ``startup``: a random time after launch (imports, data loading, first steps).

Scenarios (each with its own uninterrupted reference run):

* ``epochs``: the run of issue 16, ``simclr --data digits --epochs 3 --batch-size 128 --seed 7`` (10 steps
  an epoch, 30 in all), checkpoints every 4 steps and at each epoch end;
* ``max-minutes``: the same with ``--max-minutes 10`` (a budget that does not bind: the lr schedule then
  follows ``max(step, clock)`` and the step term leads, so the run is deterministic);
* ``text``: ``mlm --data polarity --epochs 3 --batch-size 32`` (6 steps an epoch, 18 in all). Every run of
  this scenario starts from the reference run's tokenizer: training a WordPiece vocabulary is not
  deterministic across processes (the Hugging Face trainer breaks ties in hash order), so two fresh runs
  could not be compared; a resume always uses the run's own ``tokenizer.json``;
* ``series``: ``cpc --data ucr:GunPoint --epochs 5 --batch-size 8 --seed 5`` (50 training series: 6 steps an
  epoch, 30 in all; the series runner trains through the Lightning engine), checkpoints every 4 steps, so the
  epoch ends 6 and 18 fall between them;
* ``video``: ``time-contrastive --data moving-fashion-mnist --epochs 6 --batch-size 8 --seed 5`` on 40 generated
  clips of 10 frames (``--set train_clips=40 test_clips=8 frames=10 encoder_width=4``: 5 steps an epoch, 30 in
  all); a resume generates the clips again from ``video_data`` in run.json;
* ``budget`` (``--max-minutes 0.3`` without ``--epochs``: the clock is the stopping rule and anneals the
  lr): its runs are not comparable with each other (how many steps fit in the budget depends on the
  machine's speed). The ``final-write`` trial is compared with the newest checkpoint at the kill (the
  resume must train nothing more and write that checkpoint's weights); the ``mid-step`` trial is reported
  for information only (the resume trains the budget left at its last checkpoint).

* ``graph``: ``dgi --data cora --epochs 40 --set hidden_dim=64 min_epochs=10`` (full batch: one step an
  epoch, 40 in all, through the Lightning engine; early stopping armed from epoch 10, its state and the best
  weights in every checkpoint), checkpoints every 8 steps (graph runs write no epoch-end checkpoints: an epoch
  is one step). Needs Cora (``SELFSUP_DATA_DIR`` with ``planetoid/Cora/raw``). Its kills are given as steps
  (an epoch is one step, so "inside an epoch" does not exist). DeepWalk (walks + word2vec) is fitted in one
  go by design and has no scenario.

The comparison: ``model.safetensors`` (every tensor of the method) with ``torch.equal`` per tensor, and
``steps`` in ``run.json``.

Usage::

    python benchmarks/fault_injection.py --jobs 2 --control    # full: 56 kills in 51 trials (graph: 9 in 8)
    python benchmarks/fault_injection.py --scenarios series,video --control \
        --json benchmarks/fault_injection_modalities.json      # the series and video runs (20 kills, 18 trials)
    python benchmarks/fault_injection.py --short               # CI: 2 kills of a 16-step Fashion-MNIST run

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

# the CI form (tests/test_reliability.py): 512 Fashion-MNIST images, batch 64, 2 epochs = 16 steps
SHORT = {"method": "simclr", "data": "fashion-mnist", "train_samples": 512, "batch_size": 64, "epochs": 2,
         "ckpt_every_steps": 4, "encoder_width": 16}
SHORT_TRIALS = [("short", [("mid-step", None)]), ("short", [("ckpt-write", None)])]

SCENARIOS: dict[str, dict[str, Any]] = {
    "epochs": {"method": "simclr", "data": "digits", "epochs": 3, "batch_size": 128, "seed": 7, "ckpt_every_steps": 4},
    "max-minutes": {"method": "simclr", "data": "digits", "epochs": 3, "batch_size": 128, "seed": 7,
                    "ckpt_every_steps": 4, "max_minutes": 10},
    "text": {"method": "mlm", "data": "polarity", "epochs": 3, "batch_size": 8, "seed": 3, "ckpt_every_steps": 4,
             "sets": ["vocab_size=500", "dim=16", "depth=1", "heads=2"], "fixed_tokenizer": True},
    "series": {"method": "cpc", "data": "ucr:GunPoint", "epochs": 5, "batch_size": 8, "seed": 5, "ckpt_every_steps": 4},
    "video": {"method": "time-contrastive", "data": "moving-fashion-mnist", "epochs": 6, "batch_size": 8, "seed": 5,
              "ckpt_every_steps": 4, "encoder_width": 4, "sets": ["train_clips=40", "test_clips=8", "frames=10"]},
    "graph": {"method": "dgi", "data": "cora", "epochs": 40, "seed": 2, "ckpt_every_steps": 8,
              "sets": ["hidden_dim=64", "min_epochs=10"]},
    "budget": {"method": "simclr", "data": "digits", "batch_size": 128, "seed": 7, "ckpt_every_steps": 10,
               "max_minutes": 0.3},
}
# (scenario, kills): one kill per run segment. A kill's ``at``: an epoch (after-epoch-ckpt; for ckpt-write
# ("end", k) is the write of epoch k's end checkpoint), ("in", k) the first ckpt_every_steps checkpoint inside
# epoch k, a step, a (first, last) step range to draw from, "first"/"last" (a step drawn inside the first /
# last epoch), or None (any step)
FULL_TRIALS: list[tuple[str, list[tuple[str, Any]]]] = [
    ("epochs", [("after-epoch-ckpt", 1)]),
    ("epochs", [("after-epoch-ckpt", 2)]),
    ("epochs", [("after-epoch-ckpt", 3)]),  # the last epoch's end: the final checkpoint
    ("epochs", [("after-ckpt", ("in", 1))]),
    ("epochs", [("after-ckpt", ("in", 3))]),
    ("epochs", [("mid-step", "first")]),
    ("epochs", [("mid-step", "last")]),
    ("epochs", [("ckpt-write", ("end", 2))]),  # the epoch-end checkpoint of epoch 2 being written
    ("epochs", [("ckpt-write", ("in", 2))]),
    ("epochs", [("final-write", None)]),
    ("epochs", [("startup", None)]),
    ("epochs", [("after-ckpt", ("in", 2)), ("after-epoch-ckpt", 2)]),  # killed again while resuming
    ("epochs", [("mid-step", "first"), ("after-ckpt", ("in", 3))]),
    ("max-minutes", [("after-epoch-ckpt", 1)]),
    ("max-minutes", [("after-epoch-ckpt", 2)]),
    ("max-minutes", [("after-ckpt", ("in", 2))]),
    ("max-minutes", [("mid-step", "last")]),
    ("max-minutes", [("ckpt-write", ("end", 1))]),
    ("text", [("after-epoch-ckpt", 1)]),
    ("text", [("after-epoch-ckpt", 2)]),
    ("text", [("after-ckpt", ("in", 2))]),
    ("text", [("mid-step", "last")]),
    ("text", [("ckpt-write", ("in", 3))]),
    ("series", [("after-epoch-ckpt", 1)]),  # step 6: an epoch end between two ckpt_every_steps checkpoints
    ("series", [("after-epoch-ckpt", 3)]),
    ("series", [("after-ckpt", ("in", 2))]),
    ("series", [("mid-step", "first")]),
    ("series", [("mid-step", "last")]),
    ("series", [("ckpt-write", ("end", 1))]),
    ("series", [("ckpt-write", ("in", 3))]),
    ("series", [("final-write", None)]),
    ("series", [("after-ckpt", ("in", 2)), ("after-epoch-ckpt", 3)]),
    ("video", [("after-epoch-ckpt", 1)]),
    ("video", [("after-epoch-ckpt", 3)]),
    ("video", [("after-ckpt", ("in", 2))]),
    ("video", [("mid-step", "first")]),
    ("video", [("mid-step", "last")]),
    ("video", [("ckpt-write", ("end", 1))]),
    ("video", [("ckpt-write", ("in", 4))]),
    ("video", [("final-write", None)]),
    ("video", [("after-ckpt", ("in", 2)), ("after-epoch-ckpt", 3)]),
    ("graph", [("after-ckpt", 16)]),
    ("graph", [("after-ckpt", 32)]),
    ("graph", [("mid-step", (2, 7))]),
    ("graph", [("mid-step", (25, 38))]),
    ("graph", [("ckpt-write", 24)]),
    ("graph", [("final-write", None)]),
    ("graph", [("startup", None)]),
    ("graph", [("after-ckpt", 8), ("mid-step", (20, 30))]),
    ("budget", [("final-write", None)]),
    ("budget", [("mid-step", (5, 15))]),
]

_FIXED_TOKENIZER = ("import sys; from selfsup.data.tokenize import TextTokenizer as T; fixed = T.load(sys.argv[1]); "
                    "T.train = classmethod(lambda cls, *a, **k: fixed); from selfsup.cli.main import main; "
                    "sys.exit(main(sys.argv[2:]))")


def pretrain_args(run_dir: Path, size: dict[str, Any], seed: int | None = None) -> list[str]:
    """``selfsup`` arguments of a run of ``size`` (a scenario) into ``run_dir``; ``seed`` overrides the scenario's."""
    seed = size.get("seed", 0) if seed is None else seed
    args = ["pretrain", size["method"], "--data", size["data"], "--out", str(run_dir), "--seed", str(seed),
            "--no-progress"]
    if "batch_size" in size:  # full-batch graphs have none
        args += ["--batch-size", str(size["batch_size"])]
    if "epochs" in size:
        args += ["--epochs", str(size["epochs"])]
    if size.get("max_minutes"):
        args += ["--max-minutes", str(size["max_minutes"])]
    sets = [f"ckpt_every_steps={size['ckpt_every_steps']}", "ckpt_every_minutes=0", "keep_checkpoints=2",
            "threads=1", "log_every_steps=1"]
    sets += [f"{k}={size[k]}" for k in ("train_samples", "encoder_width") if k in size]
    sets += list(size.get("sets", []))
    for s in sets:
        args += ["--set", s]
    return args


def pretrain_cmd(run_dir: Path, size: dict[str, Any], seed: int | None, python: str,
                 tokenizer: Path | None = None) -> list[str]:
    """The command of a run (with ``tokenizer``: one that uses that tokenizer instead of training one)."""
    args = pretrain_args(run_dir, size, seed)
    if tokenizer is not None:
        return [python, "-c", _FIXED_TOKENIZER, str(tokenizer), *args]
    return [python, "-m", "selfsup.cli.main", *args]


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


def checkpoints(run_dir: Path) -> list[str]:
    d = run_dir / "checkpoints"
    return sorted(p.name for p in d.glob("step-*.ckpt")) if d.is_dir() else []


def draw_step(at: Any, rng: random.Random, steps_per_epoch: int, total_steps: int, every: int = 0) -> int:
    """The step a kill waits for: given, an epoch's end or first checkpoint inside it, drawn from a range, or
    drawn inside the first / last epoch."""
    if isinstance(at, (tuple, list)) and at[0] == "end":
        return int(at[1]) * steps_per_epoch
    if isinstance(at, (tuple, list)) and at[0] == "in":
        lo, hi = (int(at[1]) - 1) * steps_per_epoch, int(at[1]) * steps_per_epoch
        inside = [s for s in range(lo + 1, hi) if every and s % every == 0]
        if not inside:
            raise ValueError(f"no checkpoint every {every} steps falls inside epoch {at[1]} ({lo + 1}..{hi - 1})")
        return inside[0]
    if at == "first":
        return rng.randint(1, max(1, steps_per_epoch - 2))
    if at == "last":
        return rng.randint(total_steps - steps_per_epoch + 1, max(total_steps - steps_per_epoch + 1, total_steps - 2))
    if isinstance(at, (tuple, list)):
        return rng.randint(int(at[0]), int(at[1]))
    if at is None:
        return rng.randint(1, max(1, total_steps - 2))
    return int(at)


def kill_at(proc: subprocess.Popen, run_dir: Path, mode: str, rng: random.Random, total_steps: int,
            at: Any = None, steps_per_epoch: int = 0, every: int = 0) -> dict[str, Any]:
    """Wait for a moment of kind ``mode`` and SIGKILL ``proc``; describe where it landed."""
    t0 = time.monotonic()
    info: dict[str, Any] = {"mode": mode}
    steps_per_epoch = steps_per_epoch or total_steps

    def alive() -> bool:
        return proc.poll() is None

    if mode == "startup":
        delay = rng.uniform(0.5, 6.0)
        info["delay_s"] = round(delay, 2)
        while alive() and time.monotonic() - t0 < delay:
            time.sleep(0.01)
    elif mode in ("after-epoch-ckpt", "after-ckpt"):
        step = int(at) * steps_per_epoch if mode == "after-epoch-ckpt" else draw_step(at, rng, steps_per_epoch,
                                                                                       total_steps, every)
        info["after_step"] = step
        target = run_dir / "checkpoints" / f"step-{step:08d}.ckpt"
        while alive() and not target.exists():  # renamed into place when complete: exists = just written
            time.sleep(0.0005)
    elif mode == "final-write":  # the weights' temporary files (not run.json's, written at the start too)
        while alive() and not any(n.startswith((".encoder.safetensors.", ".model.safetensors."))
                                  for n in tmp_files(run_dir)):
            time.sleep(0.0005)
    else:  # mid-step, ckpt-write
        target = draw_step(at, rng, steps_per_epoch, total_steps, every)
        info["after_step"] = target
        wait_for = target - 1 if mode == "ckpt-write" else target  # the write of step N comes before its log row
        rows = step_rows(run_dir)
        while alive() and (not rows or rows[-1][0] < wait_for):
            time.sleep(0.002)
            rows = step_rows(run_dir)
        if mode == "mid-step":
            dt = [b[1] - a[1] for a, b in zip(rows[-4:], rows[-3:])] or [0.2]
            time.sleep(rng.uniform(0.0, max(dt)))
        elif mode == "ckpt-write":
            while alive() and not tmp_files(run_dir / "checkpoints"):
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
    ckpts = checkpoints(run_dir)
    info["newest_checkpoint"] = ckpts[-1] if ckpts else None
    info["tmp_files_left"] = tmp_files(run_dir) + tmp_files(run_dir / "checkpoints")
    if info["last_logged_step"] is not None:
        info["epoch"] = min(info["last_logged_step"], max(0, total_steps - 1)) // steps_per_epoch + 1
    return info


def weights_diff(a: Path, b: Path) -> tuple[bool, float]:
    wa, wb = load_file(str(a)), load_file(str(b))
    return _diff(wa, wb)


def _diff(wa: dict[str, torch.Tensor], wb: dict[str, torch.Tensor]) -> tuple[bool, float]:
    if wa.keys() != wb.keys():
        return False, float("inf")
    same = all(torch.equal(wa[k], wb[k]) for k in wa)
    diff = max((float((wa[k].double() - wb[k].double()).abs().max()) if wa[k].numel() else 0.0 for k in wa),
               default=0.0)
    return same, diff


def checkpoint_weights(path: Path) -> tuple[dict[str, torch.Tensor], int]:
    """The method's tensors in a training checkpoint (as ``model.safetensors`` names them) and its step."""
    ckpt = torch.load(path, map_location="cpu", weights_only=True)
    state = {k[len("method."):]: v for k, v in ckpt["state_dict"].items() if k.startswith("method.")}
    return state, int(ckpt["global_step"])


def trial(i: int, scenario: str, kills: list[tuple[str, Any]], work: Path, size: dict[str, Any], seed: int | None,
          python: str, kill_seed: int, ref: dict[str, Any]) -> dict[str, Any]:
    rng = random.Random(kill_seed * 1000 + i)
    run_dir = work / f"trial-{i:02d}"
    log = work / f"trial-{i:02d}.log"
    cmd = pretrain_cmd(run_dir, size, seed, python, ref.get("tokenizer"))
    total, per_epoch = ref["steps"], ref["steps_per_epoch"]
    t0 = time.monotonic()
    segments = []
    proc = launch(cmd, log)
    for n, (mode, at) in enumerate(kills):
        if n > 0:  # a chained kill: of the resume
            proc = launch(resume_cmd(run_dir, python) if (run_dir / "run.json").is_file() else cmd, log)
        segments.append(kill_at(proc, run_dir, mode, rng, total, at, per_epoch, size["ckpt_every_steps"]))
    compare = size.get("compare", "reference")
    if compare == "checkpoint" and kills[-1][0] != "final-write":
        compare = "none"  # a budget run killed mid-way trains the budget left: reported, not compared
    kept = None
    if compare == "checkpoint" and segments[-1]["newest_checkpoint"]:
        kept = work / f"trial-{i:02d}-newest.ckpt"  # the state the resume must end in (it trains nothing more)
        shutil.copy(run_dir / "checkpoints" / segments[-1]["newest_checkpoint"], kept)
    resumes, rc = 0, 0
    while resumes < 5:
        resumes += 1
        rc = run_to_end(resume_cmd(run_dir, python) if (run_dir / "run.json").is_file() else cmd, log)
        if rc == 0:
            break
    info: dict[str, Any] = {"trial": i, "scenario": scenario, **segments[0], "kills": segments,
                            "resumes": resumes, "rc": rc, "seconds": round(time.monotonic() - t0, 1)}
    final = run_dir / "model.safetensors"
    meta = json.loads((run_dir / "run.json").read_text()) if (run_dir / "run.json").is_file() else {}
    info["status"], info["steps"] = meta.get("status"), meta.get("steps")
    info["compare"] = compare
    if rc != 0 or not final.is_file():
        info.update(identical=False, max_abs_diff=None, steps_equal=False, log_tail=log.read_text()[-2000:])
    elif compare == "checkpoint" and kept is not None:
        state, step = checkpoint_weights(kept)
        info["ref_steps"] = step
        info["identical"], info["max_abs_diff"] = _diff(state, load_file(str(final)))
        info["steps_equal"] = info["steps"] == step
    else:
        info["ref_steps"] = total
        info["identical"], info["max_abs_diff"] = weights_diff(ref["dir"] / "model.safetensors", final)
        info["steps_equal"] = info["steps"] == total
    info["counted"] = compare != "none"
    return info


def git_commit() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True,
                             check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "src"], cwd=REPO,
                               capture_output=True, text=True, check=True).stdout.strip()
        return out + (" (+ uncommitted changes in src/)" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def _describe(k: dict[str, Any]) -> str:
    mode = k["mode"] + ("" if k["killed"] else " (finished first)")
    if k.get("after_step") is not None:
        mode += f" @{k['after_step']}"
    return mode


def markdown(result: dict[str, Any]) -> str:
    lines = [
        ("| # | scenario | kill moment(s) | epoch at kill | newest checkpoint at kill | temp files left | resumes "
         "| steps (uninterrupted) | same steps | identical | max abs diff |"),
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for t in result["trials"]:
        ks = t.get("kills", [t])
        kill = " then ".join(_describe(k) for k in ks)
        epoch = " / ".join(str(k.get("epoch", "-")) for k in ks)
        newest = " / ".join(k["newest_checkpoint"] or "-" for k in ks)
        left = " / ".join(", ".join(k["tmp_files_left"]) or "-" for k in ks)
        ident = "yes" if t["identical"] else "NO"
        same = "yes" if t.get("steps_equal") else "NO"
        if not t.get("counted", True):
            ident, same = f"({ident.lower()}, not expected)", f"({same.lower()}, not expected)"
        lines.append(f"| {t['trial']} | {t.get('scenario', '-')} | {kill} | {epoch} | {newest} | {left} | {t['resumes']} "
                     f"| {t['steps']} ({t.get('ref_steps', '-')}) | {same} | {ident} | {t['max_abs_diff']} |")
    counted = [t for t in result["trials"] if t.get("counted", True)]
    ok = sum(bool(t["identical"] and t.get("steps_equal")) for t in counted)
    n_kills = sum(len(t.get("kills", [t])) for t in result["trials"])
    lines.append("")
    lines.append(f"{ok}/{len(counted)} resumed runs end at the uninterrupted run's step with bit-identical weights "
                 f"({n_kills} kills in {len(result['trials'])} trials).")
    for name, ref in result["references"].items():
        ctl = ref.get("control")
        lines.append(f"- {name}: {ref['steps']} steps ({ref['steps_per_epoch']} an epoch), {ref['seconds']} s"
                     + ("" if ctl is None else f"; control run identical: {'yes' if ctl else 'NO'}"))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--short", action="store_true", help="CI form: 2 kills of a 16-step Fashion-MNIST run, 3 jobs")
    p.add_argument("--kills", type=int, help="number of trials (default all: 51 full, 2 --short)")
    p.add_argument("--scenarios", help="comma list of scenarios to run (default all)")
    p.add_argument("--jobs", type=int, help="runs at a time (default 1; --short: 3)")
    p.add_argument("--seed", type=int, help="training seed (default: each scenario's)")
    p.add_argument("--kill-seed", type=int, default=0, help="seed of the kill moments")
    p.add_argument("--reference", help="--short only: an existing uninterrupted run of the same settings")
    p.add_argument("--control", action="store_true", help="also repeat each uninterrupted run (determinism check)")
    p.add_argument("--work", help="working directory (default: a temporary one, deleted afterwards)")
    p.add_argument("--json", default=str(REPO / "benchmarks" / "fault_injection.json"), help="result file ('' = none)")
    p.add_argument("--python", default=sys.executable, help="interpreter that runs selfsup")
    args = p.parse_args(argv)
    if args.short:
        sizes, plan = {"short": dict(SHORT, seed=0)}, SHORT_TRIALS
    else:
        sizes, plan = SCENARIOS, FULL_TRIALS
        if args.scenarios:
            chosen = args.scenarios.split(",")
            unknown = [s for s in chosen if s not in SCENARIOS]
            if unknown:
                p.error(f"unknown scenario(s) {unknown}; choose from {', '.join(SCENARIOS)}")
            plan = [t for t in plan if t[0] in chosen]
    plan = plan[: args.kills] if args.kills is not None else plan
    jobs = args.jobs or (3 if args.short else 1)
    work = Path(args.work) if args.work else Path(tempfile.mkdtemp(prefix="selfsup-fault-"))
    work.mkdir(parents=True, exist_ok=True)
    t_start = time.monotonic()
    used = sorted({s for s, _ in plan})
    sizes = {s: dict(sizes[s], compare="checkpoint" if s == "budget" else "reference") for s in used}
    try:
        def reference(name: str, size: dict[str, Any], control: bool = False) -> dict[str, Any]:
            t0 = time.monotonic()
            run = work / f"{name}-{'control' if control else 'reference'}"
            if args.reference and not control:
                run = Path(args.reference)
            else:
                tok = (work / f"{name}-reference" / "tokenizer.json") if control and size.get("fixed_tokenizer") else None
                rc = run_to_end(pretrain_cmd(run, size, args.seed, args.python, tok), run.parent / f"{run.name}.log")
                if rc != 0:
                    raise SystemExit(f"uninterrupted run failed (rc {rc}):\n" + (run.parent / f"{run.name}.log").read_text()[-3000:])
            meta = json.loads((run / "run.json").read_text())
            out = {"dir": run, "steps": meta["steps"], "seconds": round(time.monotonic() - t0, 1),
                   "steps_per_epoch": max(1, round(meta["steps"] / max(float(meta["epochs"]), 1e-9)))}
            if size.get("fixed_tokenizer"):
                out["tokenizer"] = run / "tokenizer.json"
            return out

        with ThreadPoolExecutor(max_workers=jobs) as pool:
            refs = {s: pool.submit(reference, s, sizes[s]) for s in used}
            refs = {s: f.result() for s, f in refs.items()}
            controls = {s: pool.submit(reference, s, sizes[s], True) for s in used
                        if args.control and sizes[s]["compare"] == "reference"}
            futures = [pool.submit(trial, i, s, kills, work, sizes[s], args.seed, args.python, args.kill_seed, refs[s])
                       for i, (s, kills) in enumerate(plan)]
            trials = [f.result() for f in futures]
            for s, f in controls.items():
                refs[s]["control"] = weights_diff(refs[s]["dir"] / "model.safetensors",
                                                  f.result()["dir"] / "model.safetensors")[0]
        cmd = "python benchmarks/fault_injection.py " + " ".join(argv if argv is not None else sys.argv[1:])
        result = {
            "command": cmd.strip(),
            "runs": {s: "selfsup " + " ".join(pretrain_args(Path("RUN_DIR"), sizes[s], args.seed)) for s in used},
            "sizes": sizes,
            "machine": f"{platform.machine()}, {os.cpu_count()} cores",
            "torch": torch.__version__,
            "lightning": _version("lightning"),
            "python": platform.python_version(),
            "commit": git_commit(),
            "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "wall_seconds": round(time.monotonic() - t_start, 1),
            "references": {s: {k: (str(v) if isinstance(v, Path) else v) for k, v in r.items()} for s, r in refs.items()},
            "trials": trials,
            "all_identical": all(t["identical"] and t.get("steps_equal") for t in trials if t.get("counted", True)),
        }
        # the CI test reads the first reference under its old name
        result["reference"] = result["references"][used[0]]
        result["control"] = refs[used[0]].get("control")
        if args.json:
            Path(args.json).write_text(json.dumps(result, indent=2, default=str))
        print(markdown(result))
        return result
    finally:
        if not args.work:
            shutil.rmtree(work, ignore_errors=True)


def _version(pkg: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(pkg)
    except PackageNotFoundError:
        return "unknown"


if __name__ == "__main__":
    res = main()
    sys.exit(0 if res["all_identical"] else 1)
