"""Data larger than memory: ``folder:`` and ``npz:`` images decoded once into an on-disk uint8 cache.

The cache of a source is one raw uint8 file of all its decoded images, ``(N, C, H, W)`` row after row
(``<stem>.u8``; ``numpy.memmap(path, np.uint8, "r", shape=...)`` opens it), the labels and the
train/test rows beside it (``<stem>.rows.npz``), and a small ``<stem>.json`` written last: a cache
counts only when its json exists and the file has the size the json says. The stem holds a hash of
what the decoded bytes depend on: the source files' paths, sizes and mtimes and the decode settings
(``image_size``, ``skip_bad_files``), so any change to a source file makes a new cache and an
unchanged source reuses the old one without decoding anything.

Writing is atomic and bounded in memory: the images are decoded (folder) or copied (npz) a chunk at a
time into a temporary file that is renamed into place when complete, under a lock so that the
processes of a multi-process run decode once. A killed writer leaves only a temporary file, never
trusted; the next writer of the same cache (holding the lock) removes it. Nothing else in the cache
folder is ever deleted.

Batches are read by index with positioned reads (``os.preadv``) of the sorted rows, one read per
run of consecutive rows: only the rows asked for are read, and neither the resident memory nor the
address space grows with the dataset (a whole-file ``mmap`` would count every page touched in an
epoch in the process's RSS, and the whole file against ``ulimit -v``).

Where the cache lives: ``cache_dir`` (``--set cache_dir=DIR``), else ``$SELFSUP_CACHE_DIR``, else
``~/.cache/selfsup/decoded``. Which path a run takes: ``data_cache`` = ``auto`` (the disk cache when
the decoded images would take more than :data:`MEMORY_SHARE` of the memory available), ``memory``
or ``disk``.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import resource
import socket
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import torch
from torch import Tensor

from selfsup.errors import UserError

CACHE_VERSION = 1  # bump when the decoded bytes of the same source and settings would change
MODES = ("auto", "memory", "disk")
MEMORY_SHARE = 0.5  # auto: the disk cache when the decoded images exceed this share of the available memory
CHUNK_BYTES = 32 << 20  # what one copy step of an npz holds in memory
TMP_PREFIX = ".selfsup-tmp-"


def cache_root(cache_dir: str | os.PathLike | None = None) -> Path:
    """The cache folder: ``cache_dir``, else ``$SELFSUP_CACHE_DIR``, else ``~/.cache/selfsup/decoded``."""
    if cache_dir:
        return Path(cache_dir).expanduser()
    env = os.environ.get("SELFSUP_CACHE_DIR", "").strip()
    return Path(env).expanduser() if env else Path.home() / ".cache" / "selfsup" / "decoded"


def check_mode(mode: str | None) -> str:
    mode = mode or "auto"
    if mode not in MODES:
        raise UserError(f"unknown data_cache '{mode}'", hint="use --set data_cache=auto, memory or disk")
    return mode


def memory_budget() -> int:
    """Bytes this process may still fill: the least of the available memory (``/proc/meminfo``), a cgroup
    memory limit less its usage (v2 or v1), and a quarter of an address-space limit (``ulimit -v``; torch
    alone reserves a lot of address space)."""
    limits = []
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                limits.append(int(line.split()[1]) * 1024)
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/self/cgroup").read_text().splitlines():
            _, ctrl, rel = line.split(":", 2)
            base = Path("/sys/fs/cgroup") if ctrl == "" else Path("/sys/fs/cgroup/memory") if "memory" in ctrl else None
            if base is None:
                continue
            d = base / rel.lstrip("/")
            for lim_f, use_f in (("memory.max", "memory.current"), ("memory.limit_in_bytes", "memory.usage_in_bytes")):
                if (d / lim_f).is_file():
                    lim = (d / lim_f).read_text().strip()
                    if lim.isdigit() and int(lim) < 1 << 60:
                        limits.append(int(lim) - int((d / use_f).read_text().strip()))
    soft, _ = resource.getrlimit(resource.RLIMIT_AS)
    if soft != resource.RLIM_INFINITY:
        limits.append(soft // 4)
    return max(0, min(limits)) if limits else 1 << 62


def use_disk(mode: str, decoded_bytes: int) -> bool:
    """Whether data of ``decoded_bytes`` goes to the disk cache under ``data_cache=mode``."""
    mode = check_mode(mode)
    if mode != "auto":
        return mode == "disk"
    return decoded_bytes > MEMORY_SHARE * memory_budget()


class DiskImages:
    """uint8 images ``(N, C, H, W)`` in a cache file, read by index: the rows ``rows`` of the file.

    ``x[idx]`` (an int, a slice, an index tensor or array) reads just those rows and returns a uint8
    tensor, in the order asked for; ``x.subset(idx)`` is a view of some rows that reads nothing.
    Stands in for the in-memory tensor wherever a loader draws batches, the features are extracted
    in batches, or ``len`` / ``shape`` / ``dtype`` are asked.
    """

    dtype = torch.uint8

    def __init__(self, path: str | os.PathLike, item_shape: tuple[int, ...], rows: np.ndarray | None = None,
                 total: int | None = None) -> None:
        self.path = Path(path)
        self.item_shape = tuple(int(s) for s in item_shape)
        self.row_bytes = int(np.prod(self.item_shape))
        if total is None:
            total = os.path.getsize(self.path) // self.row_bytes
        self.total = int(total)
        self.rows = np.arange(self.total, dtype=np.int64) if rows is None else np.asarray(rows, dtype=np.int64)
        self._fd: int | None = None
        self._pid = -1

    @property
    def shape(self) -> torch.Size:
        return torch.Size((len(self.rows), *self.item_shape))

    def dim(self) -> int:
        return 1 + len(self.item_shape)

    def __len__(self) -> int:
        return len(self.rows)

    def __repr__(self) -> str:
        return f"DiskImages({self.path}, shape={tuple(self.shape)})"

    def __getstate__(self) -> dict[str, Any]:  # spawned processes open their own file
        return {**self.__dict__, "_fd": None, "_pid": -1}

    def _file(self) -> int:
        if self._fd is None or self._pid != os.getpid():
            self._fd, self._pid = os.open(self.path, os.O_RDONLY), os.getpid()
        return self._fd

    def __del__(self) -> None:
        if self._fd is not None and self._pid == os.getpid():
            with contextlib.suppress(OSError):
                os.close(self._fd)

    def _local(self, idx: Any) -> np.ndarray:
        if isinstance(idx, slice):
            return np.arange(len(self.rows))[idx]
        if isinstance(idx, Tensor):
            idx = idx.cpu().numpy()
        idx = np.asarray(idx)
        if idx.dtype == np.bool_:
            idx = np.flatnonzero(idx)
        return idx.astype(np.int64).reshape(-1)

    def subset(self, idx: Any) -> DiskImages:
        """A view of the rows ``idx`` (nothing is read)."""
        return DiskImages(self.path, self.item_shape, self.rows[self._local(idx)], self.total)

    def read_rows(self, file_rows: np.ndarray) -> np.ndarray:
        """The file's rows ``file_rows`` as a uint8 (len, C, H, W) array, in that order: sorted, one
        positioned read per run of consecutive rows, then put back in the order asked for."""
        n = len(file_rows)
        out = np.empty((n, self.row_bytes), dtype=np.uint8)
        if n == 0:
            return out.reshape(0, *self.item_shape)
        order = np.argsort(file_rows, kind="stable")
        sorted_rows = file_rows[order]
        if sorted_rows[0] < 0 or sorted_rows[-1] >= self.total:
            raise IndexError(f"row {int(sorted_rows[-1] if sorted_rows[-1] >= self.total else sorted_rows[0])} "
                             f"is outside the cache's {self.total} rows")
        buf = out if np.all(order == np.arange(n)) else np.empty_like(out)
        breaks = np.flatnonzero(np.diff(sorted_rows) != 1) + 1
        starts = np.concatenate(([0], breaks))
        ends = np.concatenate((breaks, [n]))
        fd = self._file()
        for s, e in zip(starts.tolist(), ends.tolist()):
            want = (e - s) * self.row_bytes
            got = os.preadv(fd, [memoryview(buf[s:e]).cast("B")], int(sorted_rows[s]) * self.row_bytes)
            if got != want:
                raise OSError(f"{self.path} is shorter than its cache record says (read {got} of {want} bytes)")
        if buf is not out:
            out[order] = buf
        return out.reshape(n, *self.item_shape)

    def __getitem__(self, idx: Any) -> Tensor:
        if isinstance(idx, (int, np.integer)):
            return self[np.array([idx])][0]
        return torch.from_numpy(self.read_rows(self.rows[self._local(idx)]))

    def batches(self, batch_size: int = 4096) -> Iterator[Tensor]:
        """All rows in order, ``batch_size`` at a time."""
        for i in range(0, len(self), batch_size):
            yield self[i : i + batch_size]

    def channel_stats(self, limit: int = 10_000) -> tuple[tuple[float, ...], tuple[float, ...]]:
        """Per-channel mean and (unbiased) std in [0, 1] units of the first ``limit`` rows, in one streaming
        pass of float64 sums (the in-memory path's statistic, without loading the images)."""
        n = min(len(self), limit)
        c = self.item_shape[0]
        s1, s2, count = np.zeros(c), np.zeros(c), 0
        for i in range(0, n, 1024):
            b = self[i : min(n, i + 1024)].numpy().astype(np.float64) / 255.0  # (b, C, H, W)
            s1 += b.sum(axis=(0, 2, 3))
            s2 += (b * b).sum(axis=(0, 2, 3))
            count += b.shape[0] * b.shape[2] * b.shape[3]
        mean = s1 / count
        var = np.maximum(s2 - count * mean * mean, 0.0) / max(1, count - 1)
        std = np.maximum(np.sqrt(var), 1e-3)
        return tuple(float(v) for v in mean), tuple(float(v) for v in std)

    def memmap(self) -> np.memmap:
        """The whole cache file as a read-only ``numpy.memmap`` (all rows, not just this view's)."""
        return np.memmap(self.path, dtype=np.uint8, mode="r", shape=(self.total, *self.item_shape))


def data_options(train: Any) -> dict[str, Any]:
    """The loader options of the cache (``data_cache``, ``cache_dir``) from a run's train settings (the
    :class:`~selfsup.train.config.TrainConfig` or its dict in ``run.json``; absent in older runs: auto)."""
    get = train.get if isinstance(train, dict) else (lambda k, d=None: getattr(train, k, d))
    return {"data_cache": get("data_cache", "auto") or "auto", "cache_dir": get("cache_dir", "") or None}


def select_rows(x: Any, idx: Any) -> Any:
    """Rows ``idx`` of ``x``: a tensor's rows, or a view of a :class:`DiskImages` (nothing read)."""
    return x.subset(idx) if isinstance(x, DiskImages) else x[idx]


def is_on_disk(x: Any) -> bool:
    return isinstance(x, DiskImages)


# ---------------------------------------------------------------------------------------------- writing


def source_signature(files: list[Path]) -> list[list[Any]]:
    """(path, size, mtime in ns) of every source file: what the cache's version is made of."""
    out = []
    for f in files:
        st = f.stat()
        out.append([str(f.resolve()), st.st_size, st.st_mtime_ns])
    return out


def cache_key(kind: str, files: list[Path], settings: dict[str, Any]) -> str:
    blob = json.dumps({"version": CACHE_VERSION, "kind": kind, "files": source_signature(files),
                       "settings": settings}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:24]


@dataclass
class CacheEntry:
    """A complete cache: its data file, decoded shape and the json record (labels/rows in ``rows``)."""

    data: Path
    record: dict[str, Any]
    rows: dict[str, np.ndarray]

    def images(self, split: str) -> DiskImages:
        shape = tuple(self.record["item_shape"])
        return DiskImages(self.data, shape, self.rows[f"{split}_rows"], self.record["total"])

    def labels(self, split: str) -> np.ndarray | None:
        key = f"y_{split}"
        return self.rows[key] if key in self.rows else None


def _paths(root: Path, stem: str) -> tuple[Path, Path, Path]:
    return root / f"{stem}.u8", root / f"{stem}.rows.npz", root / f"{stem}.json"


def open_entry(root: Path, stem: str) -> CacheEntry | None:
    """The complete cache ``stem`` in ``root``, or None (absent, or not written to the end)."""
    data, rows_f, rec_f = _paths(root, stem)
    try:
        record = json.loads(rec_f.read_text())
        if data.stat().st_size != record["total"] * int(np.prod(record["item_shape"])):
            return None
        with np.load(rows_f, allow_pickle=False) as z:
            rows = {k: z[k] for k in z.files}
    except (OSError, ValueError, KeyError, zipfile.BadZipFile):
        return None
    return CacheEntry(data, record, rows)


@contextlib.contextmanager
def _locked(root: Path, stem: str) -> Iterator[None]:
    with open(root / f"{stem}.lock", "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _publish(tmp: Path, final: Path) -> None:
    with open(tmp, "rb+") as f:
        os.fsync(f.fileno())
    os.replace(tmp, final)


def _remove_stale(root: Path, stem: str) -> None:
    """Remove the temporary files of this cache left by killed writers on this machine (the pid in their
    name is gone); a file of another machine (a shared cache folder) or of a live writer is left alone."""
    host = socket.gethostname()
    for p in root.glob(f"{TMP_PREFIX}{stem}.{host}-*"):
        pid = p.name[len(f"{TMP_PREFIX}{stem}.{host}-"):].split(".")[0]
        if not pid.isdigit():
            continue
        try:
            os.kill(int(pid), 0)
            alive = int(pid) != os.getpid()
        except ProcessLookupError:
            alive = False
        except PermissionError:
            alive = True
        if not alive:
            p.unlink(missing_ok=True)


# what a test may set to count how often a cache is written (decoded or copied)
WRITES: list[str] = []


def build_entry(root: Path, stem: str, write: Callable[[BinaryIO], dict[str, Any]]) -> CacheEntry:
    """The cache ``stem`` in ``root``: reused when complete, else written by ``write(file)`` (which streams the
    rows into the file and returns the record: ``total``, ``item_shape``, ``rows`` (name -> array), ...).

    Writes under a lock (one writer per cache; the others wait and reuse its result); the data file, the
    rows and the record each go to a temporary file renamed into place, the record last."""
    entry = open_entry(root, stem)
    if entry is not None:
        return entry
    root.mkdir(parents=True, exist_ok=True)
    with _locked(root, stem):
        entry = open_entry(root, stem)  # another process may have written it while we waited
        if entry is not None:
            return entry
        _remove_stale(root, stem)
        data, rows_f, rec_f = _paths(root, stem)
        tag = f"{socket.gethostname()}-{os.getpid()}"
        tmp = root / f"{TMP_PREFIX}{stem}.{tag}.u8"
        WRITES.append(stem)
        try:
            with open(tmp, "wb") as f:
                record = write(f)
        except BaseException:  # a bad file, Ctrl-C: nothing half-written stays behind (a kill leaves the
            tmp.unlink(missing_ok=True)  # temporary file, never trusted, removed by the next writer)
            raise
        rows = record.pop("rows")
        tmp_rows = root / f"{TMP_PREFIX}{stem}.{tag}.rows.npz"
        with open(tmp_rows, "wb") as f:
            np.savez(f, **rows)
        _publish(tmp, data)
        _publish(tmp_rows, rows_f)
        tmp_rec = root / f"{TMP_PREFIX}{stem}.{tag}.json"
        tmp_rec.write_text(json.dumps(record, indent=1))
        _publish(tmp_rec, rec_f)
    entry = open_entry(root, stem)
    if entry is None:
        raise OSError(f"the cache {data} was written but cannot be read back")
    return entry


# ------------------------------------------------------------------------------------------ npz sources


@dataclass
class NpyMember:
    """An array stored in a .npy file or an .npz member, read a chunk of rows at a time."""

    path: Path
    member: str | None  # None: a .npy file
    shape: tuple[int, ...]
    dtype: np.dtype
    fortran: bool
    stored_bytes: int  # what the file holds after the header (less than the shape needs: truncated)

    @property
    def nbytes(self) -> int:
        return int(np.prod(self.shape)) * self.dtype.itemsize

    @contextlib.contextmanager
    def stream(self) -> Iterator[BinaryIO]:
        if self.member is None:
            with open(self.path, "rb") as f:
                _read_header(f)
                yield f
        else:
            with zipfile.ZipFile(self.path) as z, z.open(self.member) as f:
                _read_header(f)
                yield f  # type: ignore[misc]

    def chunks(self, rows_per_chunk: int) -> Iterator[np.ndarray]:
        row_bytes = int(np.prod(self.shape[1:])) * self.dtype.itemsize
        with self.stream() as f:
            for start in range(0, self.shape[0], rows_per_chunk):
                n = min(rows_per_chunk, self.shape[0] - start)
                raw = f.read(n * row_bytes)
                if len(raw) != n * row_bytes:
                    raise UserError(f"{self.path}: array '{self.member or 'x'}' is truncated")
                yield np.frombuffer(raw, dtype=self.dtype).reshape(n, *self.shape[1:])


def _read_header(f: BinaryIO) -> tuple[tuple[int, ...], bool, np.dtype]:
    version = np.lib.format.read_magic(f)
    if version == (1, 0):
        return np.lib.format.read_array_header_1_0(f)
    return np.lib.format.read_array_header_2_0(f)


def npy_members(path: Path) -> dict[str, NpyMember]:
    """The arrays of a .npz (or the ``x`` of a .npy) with their shapes and dtypes, read from the headers only."""
    out = {}
    if path.suffix == ".npy":
        with open(path, "rb") as f:
            shape, fortran, dtype = _read_header(f)
            stored = os.path.getsize(path) - f.tell()
        return {"x": NpyMember(path, None, tuple(shape), np.dtype(dtype), fortran, stored)}
    with zipfile.ZipFile(path) as z:
        for info in z.infolist():
            if not info.filename.endswith(".npy"):
                continue
            with z.open(info) as f:
                shape, fortran, dtype = _read_header(f)
                stored = info.file_size - f.tell()
            out[info.filename[:-4]] = NpyMember(path, info.filename, tuple(shape), np.dtype(dtype), fortran, stored)
    return out


def image_layout(m: NpyMember) -> tuple[tuple[int, ...], bool] | None:
    """The (C, H, W) an array's rows become as images and whether they are stored HWC, or None when
    the array is not an image array (the rules of :func:`selfsup.data.arrays._as_images_or_vectors`)."""
    s = m.shape
    if m.fortran or m.stored_bytes < m.nbytes or not s or min(s) < 1:  # truncated, empty: the memory path says so
        return None
    if len(s) == 3 and m.dtype == np.uint8:
        return (1, s[1], s[2]), False
    if len(s) == 4 and m.dtype.kind in "uif":
        if s[-1] in (1, 3) and s[1] not in (1, 3):
            return (s[3], s[1], s[2]), True
        return (s[1], s[2], s[3]), False
    return None


def _value_range(m: NpyMember, rows: int) -> tuple[float, float, bool]:
    lo, hi, finite = np.inf, -np.inf, True
    for chunk in m.chunks(rows):
        if chunk.dtype.kind == "f" and not np.isfinite(chunk).all():
            finite = False
            continue
        lo, hi = min(lo, float(chunk.min())), max(hi, float(chunk.max()))
    return lo, hi, finite


def write_npz_images(members: list[NpyMember], f: BinaryIO) -> list[int]:
    """Stream the image arrays ``members`` (x, then x_test) into ``f`` as uint8 NCHW rows, a chunk at a time;
    returns the rows each array gave. Raises UserError when an array is not image data."""
    counts = []
    for m in members:
        layout = image_layout(m)
        if m.fortran or layout is None:
            raise UserError(f"{m.path}: '{m.member or 'x'}' of shape {m.shape} ({m.dtype}) is not a C-ordered "
                            "image array; only images can be cached on disk",
                            hint="use --set data_cache=memory, or save uint8 images (N, C, H, W) or (N, H, W, C)")
        _, hwc = layout
        rows = max(1, CHUNK_BYTES // max(1, int(np.prod(m.shape[1:])) * m.dtype.itemsize))
        scale = None
        if m.dtype != np.uint8:
            lo, hi, finite = _value_range(m, rows)
            if not finite:
                raise UserError(f"{m.path}: '{m.member}' contains NaN or inf values", hint="clean or impute them first")
            if m.dtype.kind == "f" and lo >= 0 and hi <= 1:
                scale = 255.0
            elif m.dtype.kind in "iu" and lo >= 0 and hi <= 255:
                scale = 1.0
            else:
                raise UserError(f"{m.path}: '{m.member}' holds values in [{lo}, {hi}]: not images",
                                hint="only images (uint8, ints in 0..255 or floats in [0, 1]) can be cached on disk; "
                                "use --set data_cache=memory")
        for chunk in m.chunks(rows):
            if m.shape and len(m.shape) == 3:
                chunk = chunk[:, None]
            if hwc:
                chunk = chunk.transpose(0, 3, 1, 2)
            if scale == 255.0:
                chunk = np.round(chunk * 255).astype(np.uint8)
            elif scale == 1.0:
                chunk = chunk.astype(np.uint8)
            f.write(np.ascontiguousarray(chunk, dtype=np.uint8).tobytes())
        counts.append(m.shape[0])
    return counts
