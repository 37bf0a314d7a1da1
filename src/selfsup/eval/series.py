"""Evaluation protocols for time series representations.

* ``svm``: RBF-SVM on the features with C chosen by 5-fold cross-validation on the training labels, as
  TS2Vec's ``fit_svm`` does it (Yue et al. 2022; T-Loss, Franceschi et al. 2019, is similar): see :func:`fit_svm`;
* ``linear``: the harness' linear probe;
* baselines: 1-NN (Euclidean) and RBF-SVM on the raw series. Series of unequal lengths (NaN-padded)
  have no common raw feature space: for the raw baselines every series' real steps are resampled to
  the padded length by linear interpolation (:data:`RAW_UNEQUAL`); :func:`raw_series` also offers
  ``"pad"`` (repeat the last value), the other common choice.

Low-label: each fraction uses a class-balanced subset of the training labels (seeded).
"""

from __future__ import annotations

import warnings

import numpy as np
import torch
from torch import Tensor

from selfsup.functional.padding import series_lengths

SVM_C_GRID = (1e-4, 1e-3, 1e-2, 1e-1, 1, 10, 100, 1000, 10000, float("inf"))
RAW_UNEQUAL = "each series resampled to the padded length (linear interpolation of its real steps)"


def fit_svm(train_x: np.ndarray, train_y: np.ndarray):
    """The RBF-SVM of TS2Vec's classification protocol (Yue et al. 2022), fitted on the training set.

    SVC with gamma="scale"; C from :data:`SVM_C_GRID` (1e-4 .. 1e4 and infinity, i.e. a hard margin) by
    5-fold stratified CV (folds in data order, not shuffled) on the training set, then refitted on all of it.
    A training set of fewer than 50 samples, or of fewer than 5 per class on average, gets C=inf without CV.
    """
    from sklearn.model_selection import GridSearchCV, StratifiedKFold
    from sklearn.svm import SVC

    n, classes = len(train_y), len(np.unique(train_y))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if n // classes < 5 or n < 50:
            return SVC(C=float("inf"), kernel="rbf", gamma="scale").fit(train_x, train_y)
        search = GridSearchCV(SVC(kernel="rbf", gamma="scale"), {"C": list(SVM_C_GRID)}, cv=StratifiedKFold(5),
                              n_jobs=1)
        return search.fit(train_x, train_y).best_estimator_


def svm_accuracy(train_x: Tensor, train_y: Tensor, test_x: Tensor, test_y: Tensor, seed: int = 0) -> float:
    """Test accuracy of :func:`fit_svm` (TS2Vec's protocol; ``seed`` is unused: the CV folds are not shuffled)."""
    xtr, ytr = train_x.double().cpu().numpy(), train_y.cpu().numpy()
    xte, yte = test_x.double().cpu().numpy(), test_y.cpu().numpy()
    if len(np.unique(ytr)) < 2:
        return float((yte == ytr[0]).mean())
    return float((fit_svm(xtr, ytr).predict(xte) == yte).mean())


def svm_select(train_x: Tensor, train_y: Tensor, test_x: Tensor, test_y: Tensor, max_samples: int = 10000,
               seed: int = 0) -> dict[str, float]:
    """:func:`fit_svm` on the labeled subset (C by 5-fold CV on it; the test labels are read once, after),
    on a stratified sample of ``max_samples`` when the subset is larger (as TS2Vec's protocol does):
    ``{"accuracy", "C"}``."""
    xtr, ytr = train_x.double().cpu().numpy(), train_y.cpu().numpy()
    xte, yte = test_x.double().cpu().numpy(), test_y.cpu().numpy()
    if len(np.unique(ytr)) < 2:
        return {"accuracy": float((yte == ytr[0]).mean()), "C": float("nan")}
    if len(ytr) > max_samples:
        from selfsup.eval.selection import validation_split

        _, keep = validation_split(train_y.cpu(), max_samples / len(ytr), seed)
        xtr, ytr = xtr[keep.numpy()], ytr[keep.numpy()]
    clf = fit_svm(xtr, ytr)
    c = float(clf.C)
    return {"accuracy": float((clf.predict(xte) == yte).mean()), "C": c if np.isfinite(c) else "inf"}


def one_nn_accuracy(train_x: Tensor, train_y: Tensor, test_x: Tensor, test_y: Tensor, chunk: int = 2048) -> float:
    """1-nearest-neighbour accuracy with Euclidean distance (test rows in chunks: bounded memory)."""
    tr = train_x.double()
    pred = torch.cat([train_y[torch.cdist(test_x[i:i + chunk].double(), tr).argmin(1)]  # (m,) per chunk
                      for i in range(0, len(test_x), chunk)]) if len(test_x) else train_y[:0]
    return float((pred == test_y).double().mean())


def series_protocols(ftr: Tensor, ytr: Tensor, fte: Tensor, yte: Tensor, protocols: tuple[str, ...],
                     labels: tuple[str, ...], seeds: tuple[int, ...], num_classes: int) -> dict[str, dict]:
    """{protocol: {label: {"mean", "std", "values", "selected"...}}} over label seeds (100% = the official
    training set), through the protocol registry with the choices made inside each labeled subset (an
    inner split for k and L2, 5-fold CV for the SVM's C): series keep their whole training set for 100%."""
    from selfsup.eval.protocols import FeatureSettings, feature_protocols

    return feature_protocols(ftr, ytr, fte, yte, protocols, labels, seeds, num_classes, FeatureSettings(), val=None)


def raw_series(x: Tensor, how: str = "resample") -> Tensor:
    """(N, C, T) NaN-padded series -> (N, C, T) equal-length raw values without NaN.

    ``how="resample"``: each series' real steps linearly interpolated to T steps; ``"pad"``: its last
    real value repeated over the padding. Series without padding are returned as they are.
    """
    x = x.float()
    if not bool(torch.isnan(x).any()):
        return x
    n, c, t = x.shape
    lengths = series_lengths(x).clamp_min(1)  # (N,)
    steps = torch.arange(t, device=x.device, dtype=torch.float64)[None]  # (1, T)
    if how == "resample":
        pos = steps * ((lengths[:, None] - 1).double() / max(t - 1, 1))  # (N, T) where each output step reads
    elif how == "pad":
        pos = torch.minimum(steps, (lengths[:, None] - 1).double())
    else:
        raise ValueError(f"unknown raw series option {how!r}")
    lo = pos.floor().long()
    hi = torch.minimum(lo + 1, lengths[:, None] - 1)
    w = (pos - lo).float()[:, None]  # (N, 1, T)
    take = (lambda i: x.gather(2, i[:, None].expand(n, c, t)))
    return take(lo) * (1 - w) + take(hi) * w


def flatten_series(x: Tensor) -> Tensor:
    """(N, C, T) -> (N, C * T) raw features (unequal lengths: resampled, see :func:`raw_series`)."""
    return raw_series(x).reshape(len(x), -1).float()
