"""User arrays: ``npz:PATH`` (arrays ``x`` and optional ``y``, ``x_test``, ``y_test``) or a ``.npy`` of x."""

from __future__ import annotations

import contextlib
import lzma
import tokenize
import zipfile
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import torch

from selfsup.data.base import ArrayDataset, stratified_split
from selfsup.data.registry import register_dataset
from selfsup.errors import UserError

MAX_CLASS_ID = 2**20  # larger ids are almost surely not class indices (raw codes, hashes, corrupt data)
# what numpy (and zipfile under it) raises for non-numpy files, truncated or corrupt archives,
# pickled objects, unparsable .npy headers, headers declaring absurd shapes, and archive members
# marked encrypted or compressed with an unknown method (RuntimeError, NotImplementedError), and
# TypeError from a .npy header dict numpy cannot sort (mixed bytes/str keys)
NUMPY_LOAD_ERRORS = (ValueError, OSError, EOFError, zipfile.BadZipFile, zlib.error, lzma.LZMAError, KeyError,
                     SyntaxError, tokenize.TokenError, MemoryError, RuntimeError, TypeError)
SAVE_HINT = "save with numpy.savez(path, x=..., y=...) (object arrays are refused for safety)"


def _load_arrays(path: Path) -> dict[str, np.ndarray]:
    if not path.exists():
        raise UserError(f"array file {path} does not exist", hint="pass npz:PATH to an existing .npz or .npy file")
    try:
        if path.suffix == ".npy":
            return {"x": np.load(path, allow_pickle=False)}
        with np.load(path, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    except MemoryError as e:  # a well-formed file too large for this process's memory (not a format problem)
        raise UserError(f"the arrays of {path} do not fit in memory: {e}",
                        hint="images can be read from the on-disk uint8 cache instead: --set data_cache=disk "
                             "(data_cache=auto picks it when the decoded images would take more than half of the "
                             "memory available)") from None
    except NUMPY_LOAD_ERRORS as e:
        raise UserError(f"cannot read arrays from {path}: {type(e).__name__}: {e}", hint=SAVE_HINT) from None


def _as_images_or_vectors(x: np.ndarray, path: Path, key: str) -> tuple[torch.Tensor, str]:
    """uint8 images (N, C, H, W) when x looks like images, else float32 vectors."""
    if x.dtype.kind not in "uif" and x.dtype != np.bool_:
        raise UserError(f"{path}: '{key}' has dtype {x.dtype}; expected numbers")
    if x.ndim < 2 or 0 in x.shape:
        raise UserError(f"{path}: '{key}' has shape {x.shape}; expected (N, ...) with N >= 1 and no empty axis",
                        hint=SAVE_HINT)
    if x.dtype.kind == "f" and not np.isfinite(x).all():
        raise UserError(f"{path}: '{key}' contains NaN or inf values", hint="clean or impute them first")
    if x.dtype.kind == "f" and np.abs(x).max() > np.finfo(np.float32).max:
        raise UserError(f"{path}: '{key}' has values beyond the float32 range", hint="rescale the data first")
    if x.ndim == 3 and x.dtype == np.uint8:
        x = x[:, None]
    if x.ndim == 4:
        if x.shape[-1] in (1, 3) and x.shape[1] not in (1, 3):
            x = x.transpose(0, 3, 1, 2)  # NHWC -> NCHW
        if x.dtype == np.uint8:
            return torch.from_numpy(np.ascontiguousarray(x)), "image"
        if x.dtype.kind == "f" and x.min() >= 0 and x.max() <= 1:
            return torch.from_numpy(np.round(x * 255).astype(np.uint8)), "image"
        if x.dtype.kind in "iu" and x.min() >= 0 and x.max() <= 255:
            return torch.from_numpy(x.astype(np.uint8)), "image"
    return torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)), "vector"


def _labels(y: np.ndarray, n: int, path: Path, key: str) -> np.ndarray:
    if y.ndim != 1 or len(y) != n:
        raise UserError(f"{path}: '{key}' has shape {y.shape}; expected ({n},) to match the inputs",
                        hint="one class id per input row")
    if y.dtype.kind == "f":
        if not np.isfinite(y).all() or not np.all(y == np.round(y)):
            raise UserError(f"{path}: '{key}' must hold integer class ids")
    elif y.dtype.kind not in "iu":
        raise UserError(f"{path}: '{key}' has dtype {y.dtype}; expected integer class ids")
    if len(y) and y.min() < 0:
        raise UserError(f"{path}: '{key}' has negative class ids", hint="class ids are 0..K-1")
    if len(y) and y.max() >= MAX_CLASS_ID:
        raise UserError(f"{path}: '{key}' has class id {y.max()}; class ids must be 0..K-1",
                        hint="map labels to 0..K-1 first, e.g. numpy.unique(y, return_inverse=True)[1]")
    return y.astype(np.int64)


def _check_keys(path: Path, keys: Any) -> None:
    if "x" not in keys:
        raise UserError(f"{path} has no array named 'x' (found: {', '.join(keys) or 'none'})",
                        hint="save with numpy.savez(path, x=inputs, y=labels)")
    if "y_test" in keys and "x_test" not in keys:
        raise UserError(f"{path} has 'y_test' but no 'x_test'", hint="save x_test with y_test, or drop y_test")
    if "x_test" in keys and ("y" in keys) != ("y_test" in keys):
        raise UserError(f"{path}: labels for only one split ('y' and 'y_test' must both be present or both absent)",
                        hint="save numpy.savez(path, x=..., y=..., x_test=..., y_test=...)")


def _disk_layout(path: Path, mode: str) -> dict | None:
    """The headers of the arrays when ``mode`` sends them to the disk cache, else None (memory path)."""
    from selfsup.data.cache import image_layout, npy_members, use_disk

    if mode == "memory" or not path.exists():
        return None
    try:
        members = npy_members(path)
    except NUMPY_LOAD_ERRORS as e:
        if mode == "disk":
            raise UserError(f"cannot read arrays from {path}: {type(e).__name__}: {e}", hint=SAVE_HINT) from None
        return None  # the memory path reports it
    x = members.get("x")
    layout = None if x is None else image_layout(x)
    if layout is None:
        if mode == "disk":
            _check_keys(path, members)
            raise UserError(f"{path}: 'x' of shape {x.shape} ({x.dtype}) is not images; only images can be cached "
                            "on disk", hint="use --set data_cache=memory")
        return None
    n = x.shape[0] + (members["x_test"].shape[0] if "x_test" in members else 0)
    return members if use_disk(mode, n * int(np.prod(layout[0]))) else None


def _load_npz_cached(path: Path, members: dict, cache_dir: str | None) -> ArrayDataset:
    """Images of an npz copied a chunk at a time into the on-disk cache (:mod:`selfsup.data.cache`)."""
    from selfsup.data.cache import build_entry, cache_key, cache_root, image_layout, write_npz_images

    _check_keys(path, members)
    x_m, xt_m = members["x"], members.get("x_test")
    if xt_m is not None and image_layout(xt_m) != image_layout(x_m):
        raise UserError(f"{path}: x_test shape {xt_m.shape} does not match x {x_m.shape}")
    with np.load(path, allow_pickle=False) if path.suffix == ".npz" else contextlib.nullcontext({}) as z:
        y = _labels(z["y"], x_m.shape[0], path, "y") if "y" in members else None
        yt = _labels(z["y_test"], xt_m.shape[0], path, "y_test") if "y_test" in members else None
    stem = f"npz-{path.stem}-{cache_key('npz', [path], {})}"

    def write(f: Any) -> dict:
        counts = write_npz_images([x_m] + ([xt_m] if xt_m is not None else []), f)
        n = counts[0]
        if xt_m is not None:
            rows = {"train_rows": np.arange(n), "test_rows": np.arange(n, n + counts[1])}
            labels = {"y_train": y, "y_test": yt}
        else:
            tr, te = stratified_split(y, n, 0.2, seed=0) if n >= 5 else (np.arange(n), np.arange(0))
            rows = {"train_rows": tr, "test_rows": te}
            labels = {"y_train": None if y is None else y[tr], "y_test": None if y is None else y[te]}
        rows.update({k: v for k, v in labels.items() if v is not None})
        return {"total": sum(counts), "item_shape": list(image_layout(x_m)[0]), "source": str(path), "rows": rows}

    entry = build_entry(cache_root(cache_dir), stem, write)
    t = (lambda a: None if a is None else torch.from_numpy(a))
    return ArrayDataset(
        name=f"npz:{path}", x_train=entry.images("train"), y_train=t(entry.labels("train")),
        x_test=entry.images("test"), y_test=t(entry.labels("test")), modality="image",
        meta={"source": str(path), "cache": str(entry.data)},
    )


@register_dataset("npz", "numpy arrays: x (N, ...) and optional y, x_test, y_test (.npz or .npy)", prefix=True)
def load_npz(path_str: str, data_cache: str = "auto", cache_dir: str | None = None, **_: object) -> ArrayDataset:
    """Load user arrays; without ``x_test`` a fixed stratified 80/20 split (seed 0) is made.

    ``data_cache``: ``memory`` loads the arrays into tensors, ``disk`` copies image arrays into the on-disk
    cache in ``cache_dir`` (:mod:`selfsup.data.cache`), ``auto`` does so when they would not fit in memory."""
    from selfsup.data.cache import check_mode

    path = Path(path_str).expanduser()
    members = _disk_layout(path, check_mode(data_cache))
    if members is not None:
        return _load_npz_cached(path, members, cache_dir)
    arrays = _load_arrays(path)
    _check_keys(path, arrays)
    x, modality = _as_images_or_vectors(arrays["x"], path, "x")
    y = _labels(arrays["y"], len(x), path, "y") if "y" in arrays else None
    if "x_test" in arrays:
        xt, mod_t = _as_images_or_vectors(arrays["x_test"], path, "x_test")
        if mod_t != modality or xt.shape[1:] != x.shape[1:]:
            raise UserError(f"{path}: x_test shape {tuple(xt.shape)} does not match x {tuple(x.shape)}")
        yt = _labels(arrays["y_test"], len(xt), path, "y_test") if "y_test" in arrays else None
        y_tr, y_te = y, yt
        x_tr, x_te = x, xt
    else:
        tr, te = stratified_split(y, len(x), 0.2, seed=0) if len(x) >= 5 else (np.arange(len(x)), np.arange(0))
        x_tr, x_te = x[tr], x[te]
        y_tr = None if y is None else y[tr]
        y_te = None if y is None else y[te]
    t = (lambda a: None if a is None else torch.from_numpy(a))
    return ArrayDataset(
        name=f"npz:{path}", x_train=x_tr, y_train=t(y_tr), x_test=x_te, y_test=t(y_te),
        modality=modality, meta={"source": str(path)},
    )
