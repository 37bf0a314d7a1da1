"""``folder:PATH``: a folder of the user's own images, decoded once into uint8.

Layouts: ``PATH/<class>/*.png`` (labels from sub-folders), ``PATH/*.jpg``
(unlabeled), or ``PATH/train/<class>/...`` + ``PATH/test/<class>/...``.
Every image is resized to ``image_size`` x ``image_size``; gray folders stay
1-channel, anything else becomes RGB.
"""

from __future__ import annotations

from pathlib import Path

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


def decode(paths: list[Path], size: int, skip_bad: bool = False, root: Path | None = None) -> tuple[np.ndarray, list[int]]:
    """Decode and resize images once into a uint8 (N, C, size, size) array.

    Args:
        paths: image files.
        size: side length after resizing.
        skip_bad: skip unreadable files (listed in one warning) instead of raising.
        root: the folder the paths come from (for messages).

    Returns the array and the indices of the paths that were kept.
    """
    from PIL import Image

    errors = image_errors()
    imgs: list[np.ndarray] = []
    kept: list[int] = []
    modes: set[str] = set()
    bad: list[tuple[str, str]] = []
    for i, p in enumerate(tqdm(paths, desc="decoding images", disable=len(paths) < 500, leave=False)):
        try:
            with Image.open(p) as im:
                im.load()
                gray = im.mode in ("L", "1", "I;16", "I;16B", "I;16L", "I", "F")
                im = im.convert("L" if gray else "RGB").resize((size, size), Image.BILINEAR)
                arr = np.asarray(im, dtype=np.uint8)
        except errors as e:
            if not skip_bad:
                raise UserError(f"cannot read image {p}: {type(e).__name__}: {e}", hint=SKIP_HINT) from None
            bad.append((str(p), f"{type(e).__name__}: {e}"))
            continue
        modes.add("L" if gray else "RGB")
        imgs.append(arr)
        kept.append(i)
    warn_skipped("images", bad)
    if not imgs:
        where = f" in {root}" if root is not None else ""
        raise UserError(f"no readable images{where} ({len(paths)} files, all unreadable)",
                        hint="check the files open in an image viewer; supported: " + ", ".join(sorted(EXTS)))
    if modes == {"L"}:
        arr = np.stack(imgs)[:, None]
    else:
        arr = np.stack([np.repeat(a[..., None], 3, -1) if a.ndim == 2 else a for a in imgs]).transpose(0, 3, 1, 2)
    return np.ascontiguousarray(arr), kept


@register_dataset("folder", "your images: PATH/<class>/*.png (or unlabeled PATH/*.jpg), resized to --image-size", prefix=True)
def load_folder(
    path_str: str, image_size: int | None = None, skip_bad_files: bool = False, **_: object
) -> ArrayDataset:
    """Load a folder of images; a ``train``/``test`` pair of sub-folders gives the split,
    otherwise a fixed stratified 80/20 split (seed 0) is made."""
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
        x_tr, k_tr = decode(p_tr, size, skip_bad_files, root / "train")
        x_te, k_te = decode(p_te, size, skip_bad_files, root / "test")
        ytr = None if y_tr is None else np.asarray(y_tr)[k_tr]
        yte = None if y_te is None else np.asarray(y_te)[k_te]
    else:
        paths, labels, classes = scan(root)
        if not paths:
            raise UserError(f"no images ({', '.join(sorted(EXTS))}) found in {root} or its sub-folders")
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
