"""Time series datasets (modality "series", x float32 (N, C, T)).

* ``ucr:NAME``: a UCR/UEA archive set bundled with sktime (offline; univariate or multivariate);
  the official train/test split is kept. A set sktime does not bundle (nor has downloaded before)
  is refused unless the user passed ``--download`` (then sktime downloads it).
* ``mnist1d``: MNIST-1D (Greydanus, 2020) generated offline (4000 train / 1000 test).
* ``series:PATH``: user arrays, ``.npz`` with ``x`` (N, C, T) or (N, T) and optional ``y``,
  ``x_test``, ``y_test``; or a ``.csv`` with one series per row and the label in the first column.

Unequal lengths (``length=``):

* ``mask`` (default): every series is kept as it is, right-padded with NaN to the longest; NaN
  marks "no data here" (the padding), and the series encoders, methods, augmentations and
  protocols derive a mask from it, so padded steps never count as data. Trailing steps that are
  NaN in every channel (an already NaN-padded array) are padding too.
* ``pad`` (right-pad with the last value), ``truncate`` (cut to the shortest), ``resample``
  (linear interpolation to the longest): equal-length arrays, no padding;
* ``error``: refuse unequal lengths.

NaN/inf values inside a series are refused unless ``nan=interpolate`` or ``nan=zero``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from selfsup.data.base import ArrayDataset, stratified_split
from selfsup.data.registry import register_dataset
from selfsup.errors import UserError

LENGTH_OPTIONS = ("mask", "pad", "truncate", "resample", "error")
DEFAULT_LENGTH = "mask"
NAN_OPTIONS = ("error", "interpolate", "zero")


def _fill_nan_1d(v: np.ndarray, how: str) -> np.ndarray:
    bad = ~np.isfinite(v)
    if not bad.any():
        return v
    if how == "zero" or bad.all():
        return np.where(bad, 0.0, v)
    idx = np.arange(len(v))
    return np.interp(idx, idx[~bad], v[~bad])


def _resample_1d(v: np.ndarray, t: int) -> np.ndarray:
    if len(v) == t:
        return v
    if len(v) == 1:
        return np.full(t, v[0])
    return np.interp(np.linspace(0, len(v) - 1, t), np.arange(len(v)), v)


def _strip_trailing_nan(s: np.ndarray) -> np.ndarray:
    """(C, T) -> (C, T') without the trailing steps that are NaN in every channel (padding)."""
    empty = np.isnan(s).all(0)  # (T,)
    if not len(empty) or not empty[-1]:
        return s
    keep = np.flatnonzero(~empty)
    return s[:, : (keep[-1] + 1 if len(keep) else 0)]


def series_lengths(x: np.ndarray) -> np.ndarray:
    """(N, C, T) array of ``to_series_array`` -> (N,) number of valid (non-padding) steps per series."""
    valid = ~np.isnan(x).all(1)  # (N, T)
    t = x.shape[-1]
    return np.where(valid.any(1), t - np.argmax(valid[:, ::-1], axis=1), 0)


def to_series_array(
    seqs: list[np.ndarray] | np.ndarray, *, length: str = DEFAULT_LENGTH, nan: str = "error", source: str = "input",
    target_length: int | None = None,
) -> np.ndarray:
    """Stack series into one float32 (N, C, T) array.

    With ``length="mask"`` (the default) series of unequal lengths are right-padded with NaN to the
    longest (or ``target_length``); the NaN steps are the padding that every series consumer masks.
    Other NaN/inf values are refused unless ``nan`` says how to fill them.

    Args:
        seqs: an (N, C, T) / (N, T) array or a list of (C, T_i) / (T_i,) arrays.
        length: "mask", "pad", "truncate", "resample" or "error" for unequal lengths.
        nan: "error", "interpolate" (linear, per channel) or "zero" for NaN/inf values.
        source: what to call the input in error messages.
        target_length: force every series to this length (with ``length`` != "error"; for "mask", the
            padded length, at least the longest series).
    """
    if length not in LENGTH_OPTIONS:
        raise UserError(f"length={length!r} is not an option", hint=f"use one of {', '.join(LENGTH_OPTIONS)}")
    if nan not in NAN_OPTIONS:
        raise UserError(f"nan={nan!r} is not an option", hint=f"use one of {', '.join(NAN_OPTIONS)}")
    if isinstance(seqs, np.ndarray) and seqs.dtype.kind not in "biuf":
        raise UserError(f"{source}: dtype {seqs.dtype}; expected numbers", hint="save the series as float arrays")
    if isinstance(seqs, np.ndarray) and seqs.ndim == 0:
        raise UserError(f"{source}: a single number, not series", hint="pass x with shape (N, C, T) or (N, T)")
    items = [np.asarray(s, dtype=np.float64) for s in seqs]
    if not items:
        raise UserError(f"{source}: no series")
    items = [s[None] if s.ndim == 1 else s for s in items]
    if any(s.ndim != 2 for s in items):
        raise UserError(f"{source}: each series must be (C, T) or (T,)", hint="pass x with shape (N, C, T)")
    chans = {s.shape[0] for s in items}
    if len(chans) > 1:
        raise UserError(f"{source}: series have different channel counts {sorted(chans)}")
    if 0 in chans:
        raise UserError(f"{source}: series have 0 channels", hint="pass x with shape (N, C, T), C >= 1")
    if length == "mask":
        items = [_strip_trailing_nan(s) if s.shape[1] else s for s in items]
    lens = np.array([s.shape[1] for s in items])
    if lens.min() < 1:
        raise UserError(f"{source}: a series has length 0" + (" (no values before its NaN padding)"
                                                              if length == "mask" else ""))
    f32_max = float(np.finfo(np.float32).max)
    if any(np.abs(s[np.isfinite(s)]).max(initial=0.0) > f32_max for s in items):
        raise UserError(f"{source}: values beyond the float32 range", hint="rescale the series first")
    finite = all(np.isfinite(s).all() for s in items)
    if not finite:
        if nan == "error":
            n_bad = sum(not np.isfinite(s).all() for s in items)
            raise UserError(
                f"{source}: {n_bad} series contain NaN or inf values",
                hint="pass --set nan=interpolate (linear, per channel) or --set nan=zero, or clean the data",
            )
        items = [np.stack([_fill_nan_1d(c, nan) for c in s]) for s in items]
    ragged = lens.min() != lens.max()
    if ragged and length == "error":
        raise UserError(
            f"{source}: series have unequal lengths ({lens.min()}..{lens.max()})",
            hint="leave length at its default (mask: NaN padding that the methods mask), or pass --set length=pad "
                 "(repeat the last value), length=truncate (cut to the shortest) or length=resample "
                 "(interpolate to the longest)",
        )
    t = target_length or (int(lens.min()) if length == "truncate" else int(lens.max()))
    if length == "mask":
        if t < lens.max():
            raise ValueError(f"target_length {t} is shorter than the longest series ({lens.max()})")
        items = [np.pad(s, ((0, 0), (0, t - s.shape[1])), constant_values=np.nan) for s in items]
    elif ragged or target_length:
        if length == "pad":
            items = [np.concatenate([s, np.repeat(s[:, -1:], t - s.shape[1], 1)], 1) if s.shape[1] < t
                     else s[:, :t] for s in items]
        elif length == "truncate":
            items = [s[:, :t] for s in items]
        else:  # resample
            items = [np.stack([_resample_1d(c, t) for c in s]) for s in items]
    return np.ascontiguousarray(np.stack(items), dtype=np.float32)


def _encode_labels(y_train: np.ndarray, y_test: np.ndarray | None) -> tuple[np.ndarray, np.ndarray | None, list[str]]:
    all_y = y_train if y_test is None else np.concatenate([y_train, y_test])
    classes = sorted({str(v) for v in all_y}, key=lambda s: (len(s), s) if s.lstrip("-").isdigit() else (0, s))
    index = {c: i for i, c in enumerate(classes)}
    enc = (lambda a: np.array([index[str(v)] for v in a], dtype=np.int64))
    return enc(y_train), None if y_test is None else enc(y_test), classes


def _sktime_dataset_dirs() -> tuple[Path, Path]:
    """sktime's folder of bundled UCR/UEA sets and its folder of downloaded ones."""
    import sktime.datasets

    root = Path(sktime.datasets.__file__).parent
    return root / "data", root / "local_data"


def _sets_in(folder: Path) -> list[str]:
    """Names of the classification sets in ``folder`` (a NAME/ folder holding NAME_TRAIN.ts and NAME_TEST.ts)."""
    if not folder.is_dir():
        return []
    return sorted(d.name for d in folder.iterdir()
                  if d.is_dir() and (d / f"{d.name}_TRAIN.ts").is_file() and (d / f"{d.name}_TEST.ts").is_file())


def ucr_bundled_names() -> list[str]:
    """The UCR/UEA sets that ship with the installed sktime (readable offline)."""
    return _sets_in(_sktime_dataset_dirs()[0])


def _check_ucr_available(name: str, download_ok: bool) -> None:
    """Refuse a set that sktime would have to download, unless the user allowed downloads."""
    if download_ok:
        return
    bundled, local = _sktime_dataset_dirs()
    offline = set(_sets_in(bundled)) | set(_sets_in(local))
    if name in offline:
        return
    names = ucr_bundled_names()
    close = [n for n in sorted(offline) if n.lower() == name.lower()]
    raise UserError(
        f"UCR/UEA set '{name}' is not bundled with sktime" + (f" (did you mean {close[0]}?)" if close else ""),
        hint=f"bundled (offline, case-sensitive): {', '.join(names) or 'none found'}; pass --download to let sktime "
             "download it from timeseriesclassification.com (nothing is downloaded without --download)",
    )


def _ucr_split(name: str, split: str, download_ok: bool = False) -> tuple[list[np.ndarray], np.ndarray]:
    try:
        from sktime.datasets import load_UCR_UEA_dataset
    except ImportError:
        raise UserError("ucr:NAME needs sktime", hint="pip install 'selfsup[series]'") from None
    _check_ucr_available(name, download_ok)
    try:
        x, y = load_UCR_UEA_dataset(name, split=split, return_X_y=True, return_type="nested_univ")
    except Exception as e:  # sktime raises various errors when a set is neither bundled nor downloadable
        raise UserError(
            f"UCR/UEA set '{name}' could not be loaded ({type(e).__name__}: {e})"[:300],
            hint=f"bundled sets (offline): {', '.join(ucr_bundled_names())}; with --download, check the name "
                 "(case-sensitive) and the network",
        ) from None
    seqs = [np.stack([np.asarray(x.iloc[i, c], dtype=np.float64) for c in range(x.shape[1])]) for i in range(len(x))]
    return seqs, np.asarray(y)


def _common_length(length: str, lens: list[int]) -> int | None:
    """The one length both splits are brought to (None: leave as loaded, for length=error)."""
    if length in ("mask", "pad", "resample"):
        return max(lens)
    return min(lens) if length == "truncate" else None


@register_dataset("ucr", "UCR/UEA time series bundled with sktime (official split), e.g. ucr:GunPoint; "
                         "other archive sets with --download",
                  prefix=True, modality="series")
def load_ucr(name: str, length: str = DEFAULT_LENGTH, nan: str = "error", download_ok: bool = False,
             **_: Any) -> ArrayDataset:
    """Load a UCR/UEA archive set with its official train/test split.

    Only sets bundled with sktime (or already downloaded) are read unless ``download_ok``.
    """
    tr, ytr = _ucr_split(name, "train", download_ok)
    te, yte = _ucr_split(name, "test", download_ok)
    if length == "mask":
        tr, te = [_strip_trailing_nan(s) for s in tr], [_strip_trailing_nan(s) for s in te]
    lens = [s.shape[1] for s in tr + te]
    target = _common_length(length, lens)
    xtr = to_series_array(tr, length=length, nan=nan, source=f"ucr:{name} (train)", target_length=target)
    xte = to_series_array(te, length=length, nan=nan, source=f"ucr:{name} (test)", target_length=target)
    ytr_i, yte_i, classes = _encode_labels(ytr, yte)
    meta = {"source": "sktime bundled UCR/UEA archive", "length": length}
    if length == "mask":
        meta["lengths"] = [int(min(lens)), int(max(lens))]
    return ArrayDataset(
        name=f"ucr:{name}", x_train=torch.from_numpy(xtr), y_train=torch.from_numpy(ytr_i),
        x_test=torch.from_numpy(xte), y_test=torch.from_numpy(yte_i), classes=classes,
        modality="series", meta=meta,
    )


@register_dataset("mnist1d", "MNIST-1D (Greydanus 2020), generated offline: 4000 train / 1000 test, length 40",
                  modality="series")
def load_mnist1d(seed: int = 42, **_: Any) -> ArrayDataset:
    """MNIST-1D from ``mnist1d.data.make_dataset`` with the package's default arguments (no download)."""
    try:
        from mnist1d.data import get_dataset_args, make_dataset
    except ImportError:
        raise UserError("mnist1d needs the mnist1d package", hint="pip install 'selfsup[series]'") from None
    args = get_dataset_args()
    args.seed = int(seed)
    d = make_dataset(args)
    xtr = np.asarray(d["x"], dtype=np.float32)[:, None]
    xte = np.asarray(d["x_test"], dtype=np.float32)[:, None]
    return ArrayDataset(
        name="mnist1d", x_train=torch.from_numpy(xtr), y_train=torch.from_numpy(np.asarray(d["y"], dtype=np.int64)),
        x_test=torch.from_numpy(xte), y_test=torch.from_numpy(np.asarray(d["y_test"], dtype=np.int64)),
        classes=[str(i) for i in range(10)], modality="series", meta={"source": "mnist1d.make_dataset"},
    )


def _read_csv(path: Path) -> tuple[list[np.ndarray], np.ndarray]:
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise UserError(f"{path} is not UTF-8 text ({e.reason} at byte {e.start})",
                        hint="a series CSV holds one series a row: label,v1,v2,... as plain text") from None
    except OSError as e:
        raise UserError(f"cannot read {path}: {e}") from None
    rows, labels = [], []
    for i, line in enumerate(text.splitlines()):
        parts = [p.strip() for p in line.split(",")]
        if not line.strip():
            continue
        try:
            vals = [float(p) if p not in ("", "nan", "NaN") else np.nan for p in parts]
        except ValueError:
            if i == 0:
                continue  # header
            raise UserError(f"{path}: line {i + 1} has a non-numeric value",
                            hint="one series a row: label,v1,v2,... (numbers; empty or nan for missing values)") from None
        if not np.isfinite(vals[0]):
            raise UserError(f"{path}: line {i + 1} has no label (first column)", hint="one series a row: label,v1,v2,...")
        labels.append(vals[0])
        rows.append(np.array(vals[1:]))
    return rows, np.array(labels)


def _series_labels(y: Any, n: int, path: Path, key: str) -> np.ndarray:
    y = np.asarray(y)
    if y.shape != (n,):
        raise UserError(f"{path}: '{key}' has shape {y.shape}; expected ({n},) to match the series",
                        hint="one label per series")
    if y.dtype.kind not in "biufUS":
        raise UserError(f"{path}: '{key}' has dtype {y.dtype}; expected class ids or names")
    if y.dtype.kind == "f" and not np.isfinite(y).all():
        raise UserError(f"{path}: '{key}' has NaN or inf labels", hint="drop the unlabeled series or label them")
    return y


@register_dataset("series", "user time series: .npz with x (N, C, T) [+ y, x_test, y_test] or .csv (label, values...)",
                  prefix=True, modality="series")
def load_series(path_str: str, length: str = DEFAULT_LENGTH, nan: str = "error", **_: Any) -> ArrayDataset:
    """Load user series; without a test split a fixed stratified 80/20 split (seed 0) is made."""
    path = Path(path_str).expanduser()
    if not path.exists():
        raise UserError(f"series file {path} does not exist", hint="pass series:PATH to an .npz or .csv file")
    if path.suffix == ".csv":
        seqs, y = _read_csv(path)
        arrays: dict[str, Any] = {"x": seqs, "y": y}
    else:
        from selfsup.data.arrays import _load_arrays

        arrays = _load_arrays(path)
    if "x" not in arrays:
        raise UserError(f"{path} has no array named 'x'", hint="save with numpy.savez(path, x=series, y=labels)")
    if "y_test" in arrays and "x_test" not in arrays:
        raise UserError(f"{path} has 'y_test' but no 'x_test'", hint="save x_test with y_test, or drop y_test")
    if "x_test" in arrays and ("y" in arrays) != ("y_test" in arrays):
        raise UserError(f"{path}: labels for only one split ('y' and 'y_test' must both be present or both absent)")
    x = to_series_array(arrays["x"], length=length, nan=nan, source=f"{path} 'x'")
    y = _series_labels(arrays["y"], len(x), path, "y") if "y" in arrays else None
    if "x_test" in arrays:
        xt = to_series_array(arrays["x_test"], length=length, nan=nan, source=f"{path} 'x_test'",
                             target_length=x.shape[2] if length not in ("error", "mask") else None)
        if length == "mask" and xt.ndim == 3 and xt.shape[1] == x.shape[1] and xt.shape[2] != x.shape[2]:
            t = max(x.shape[2], xt.shape[2])  # both splits NaN-padded to one length
            x, xt = (np.pad(a, ((0, 0), (0, 0), (0, t - a.shape[2])), constant_values=np.nan) for a in (x, xt))
        if xt.shape[1:] != x.shape[1:]:
            raise UserError(f"{path}: x_test shape {xt.shape} does not match x {x.shape}",
                            hint="x and x_test need the same channels; pass --set length=resample to bring both "
                                 "to one length")
        yt = _series_labels(arrays["y_test"], len(xt), path, "y_test") if "y_test" in arrays else None
        x_tr, x_te, y_tr, y_te = x, xt, y, yt
    else:
        tr, te = stratified_split(None if y is None else y.astype(str), len(x), 0.2, seed=0) \
            if len(x) >= 5 else (np.arange(len(x)), np.arange(0))
        x_tr, x_te = x[tr], x[te]
        y_tr, y_te = (None, None) if y is None else (y[tr], y[te])
    classes = None
    if y_tr is not None:
        y_tr, y_te, classes = _encode_labels(y_tr, y_te)
    t = (lambda a: None if a is None else torch.from_numpy(a))
    return ArrayDataset(
        name=f"series:{path}", x_train=torch.from_numpy(x_tr), y_train=t(y_tr), x_test=torch.from_numpy(x_te),
        y_test=t(y_te), classes=classes, modality="series", meta={"source": str(path), "length": length},
    )
