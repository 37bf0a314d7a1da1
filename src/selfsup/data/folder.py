"""``folder:PATH``: a folder of the user's own images, decoded once into uint8.

Layouts: ``PATH/<class>/*.png`` (labels from sub-folders), ``PATH/*.jpg``
(unlabeled), or ``PATH/train/<class>/...`` + ``PATH/test/<class>/...``.
Every image is resized to ``image_size`` x ``image_size``; gray folders stay
1-channel, anything else becomes RGB.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import numpy as np
import torch
from tqdm.auto import tqdm

from selfsup.data.base import ArrayDataset, stratified_split
from selfsup.data.registry import register_dataset
from selfsup.errors import UserError, warn_skipped

SKIP_HINT = "remove or fix the file, or pass --skip-bad-files to skip unreadable files with a warning"
EXTS = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm"}


def _images_in(d: Path) -> list[Path]:
    return sorted(p for p in d.iterdir() if p.is_file() and p.suffix.lower() in EXTS)


def scan(root: Path) -> tuple[list[Path], list[int] | None, list[str] | None]:
    """Image paths, labels (or None) and class names under ``root``."""
    subdirs = sorted(d for d in root.iterdir() if d.is_dir() and not d.name.startswith("."))
    labeled = [d for d in subdirs if _images_in(d)]
    if labeled:
        paths, labels = [], []
        for i, d in enumerate(labeled):
            imgs = _images_in(d)
            paths += imgs
            labels += [i] * len(imgs)
        return paths, labels, [d.name for d in labeled]
    return _images_in(root), None, None


def image_errors() -> tuple[type[BaseException], ...]:
    """What Pillow raises for unreadable, corrupt, truncated or oversized image files."""
    import struct

    from PIL import Image, UnidentifiedImageError

    return (UnidentifiedImageError, Image.DecompressionBombError, OSError, EOFError, ValueError, SyntaxError,
            struct.error, IndexError, ZeroDivisionError)


GRAY_MODES = ("L", "1", "I;16", "I;16B", "I;16L", "I", "F")


def decode_one(p: Path, size: int) -> tuple[np.ndarray, bool]:
    """One image resized to ``size`` x ``size``: uint8 (H, W) when gray, else (H, W, 3); and whether gray."""
    from PIL import Image

    with Image.open(p) as im:
        im.load()
        gray = im.mode in GRAY_MODES
        im = im.convert("L" if gray else "RGB").resize((size, size), Image.BILINEAR)
        return np.asarray(im, dtype=np.uint8), gray


def _decode_each(paths: list[Path], size: int, skip_bad: bool, desc: str,
                 bad: list[tuple[str, str]]) -> Iterator[tuple[int, np.ndarray, bool]]:
    """(index, uint8 array, is gray) of each readable image, decoded and resized one at a time; an unreadable
    one raises, or with ``skip_bad`` is listed in ``bad`` (path, reason) and left out."""
    errors = image_errors()
    for i, p in enumerate(tqdm(paths, desc=desc, disable=len(paths) < 500, leave=False)):
        try:
            arr, gray = decode_one(p, size)
        except errors as e:
            if not skip_bad:
                raise UserError(f"cannot read image {p}: {type(e).__name__}: {e}", hint=SKIP_HINT) from None
            bad.append((str(p), f"{type(e).__name__}: {e}"))
            continue
        yield i, arr, gray


def _some_read(n_kept: int, paths: list[Path], root: Path | None) -> None:
    if not n_kept:
        where = f" in {root}" if root is not None else ""
        raise UserError(f"no readable images{where} ({len(paths)} files, all unreadable)",
                        hint="check the files open in an image viewer; supported: " + ", ".join(sorted(EXTS)))


def decode(paths: list[Path], size: int, skip_bad: bool = False, root: Path | None = None) -> tuple[np.ndarray, list[int]]:
    """Decode and resize images once into a uint8 (N, C, size, size) array.

    Args:
        paths: image files.
        size: side length after resizing.
        skip_bad: skip unreadable files (listed in one warning) instead of raising.
        root: the folder the paths come from (for messages).

    Returns the array and the indices of the paths that were kept.
    """
    imgs: list[np.ndarray] = []
    kept: list[int] = []
    modes: set[str] = set()
    bad: list[tuple[str, str]] = []
    for i, arr, gray in _decode_each(paths, size, skip_bad, "decoding images", bad):
        modes.add("L" if gray else "RGB")
        imgs.append(arr)
        kept.append(i)
    warn_skipped("images", bad)
    _some_read(len(kept), paths, root)
    if modes == {"L"}:
        arr = np.stack(imgs)[:, None]
    else:
        arr = np.stack([np.repeat(a[..., None], 3, -1) if a.ndim == 2 else a for a in imgs]).transpose(0, 3, 1, 2)
    return np.ascontiguousarray(arr), kept


def header_gray(paths: list[Path]) -> bool:
    """Whether every image whose header can be read is gray (then the cache holds 1 channel, else 3)."""
    from PIL import Image

    errors = image_errors()
    for p in paths:
        try:
            with Image.open(p) as im:
                if im.mode not in GRAY_MODES:
                    return False
        except errors:
            continue
    return True


def write_decoded(paths: list[Path], size: int, gray: bool, skip_bad: bool, root: Path, f: BinaryIO) -> list[int]:
    """Decode ``paths`` one image at a time into ``f`` as uint8 (C, size, size) rows (C = 1 if ``gray``
    else 3, gray images repeated to RGB as :func:`decode` does); returns the indices of the paths kept."""
    kept: list[int] = []
    bad: list[tuple[str, str]] = []
    for i, arr, is_gray in _decode_each(paths, size, skip_bad, "decoding images to the cache", bad):
        if gray:
            arr = arr[None]
        else:
            arr = np.repeat(arr[None], 3, 0) if is_gray else arr.transpose(2, 0, 1)
        f.write(np.ascontiguousarray(arr).tobytes())
        kept.append(i)
    warn_skipped("images", bad, stacklevel=4)
    _some_read(len(kept), paths, root)
    return kept


def load_folder_cached(root: Path, splits: dict[str, tuple[list[Path], list[int] | None]], classes: list[str] | None,
                       size: int, skip_bad_files: bool, cache_dir: str | None) -> ArrayDataset:
    """The folder decoded once into the on-disk cache (:mod:`selfsup.data.cache`), images read by index.

    ``splits``: ``{"all": (paths, labels)}`` (a seeded 80/20 split is made, as in memory) or
    ``{"train": ..., "test": ...}``."""
    from selfsup.data.cache import build_entry, cache_key, cache_root

    names = list(splits)
    paths = [p for n in names for p in splits[n][0]]
    stem = f"folder-{root.name or 'root'}-{cache_key('folder', paths, {'image_size': size, 'skip_bad': skip_bad_files})}"

    def write(f: BinaryIO) -> dict:
        gray = header_gray(paths)
        rows: dict[str, np.ndarray] = {}
        labels: dict[str, np.ndarray | None] = {}
        offset = 0
        for n in names:
            ps, ys = splits[n]
            kept = write_decoded(ps, size, gray, skip_bad_files, root / n if n != "all" else root, f)
            rows[n] = np.arange(offset, offset + len(kept))
            labels[n] = None if ys is None else np.asarray(ys, dtype=np.int64)[kept]
            offset += len(kept)
        if "all" in rows:
            y = labels["all"]
            tr, te = stratified_split(y, offset, 0.2, seed=0) if offset >= 5 else (np.arange(offset), np.arange(0))
            rows = {"train": tr, "test": te}
            labels = {"train": None if y is None else y[tr], "test": None if y is None else y[te]}
        out = {f"{k}_rows": v for k, v in rows.items()}
        out.update({f"y_{k}": v for k, v in labels.items() if v is not None})
        return {"total": offset, "item_shape": [1 if gray else 3, size, size], "source": str(root), "rows": out}

    entry = build_entry(cache_root(cache_dir), stem, write)
    t = (lambda a: None if a is None else torch.from_numpy(np.asarray(a, dtype=np.int64)))
    return ArrayDataset(
        name=f"folder:{root}", x_train=entry.images("train"), y_train=t(entry.labels("train")),
        x_test=entry.images("test"), y_test=t(entry.labels("test")), classes=classes,
        meta={"source": str(root), "cache": str(entry.data)},
    )


@register_dataset("folder", "your images: PATH/<class>/*.png (or unlabeled PATH/*.jpg), resized to --image-size", prefix=True)
def load_folder(
    path_str: str, image_size: int | None = None, skip_bad_files: bool = False, data_cache: str = "auto",
    cache_dir: str | None = None, **_: object
) -> ArrayDataset:
    """Load a folder of images; a ``train``/``test`` pair of sub-folders gives the split,
    otherwise a fixed stratified 80/20 split (seed 0) is made.

    ``data_cache``: ``memory`` decodes into a tensor, ``disk`` into the on-disk cache in ``cache_dir``
    (:mod:`selfsup.data.cache`), ``auto`` the disk cache when the decoded images would not fit in memory."""
    from selfsup.data.cache import check_mode, use_disk

    mode = check_mode(data_cache)
    root = Path(path_str).expanduser()
    if not root.is_dir():
        raise UserError(f"image folder {root} does not exist or is not a folder", hint="pass folder:PATH to a directory of images")
    size = int(image_size or 32)
    if size < 4:
        raise UserError(f"--image-size must be at least 4, got {size}")
    if (root / "train").is_dir() and (root / "test").is_dir():
        p_tr, y_tr, classes = scan(root / "train")
        p_te, y_te, classes_te = scan(root / "test")
        if classes != classes_te:
            raise UserError(f"{root}/train and {root}/test have different class folders")
        for sub, found in (("train", p_tr), ("test", p_te)):
            if not found:
                raise UserError(f"no images ({', '.join(sorted(EXTS))}) found in {root / sub} or its sub-folders")
        if use_disk(mode, (len(p_tr) + len(p_te)) * 3 * size * size):
            return load_folder_cached(root, {"train": (p_tr, y_tr), "test": (p_te, y_te)}, classes, size,
                                      skip_bad_files, cache_dir)
        x_tr, k_tr = decode(p_tr, size, skip_bad_files, root / "train")
        x_te, k_te = decode(p_te, size, skip_bad_files, root / "test")
        ytr = None if y_tr is None else np.asarray(y_tr)[k_tr]
        yte = None if y_te is None else np.asarray(y_te)[k_te]
    else:
        paths, labels, classes = scan(root)
        if not paths:
            raise UserError(f"no images ({', '.join(sorted(EXTS))}) found in {root} or its sub-folders")
        if use_disk(mode, len(paths) * 3 * size * size):
            return load_folder_cached(root, {"all": (paths, labels)}, classes, size, skip_bad_files, cache_dir)
        x, kept = decode(paths, size, skip_bad_files, root)
        y = None if labels is None else np.asarray(labels)[kept]
        tr, te = stratified_split(y, len(x), 0.2, seed=0) if len(x) >= 5 else (np.arange(len(x)), np.arange(0))
        x_tr, x_te = x[tr], x[te]
        ytr = None if y is None else y[tr]
        yte = None if y is None else y[te]
    t = (lambda a: None if a is None else torch.from_numpy(np.asarray(a, dtype=np.int64)))
    return ArrayDataset(
        name=f"folder:{root}", x_train=torch.from_numpy(x_tr), y_train=t(ytr),
        x_test=torch.from_numpy(x_te), y_test=t(yte), classes=classes, meta={"source": str(root)},
    )
