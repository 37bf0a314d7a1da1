"""The on-disk uint8 cache of ``folder:`` / ``npz:`` images (selfsup.data.cache): written once and reused,
a new one when a source file changes, atomic, the same batches as the in-memory path, each process its
own shard, and resident memory bounded whatever the data size."""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from selfsup.data import cache, load_dataset
from selfsup.data.cache import DiskImages, open_entry
from selfsup.errors import UserError
from selfsup.train.loader import BatchLoader

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py
SRC = str(Path(cache.__file__).resolve().parents[2])


def _npz(path: Path, n: int = 300, seed: int = 0, hwc: bool = True) -> Path:
    rng = np.random.default_rng(seed)
    shape = (n, 12, 10, 3) if hwc else (n, 1, 12, 10)
    np.savez(path, x=rng.integers(0, 256, shape, dtype=np.uint8), y=rng.integers(0, 4, n))
    return path


def _folder(root: Path, per_class: int = 8) -> Path:
    rng = np.random.default_rng(1)
    for c in range(3):
        (root / f"c{c}").mkdir(parents=True)
        for i in range(per_class):
            Image.fromarray(rng.integers(0, 256, (20, 14, 3), dtype=np.uint8)).save(root / f"c{c}" / f"{i}.png")
    Image.fromarray(rng.integers(0, 256, (9, 9), dtype=np.uint8)).save(root / "c1" / "gray.png")  # gray -> RGB
    return root


@pytest.fixture
def writes(monkeypatch):
    """The caches written (decoded or copied) during the test."""
    log: list[str] = []
    monkeypatch.setattr(cache, "WRITES", log)
    return log


def test_npz_cache_is_written_once_and_reused(tmp_path, writes):
    src = _npz(tmp_path / "a.npz")
    d1 = load_dataset(f"npz:{src}", data_cache="disk", cache_dir=tmp_path / "c")
    data_file = Path(d1.meta["cache"])
    mtime = data_file.stat().st_mtime_ns
    d2 = load_dataset(f"npz:{src}", data_cache="disk", cache_dir=tmp_path / "c")
    assert len(writes) == 1 and data_file.stat().st_mtime_ns == mtime  # second load: no decode, no write
    assert isinstance(d2.x_train, DiskImages) and Path(d2.meta["cache"]) == data_file
    assert torch.equal(d1.x_train[:], d2.x_train[:])


def test_a_changed_source_makes_a_new_cache(tmp_path, writes):
    src = _npz(tmp_path / "a.npz")
    c = tmp_path / "c"
    d1 = load_dataset(f"npz:{src}", data_cache="disk", cache_dir=c)
    _npz(src, seed=5)  # same size, new content and mtime
    st = src.stat()
    os.utime(src, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    d2 = load_dataset(f"npz:{src}", data_cache="disk", cache_dir=c)
    assert len(writes) == 2 and d1.meta["cache"] != d2.meta["cache"]
    mem = load_dataset(f"npz:{src}", data_cache="memory")
    assert torch.equal(d2.x_train[:], mem.x_train)  # the new content, not the stale cache
    # an image of a folder changes: a new cache too (and the old one is left alone, not deleted)
    root = _folder(tmp_path / "f")
    f1 = load_dataset(f"folder:{root}", image_size=8, data_cache="disk", cache_dir=c)
    Image.fromarray(np.zeros((20, 14, 3), np.uint8)).save(root / "c0" / "0.png")
    f2 = load_dataset(f"folder:{root}", image_size=8, data_cache="disk", cache_dir=c)
    f3 = load_dataset(f"folder:{root}", image_size=12, data_cache="disk", cache_dir=c)  # decode settings count
    assert len({f1.meta["cache"], f2.meta["cache"], f3.meta["cache"]}) == 3 and len(writes) == 5
    assert Path(f1.meta["cache"]).is_file()


@pytest.mark.parametrize("kind", ["npz", "npz-nchw", "folder"])
def test_disk_and_memory_paths_give_identical_data_and_batches(tmp_path, writes, kind):
    if kind == "folder":
        name, opts = f"folder:{_folder(tmp_path / 'f')}", {"image_size": 8}
    else:
        name, opts = f"npz:{_npz(tmp_path / 'a.npz', hwc=kind == 'npz')}", {}
    mem = load_dataset(name, data_cache="memory", **opts)
    disk = load_dataset(name, data_cache="disk", cache_dir=tmp_path / "c", **opts)
    assert isinstance(mem.x_train, torch.Tensor) and isinstance(disk.x_train, DiskImages)
    assert disk.x_train.shape == mem.x_train.shape and disk.input_shape == mem.input_shape
    assert torch.equal(disk.y_train, mem.y_train) and torch.equal(disk.y_test, mem.y_test)
    assert torch.equal(disk.x_test[:], mem.x_test) and disk.classes == mem.classes
    # the loaders draw the same batches in the same order for the same seed (two epochs)
    lm, ld = BatchLoader(mem.x_train, 7, seed=3), BatchLoader(disk.x_train, 7, seed=3)
    for _ in range(2):
        for (xm, im), (xd, id_) in zip(lm, ld, strict=True):
            assert torch.equal(im, id_) and torch.equal(xm, xd) and xd.dtype == torch.uint8
    (m_mean, m_std), (d_mean, d_std) = mem.channel_stats(), disk.channel_stats()  # streamed on disk
    assert np.allclose(m_mean, d_mean, atol=1e-5) and np.allclose(m_std, d_std, atol=1e-5)
    idx = torch.tensor([5, 0, 5, 11, 3])  # unsorted with a repeat: the order asked for comes back
    assert torch.equal(disk.x_train[idx], mem.x_train[idx])
    sub = cache.select_rows(disk.x_train, slice(2, 9))
    assert isinstance(sub, DiskImages) and torch.equal(sub[:], mem.x_train[2:9])


def test_auto_chooses_by_size_and_disk_refuses_non_images(tmp_path, writes, monkeypatch):
    src = _npz(tmp_path / "a.npz")
    monkeypatch.setattr(cache, "memory_budget", lambda: 10**12)
    assert isinstance(load_dataset(f"npz:{src}", cache_dir=tmp_path / "c").x_train, torch.Tensor)
    monkeypatch.setattr(cache, "memory_budget", lambda: 1000)  # 300 images of 360 bytes do not fit
    assert isinstance(load_dataset(f"npz:{src}", cache_dir=tmp_path / "c").x_train, DiskImages)
    np.savez(tmp_path / "v.npz", x=np.random.default_rng(0).normal(size=(50, 6)).astype(np.float32))
    with pytest.raises(UserError, match="not images"):
        load_dataset(f"npz:{tmp_path / 'v.npz'}", data_cache="disk", cache_dir=tmp_path / "c")
    assert load_dataset(f"npz:{tmp_path / 'v.npz'}", cache_dir=tmp_path / "c").modality == "vector"  # auto: memory
    with pytest.raises(UserError, match="data_cache"):
        load_dataset(f"npz:{src}", data_cache="ram")


CRASH = """
import os, sys
sys.path.insert(0, {src!r})
from selfsup.data import cache, load_dataset
real = cache.write_npz_images
def crash(members, f):
    f.write(b"\\0" * 1000)
    f.flush()
    os._exit(9)  # killed mid-write: no cleanup runs
cache.write_npz_images = crash
load_dataset("npz:{npz}", data_cache="disk", cache_dir={cdir!r})
"""


def test_arrays_too_large_for_memory_point_to_the_disk_cache(tmp_path, monkeypatch):
    # under a memory limit numpy raises MemoryError while loading: that is not a format problem, and the message says
    # what to do (the 3.3 GB benchmark's in-memory control run had got the format hint)
    src = _npz(tmp_path / "a.npz")
    from selfsup.data import arrays

    def no_memory(*args, **kwargs):
        raise MemoryError("Unable to allocate 3.07 GiB for an array with shape (1074218, 3, 32, 32)")

    monkeypatch.setattr(arrays.np, "load", no_memory)
    with pytest.raises(UserError, match="do not fit in memory") as err:
        load_dataset(f"npz:{src}", data_cache="memory", cache_dir=tmp_path / "c")
    assert "data_cache=disk" in err.value.hint and "object arrays" not in str(err.value)


def test_a_killed_write_leaves_no_usable_cache_and_the_next_run_rebuilds(tmp_path, writes):
    src, cdir = _npz(tmp_path / "a.npz"), tmp_path / "c"
    proc = subprocess.run([sys.executable, "-c", CRASH.format(src=SRC, npz=src, cdir=str(cdir))])
    assert proc.returncode == 9
    left = sorted(p.name for p in cdir.iterdir())
    assert any(n.startswith(cache.TMP_PREFIX) for n in left)  # the half-written file ...
    stem = next(n for n in left if n.endswith(".lock"))[: -len(".lock")]
    assert open_entry(cdir, stem) is None and not any(n.endswith((".json", ".u8")) and not n.startswith(".")
                                                      for n in left)  # ... is not a cache
    mine = cdir / "notes.txt"
    mine.write_text("the user's")
    d = load_dataset(f"npz:{src}", data_cache="disk", cache_dir=cdir)
    assert len(writes) == 1  # rebuilt
    assert torch.equal(d.x_train[:], load_dataset(f"npz:{src}", data_cache="memory").x_train)
    assert not any(p.name.startswith(cache.TMP_PREFIX) for p in cdir.iterdir())  # its own leftovers removed
    assert mine.read_text() == "the user's"  # and nothing else


def test_two_ranks_read_disjoint_shards_that_cover_the_data(tmp_path):
    d = load_dataset(f"npz:{_npz(tmp_path / 'a.npz', n=250)}", data_cache="disk", cache_dir=tmp_path / "c")
    mem = load_dataset(f"npz:{tmp_path / 'a.npz'}", data_cache="memory")
    seen = []
    for rank in range(2):
        loader = BatchLoader(d.x_train, 10, seed=0, drop_last=False)
        loader.set_distributed(rank, 2)
        idx = []
        for xb, ib in loader:
            assert torch.equal(xb, mem.x_train[ib])
            idx += ib.tolist()
        seen.append(set(idx))
        assert len(idx) == len(set(idx)) == len(d.x_train) // 2
    n = len(d.x_train)  # equal shards: an odd sample out is left for the epoch (as in memory)
    assert not seen[0] & seen[1] and len(seen[0] | seen[1]) == n // 2 * 2 and seen[0] | seen[1] <= set(range(n))


BOUNDED = """
import sys
def peak():  # this process image's peak RSS (KiB): VmHWM starts anew at exec, while ru_maxrss
    # keeps the high-water mark of the forking parent (a large pytest process hid every increase)
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmHWM:"))
sys.path.insert(0, {src!r})
import torch
torch.set_num_threads(1)
from selfsup.data import cache, load_dataset
from selfsup.data.cache import DiskImages
from selfsup.eval.features import Featurizer
from selfsup.train.loader import BatchLoader
cache.CHUNK_BYTES = 2 << 20
base = peak()  # after the imports
for _ in range(2):  # the first pass writes the cache, the second reuses it
    d = load_dataset("npz:{npz}", data_cache={mode!r}, cache_dir={cdir!r})
    mean, std = d.channel_stats()
    total = 0
    for xb, _ in BatchLoader(d.x_train, 256, seed=0):  # one epoch, every row read
        total += int(xb[:, :, 0, 0].sum())
    enc = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear({dim}, 4))
    feats = Featurizer(enc, mean, std)(d.x_test, batch_size=512)  # evaluation streams too
    assert feats.shape == (len(d.x_test), 4)
print(type(d.x_train).__name__, (peak() - base) * 1024)
"""


def test_resident_memory_stays_bounded_for_data_three_times_the_cap(tmp_path):
    """~90 MB of images, every row read in an epoch: going from a tenth of the data to all of it, the disk
    path's peak RSS grows by less than a third of the data (the cap); the in-memory path, measured the same
    way, does not (so the test can fail). The small run takes out what does not depend on the data size
    (torch's lazily built kernels and pools, the loader's and the featurizer's batch buffers). glibc's mmap
    threshold is pinned: left dynamic, it rises after the first large free so that later batch-sized temporaries
    go to the heap, whose fragmentation then adds ~0.7x the test split's float size at this scale (an allocator
    effect that levels off: the 3.3 GB run of BENCHMARKS.md peaked at 0.81 GiB without the pin)."""
    n, shape = 38_000, (3, 28, 28)
    data_bytes = n * int(np.prod(shape))
    rng = np.random.default_rng(0)
    x, y = rng.integers(0, 256, (n, *shape), dtype=np.uint8), rng.integers(0, 10, n)
    np.savez(tmp_path / "big.npz", x=x, y=y)
    np.savez(tmp_path / "small.npz", x=x[: n // 10], y=y[: n // 10])
    cap = data_bytes // 3
    added = {}
    for mode in ("disk", "memory"):
        for size in ("small", "big"):
            code = BOUNDED.format(src=SRC, npz=tmp_path / f"{size}.npz", mode=mode, cdir=str(tmp_path / "c"),
                                  dim=int(np.prod(shape)))
            out = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                                 env={**os.environ, "OMP_NUM_THREADS": "1", "MALLOC_MMAP_THRESHOLD_": str(1 << 20)})
            assert out.returncode == 0, out.stderr[-2000:]
            kind, rss = out.stdout.split()
            added[mode, size] = int(rss)
            assert kind == ("DiskImages" if mode == "disk" else "Tensor")
    growth = {mode: added[mode, "big"] - added[mode, "small"] for mode in ("disk", "memory")}
    assert growth["disk"] < cap, (added, cap)
    assert growth["memory"] > cap, (added, cap)


def test_pretrain_and_evaluate_from_the_disk_cache_match_memory(tmp_path, capsys):
    """The whole command on a tiny npz: ``--set data_cache=disk`` trains on the same batches as memory
    (the same losses), is recorded in run.json, and `selfsup evaluate` reads the cache again."""
    from selfsup.cli.main import main

    src = _npz(tmp_path / "a.npz", n=120, hwc=False)
    runs = {}
    for mode in ("memory", "disk"):
        run = tmp_path / mode
        assert main(["pretrain", "simclr", "--data", f"npz:{src}", "--out", str(run), "--epochs", "2",
                     "--batch-size", "32", "--no-progress", "--set", f"data_cache={mode}",
                     "--set", f"cache_dir={tmp_path / 'c'}", "--set", "encoder_width=4",
                     "--set", "log_every_steps=1", "--set", "ckpt_every_minutes=0"]) == 0, capsys.readouterr().err
        runs[mode] = json.loads((run / "run.json").read_text())
    assert runs["disk"]["config"]["train"]["data_cache"] == "disk"
    assert runs["disk"]["steps"] == runs["memory"]["steps"] == 4  # 95 train images, batch 32, 2 epochs
    assert abs(runs["disk"]["final_loss"] - runs["memory"]["final_loss"]) < 1e-3
    assert main(["evaluate", str(tmp_path / "disk"), "--protocols", "knn", "--labels", "100%", "--seeds", "0",
                 "--baselines", "raw,random_init"]) == 0, capsys.readouterr().err
    res = json.loads((tmp_path / "disk" / "results.json").read_text())
    assert "100%" in res["protocols"]["knn"] and "raw" not in res["baselines"]
    assert res["selection"]["skipped_baselines"]["baselines"] == ["raw"]
