"""Data larger than memory: the on-disk uint8 cache (selfsup.data.cache), measured.

(a) ``--part big``: generate an npz of uint8 images at least 3x the RAM the training process is allowed
    (streamed to disk, never held in memory), then pretrain SimCLR on it for one epoch with
    ``data_cache=auto`` in a child process under an address-space limit (``prlimit --as``). Records
    the child's peak resident memory (``getrusage`` ru_maxrss: anonymous *and* file-backed pages it
    touched) and checks it against the RAM cap. Why these two: ``ulimit -v`` / ``prlimit --as`` is
    the cap an unprivileged user can set, and it counts address space, not RAM (torch and Lightning
    alone reserve ~1 GB of it), so it is set above the RAM cap, yet below the data size: loading the
    data into memory (or mapping the whole file) is impossible under it. The RAM cap itself is then
    checked on the measured peak RSS. (A cgroup memory limit would enforce RAM directly; this
    machine's cgroups belong to the sandbox, so they are not touched.)
(b) ``--part speed``: Fashion-MNIST (60,000 train images) exported to an npz, then SimCLR images/s
    from the cache (``data_cache=disk``) and from memory (``data_cache=memory``), the same steps,
    alternated in one run (memory, disk, memory, disk, ...), plus the loader alone (batches drawn,
    no model) on both paths.

Everything the script writes goes into one fresh temporary folder, removed at the end (``--keep`` keeps it).

    python benchmarks/data_cache.py --part big --data-gb 3.2 --ram-cap-gb 1.0 --out benchmarks/data_cache.json
    python benchmarks/data_cache.py --part speed --out benchmarks/data_cache_speed.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
import zipfile
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
GiB = 1 << 30


def write_big_npz(path: Path, n: int, side: int, seed: int = 0, chunk: int = 4096) -> int:
    """An npz of ``n`` uint8 images (n, 3, side, side) and labels, streamed (stored, zip64): the generator
    holds one chunk at a time. A pool of ``chunk`` random blob images is drawn once; each chunk is the pool
    in a new order, XOR-ed with the chunk's number (cheap to make on a loaded machine)."""
    rng = np.random.default_rng(seed)
    shape = (n, 3, side, side)
    low = rng.integers(0, 256, (chunk, 3, 4, 4), dtype=np.uint8)  # coarse pattern, upsampled, plus noise
    pool = np.repeat(np.repeat(low, side // 4, axis=2), side // 4, axis=3) // 2
    pool += rng.integers(0, 32, pool.shape, dtype=np.uint8)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as z:
        with z.open("x.npy", "w", force_zip64=True) as f:
            np.lib.format.write_array_header_1_0(f, {"descr": "|u1", "fortran_order": False, "shape": shape})
            for i, s in enumerate(range(0, n, chunk)):
                b = min(chunk, n - s)
                f.write(np.ascontiguousarray(pool[rng.permutation(chunk)[:b]] ^ np.uint8(i % 256)).tobytes())
        with z.open("y.npy", "w") as f:
            np.lib.format.write_array(f, rng.integers(0, 10, n).astype(np.int64))
    return n * 3 * side * side


CHILD = """
import json, resource, sys, time
t0 = time.monotonic()
import torch
torch.set_num_threads({threads})
from selfsup import api
from selfsup.data import load_dataset
from selfsup.eval.features import Featurizer
from selfsup.train.loader import BatchLoader
rss = lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
base = rss()
t = time.monotonic()
data = load_dataset("npz:{npz}", data_cache={mode!r}, cache_dir={cache!r})  # decodes (copies) into the cache
t_cache = time.monotonic() - t
peak_cache = rss()
t = time.monotonic()
mean, std = data.channel_stats()
seen = 0
for xb, _ in BatchLoader(data.x_train, {batch}, seed=0):  # a full epoch of random batches: every row read
    xb.float()
    seen += len(xb)
t_epoch = time.monotonic() - t
t = time.monotonic()
enc = torch.nn.Sequential(torch.nn.AdaptiveAvgPool2d(4), torch.nn.Flatten())
feats = Featurizer(enc, mean, std)(data.x_test, batch_size=1024)  # evaluation streams the test split
t_feats = time.monotonic() - t
peak_read = rss()
run = api.pretrain("simclr", "npz:{npz}", {out!r}, encoder={encoder!r}, progress=False, epochs={train_epochs},
                   batch_size={batch}, data_cache={mode!r}, cache_dir={cache!r}, ckpt_every_minutes=0,
                   log_every_steps=5, **{extra})
print("RESULT", json.dumps(dict(x_train=type(data.x_train).__name__, rows=len(data.x_train),
      cache_write_s=round(t_cache, 1), loader_epoch_rows=seen, loader_epoch_s=round(t_epoch, 1),
      test_features=list(feats.shape), test_features_s=round(t_feats, 1),
      rss_after_imports_bytes=base, peak_rss_after_cache_write_bytes=peak_cache,
      peak_rss_after_loader_epoch_and_features_bytes=peak_read, peak_rss_bytes=rss(),
      simclr_epochs=run.meta["epochs"], simclr_steps=run.meta["steps"], simclr_train_seconds=run.meta["train_seconds"],
      simclr_final_loss=run.meta["final_loss"], wall_s=round(time.monotonic() - t0, 1))))
"""


def part_big(args: argparse.Namespace, work: Path) -> dict:
    side = args.side
    per = 3 * side * side
    n = int(args.data_gb * 1e9) // per
    need = 2.2 * n * per  # the npz and its cache
    free = shutil.disk_usage(work).free
    if free < need:
        raise SystemExit(f"not enough disk in {work}: {free / 1e9:.1f} GB free, {need / 1e9:.1f} GB needed")
    npz = work / "big.npz"
    t = time.monotonic()
    data_bytes = write_big_npz(npz, n, side)
    gen_s = time.monotonic() - t
    print(f"generated {npz}: {n} images of 3x{side}x{side}, {data_bytes / 1e9:.2f} GB in {gen_s:.0f} s", flush=True)
    code = textwrap.dedent(CHILD.format(threads=args.threads, npz=npz, cache=str(work / "cache"),
                                        out=str(work / "run"), encoder=args.encoder, batch=args.batch_size,
                                        train_epochs=args.train_epochs, mode=args.data_cache,
                                        extra=repr({"encoder_width": args.width} if args.width else {})))
    as_bytes = int(args.as_gb * GiB)
    cmd = ["prlimit", f"--as={as_bytes}", "--", sys.executable, "-c", code]
    env = {**os.environ, "PYTHONPATH": str(REPO / "src"), "OMP_NUM_THREADS": str(args.threads)}
    print(f"child under prlimit --as={as_bytes} ({args.as_gb} GiB address space), RAM cap {args.ram_cap_gb} GiB "
          f"checked on peak RSS", flush=True)
    t = time.monotonic()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    wall = time.monotonic() - t
    if proc.returncode != 0:
        print(proc.stdout[-3000:], proc.stderr[-5000:])
        raise SystemExit(f"the child failed (rc {proc.returncode})")
    res = json.loads(next(line for line in proc.stdout.splitlines() if line.startswith("RESULT"))[7:])
    cap = int(args.ram_cap_gb * GiB)
    # a control: the in-memory path under the same address-space limit (it cannot hold the data)
    ctl = subprocess.run(["prlimit", f"--as={as_bytes}", "--", sys.executable, "-c",
                          f"from selfsup.data import load_dataset; load_dataset('npz:{npz}', data_cache='memory')"],
                         env=env, capture_output=True, text=True)
    return {
        "data_bytes": data_bytes, "images": n, "image_shape": [3, side, side],
        "ram_cap_bytes": cap, "data_over_ram_cap": round(data_bytes / cap, 2),
        "address_space_limit_bytes": as_bytes, "cap_how": "prlimit --as (enforced) + peak RSS <= RAM cap (checked)",
        "generate_seconds": round(gen_s, 1), "child_wall_seconds": round(wall, 1), **res,
        "peak_rss_under_ram_cap": res["peak_rss_bytes"] <= cap,
        "simclr_images_per_s": round(res["simclr_steps"] * args.batch_size / max(1e-9, res["simclr_train_seconds"]), 1),
        "loader_epoch_images_per_s": round(res["loader_epoch_rows"] / max(1e-9, res["loader_epoch_s"])),
        "memory_path_under_same_limit": "failed (as expected)" if ctl.returncode != 0 else "loaded",
        "memory_path_error_tail": ctl.stderr.strip().splitlines()[-1][-300:] if ctl.stderr.strip() else "",
        "data_cache": args.data_cache, "encoder": args.encoder, "encoder_width": args.width, "batch_size": args.batch_size, "threads": args.threads,
    }


SPEED_CHILD = """
import json, sys, time, csv
import torch
torch.set_num_threads({threads})
from selfsup import api
run = api.pretrain("simclr", "npz:{npz}", {out!r}, progress=False, epochs={epochs}, batch_size={batch},
                   data_cache={mode!r}, cache_dir={cache!r}, ckpt_every_minutes=0, log_every_steps=10, seed=0)
n = run.meta["steps"] * {batch}
print("RESULT", json.dumps(dict(steps=run.meta["steps"], train_seconds=run.meta["train_seconds"],
      images_per_s=n / run.meta["train_seconds"], final_loss=run.meta["final_loss"])))
"""


def loader_rate(x, batch: int, batches: int) -> float:
    from selfsup.train.loader import BatchLoader

    loader = BatchLoader(x, batch, seed=0)
    it = iter(loader)
    t = time.perf_counter()
    for _ in range(batches):
        xb, _ = next(it)
        xb.float()  # what a step does first
    return batches * batch / (time.perf_counter() - t)


def part_speed(args: argparse.Namespace, work: Path) -> dict:
    sys.path.insert(0, str(REPO / "src"))
    from selfsup.data import load_dataset

    fm = load_dataset("fashion-mnist", data_dir=os.environ.get("SELFSUP_DATA_DIR"))
    npz = work / "fmnist.npz"
    np.savez(npz, x=fm.x_train.numpy(), y=fm.y_train.numpy(), x_test=fm.x_test.numpy(), y_test=fm.y_test.numpy())
    mem = load_dataset(f"npz:{npz}", data_cache="memory")
    disk = load_dataset(f"npz:{npz}", data_cache="disk", cache_dir=work / "cache")  # written here, once
    loader = {"memory": [], "disk": []}
    for _ in range(3):
        for mode, d in (("memory", mem), ("disk", disk)):
            loader[mode].append(loader_rate(d.x_train, args.batch_size, 200))
    env = {**os.environ, "PYTHONPATH": str(REPO / "src"), "OMP_NUM_THREADS": str(args.threads)}
    step = {"memory": [], "disk": []}
    for rep in range(args.reps):
        for mode in ("memory", "disk"):
            code = textwrap.dedent(SPEED_CHILD.format(threads=args.threads, npz=npz, out=str(work / f"run-{mode}-{rep}"),
                                                      epochs=args.epochs, batch=args.batch_size, mode=mode,
                                                      cache=str(work / "cache")))
            proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
            if proc.returncode != 0:
                print(proc.stderr[-4000:])
                raise SystemExit("a speed run failed")
            r = json.loads(next(line for line in proc.stdout.splitlines() if line.startswith("RESULT"))[7:])
            step[mode].append(r)
            print(f"rep {rep} {mode}: {r['images_per_s']:.0f} img/s ({r['steps']} steps)", flush=True)
    med = {m: statistics.median(r["images_per_s"] for r in step[m]) for m in step}
    return {
        "dataset": "fashion-mnist train (60,000 x 1x28x28) via npz", "epochs_per_run": args.epochs,
        "batch_size": args.batch_size, "threads": args.threads, "reps": args.reps,
        "simclr_images_per_s": {m: [round(r["images_per_s"], 1) for r in step[m]] for m in step},
        "final_loss": {m: [r["final_loss"] for r in step[m]] for m in step},
        "median_images_per_s": {m: round(v, 1) for m, v in med.items()},
        "disk_over_memory": round(med["disk"] / med["memory"], 3),
        "loader_only_images_per_s": {m: [round(v) for v in loader[m]] for m in loader},
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--part", choices=("big", "speed"), required=True)
    ap.add_argument("--data-gb", type=float, default=3.2)
    ap.add_argument("--ram-cap-gb", type=float, default=1.0, help="GiB; the data is at least 3x this")
    ap.add_argument("--as-gb", type=float, default=2.5, help="address-space limit of the child, GiB")
    ap.add_argument("--side", type=int, default=32)
    ap.add_argument("--encoder", default="small-cnn")
    ap.add_argument("--width", type=float, default=None)
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--epochs", type=float, default=0.25, help="speed part: epochs per timed run")
    ap.add_argument("--data-cache", default="auto", help="big part: the child's data_cache (auto picks disk there)")
    ap.add_argument("--train-epochs", type=float, default=1.0,
                    help="big part: SimCLR epochs over the big data (a fraction where the machine is too slow)")
    ap.add_argument("--reps", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--workdir", default=tempfile.gettempdir())
    ap.add_argument("--keep", action="store_true")
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="selfsup-data-cache-bench-", dir=args.workdir))
    try:
        res = part_big(args, work) if args.part == "big" else part_speed(args, work)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)  # the folder this script made, nothing else
    commit = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True).stdout.strip()
    out = {"benchmark": f"data_cache --part {args.part}", "command": " ".join(sys.argv), "commit": commit,
           "date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "machine": platform.processor() or
           platform.machine(), "cpus": os.cpu_count(), "load_avg_at_end": os.getloadavg(), **res}
    print(json.dumps(out, indent=2))
    if args.out:
        Path(args.out).write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
