"""Fashion-MNIST (Xiao et al., 2017) from its idx files.

Searched in order: ``data_dir`` (and ``data_dir/fashion-mnist``),
``$SELFSUP_DATA_DIR`` (and ``.../fashion-mnist``), the Debian package's
``/usr/share/datasets/fashion-mnist``, and the download cache
``~/.cache/selfsup/fashion-mnist``. Downloading from the official source (with
MD5 verification) happens only when the caller allows it.
"""

from __future__ import annotations

import gzip
import hashlib
import math
import os
import tempfile
import urllib.request
import zlib
from pathlib import Path

import numpy as np
import torch

from selfsup.data.base import ArrayDataset
from selfsup.data.registry import register_dataset
from selfsup.errors import UserError

CLASSES = [
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
]
FILES = {
    "train_x": ("train-images-idx3-ubyte.gz", "8d4fb7e6c68d591d4c3dfef9ec88bf0d"),
    "train_y": ("train-labels-idx1-ubyte.gz", "25c81989df183df01b3e8a0aad5dffbe"),
    "test_x": ("t10k-images-idx3-ubyte.gz", "bef4ecab320f06d8554ea6380940ec79"),
    "test_y": ("t10k-labels-idx1-ubyte.gz", "bb300cfdad3c16e7a12a480ee83cd310"),
}
URL = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"
DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")
CACHE_DIR = Path.home() / ".cache" / "selfsup" / "fashion-mnist"


def candidate_dirs(data_dir: str | os.PathLike | None) -> list[Path]:
    """Directories searched for the idx files, in order."""
    dirs: list[Path] = []
    for base in (data_dir, os.environ.get("SELFSUP_DATA_DIR")):
        if base:
            dirs += [Path(base), Path(base) / "fashion-mnist"]
    return dirs + [DEBIAN_DIR, CACHE_DIR]


def _open(path: Path):
    return gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb")


def read_idx(path: Path) -> np.ndarray:
    """Read an idx file (optionally gzipped) into a numpy array, validating its header."""
    fix = ("the file is corrupt or truncated; delete it and reinstall the dataset package "
           "(apt-get install dataset-fashion-mnist) or re-download with --download")
    try:
        with _open(path) as f:
            data = f.read()
    except (OSError, EOFError, zlib.error) as e:  # gzip.BadGzipFile is an OSError
        raise UserError(f"cannot read {path}: {e}", hint=fix) from None
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] != 0x08:
        raise UserError(f"{path} is not an unsigned-byte idx file", hint=fix)
    ndim = data[3]
    if ndim == 0:
        raise UserError(f"{path} declares 0 dimensions; an idx file holds an array", hint=fix)
    header = 4 + 4 * ndim
    if len(data) < header:
        raise UserError(f"{path} is truncated (incomplete header)", hint=fix)
    shape = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    expected = math.prod(shape)  # exact (Python ints): a forged header must not overflow
    if len(data) - header != expected:
        raise UserError(
            f"{path} has {len(data) - header} data bytes, expected {expected} for shape {shape}", hint=fix)
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(shape)


def _find(name: str, dirs: list[Path]) -> Path | None:
    for d in dirs:
        for cand in (d / name, d / name.removesuffix(".gz")):
            if cand.is_file():
                return cand
    return None


def _md5(path: Path) -> str:
    h = hashlib.md5()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def download(dest: Path = CACHE_DIR) -> None:
    """Download the four idx files from the official source, verifying MD5 sums.

    Each file is written to a temporary name and renamed only once verified.
    """
    dest.mkdir(parents=True, exist_ok=True)
    for fname, md5 in FILES.values():
        target = dest / fname
        if target.is_file() and _md5(target) == md5:
            continue
        fd, tmp = tempfile.mkstemp(dir=dest, prefix=fname + ".", suffix=".part")
        os.close(fd)
        try:
            try:
                urllib.request.urlretrieve(URL + fname, tmp)
            except OSError as e:
                raise UserError(
                    f"downloading {URL + fname} failed: {e}",
                    hint="check the network, or install the Debian package dataset-fashion-mnist",
                ) from None
            got = _md5(Path(tmp))
            if got != md5:
                raise UserError(f"checksum mismatch for {fname}: got {got}, expected {md5}")
            os.replace(tmp, target)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)


@register_dataset("fashion-mnist", "Fashion-MNIST 28x28 gray, 60k train / 10k test, 10 classes (idx files)")
def load_fashion_mnist(
    data_dir: str | None = None, download_ok: bool = False, limit: int | None = None, **_: object
) -> ArrayDataset:
    """Load Fashion-MNIST's official train/test split as uint8 (N, 1, 28, 28).

    Args:
        data_dir: extra directory to search first.
        download_ok: download from the official source if no local copy is found.
        limit: keep only the first ``limit`` training and test images (for quick runs).
    """
    dirs = candidate_dirs(data_dir)
    paths = {k: _find(f, dirs) for k, (f, _) in FILES.items()}
    if any(p is None for p in paths.values()) and download_ok:
        download()
        paths = {k: _find(f, dirs) for k, (f, _) in FILES.items()}
    missing = [FILES[k][0] for k, p in paths.items() if p is None]
    if missing:
        searched = ", ".join(str(d) for d in dirs)
        raise UserError(
            f"Fashion-MNIST not found (missing {', '.join(missing)}); searched {searched}",
            hint="install the Debian package (sudo apt-get install dataset-fashion-mnist), "
            "pass --data-dir DIR holding the idx files, set SELFSUP_DATA_DIR, or allow download with --download",
        )
    arrays = {k: read_idx(p) for k, p in paths.items()}  # type: ignore[arg-type]
    for split in ("train", "test"):
        x, y = arrays[f"{split}_x"], arrays[f"{split}_y"]
        px, py = paths[f"{split}_x"], paths[f"{split}_y"]
        fix = "the idx files are corrupt or mixed up; reinstall the dataset package or re-download with --download"
        if x.ndim != 3 or 0 in x.shape:
            raise UserError(f"{px}: images have shape {x.shape}; expected (N, H, W) with N >= 1", hint=fix)
        if y.ndim != 1 or len(x) != len(y):
            raise UserError(f"{py}: labels have shape {y.shape}; expected ({len(x)},) to match the "
                            f"{len(x)} images of {px}", hint=fix)
        if y.max() >= len(CLASSES):
            raise UserError(f"{py}: labels out of range (max {y.max()}, {len(CLASSES)} classes)", hint=fix)
    sl = slice(None) if limit is None else slice(0, limit)

    def t(a: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.array(a[sl]))

    return ArrayDataset(
        name="fashion-mnist",
        x_train=t(arrays["train_x"]).unsqueeze(1),
        y_train=t(arrays["train_y"]).long(),
        x_test=t(arrays["test_x"]).unsqueeze(1),
        y_test=t(arrays["test_y"]).long(),
        classes=list(CLASSES),
        meta={"source": str(paths["train_x"].parent)},  # type: ignore[union-attr]
    )
