"""Evaluation protocols for time series representations.

* ``svm``: RBF-SVM on the features with C chosen by cross-validation on the training labels
  (the protocol of TS2Vec, Yue et al. 2022, and T-Loss, Franceschi et al. 2019);
* ``linear``: the harness' linear probe;
* baselines: 1-NN (Euclidean) and RBF-SVM on the raw series.

Low-label: each fraction uses a class-balanced subset of the training labels (seeded).
"""

from __future__ import annotations

import warnings

import numpy as np
import torch
from torch import Tensor

from selfsup.eval.linear import linear_probe_accuracy
from selfsup.eval.lowlabel import balanced_subset, mean_std, parse_fraction

SVM_C_GRID = (1e-4, 1e-3, 1e-2, 1e-1, 1, 10, 100, 1000, 10000)


def svm_accuracy(train_x: Tensor, train_y: Tensor, test_x: Tensor, test_y: Tensor, seed: int = 0) -> float:
    """RBF-SVM (gamma="scale") with C from 5-fold CV on the training set (no CV when a class has < 5 samples)."""
    from sklearn.model_selection import GridSearchCV, StratifiedKFold
    from sklearn.svm import SVC

    xtr, ytr = train_x.double().numpy(), train_y.numpy()
    xte, yte = test_x.double().numpy(), test_y.numpy()
    counts = np.bincount(ytr)
    counts = counts[counts > 0]
    if len(counts) < 2:
        return float((yte == ytr[0]).mean())
    folds = int(min(5, counts.min()))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if folds < 2:
            clf = SVC(C=np.inf if False else 1e4, gamma="scale").fit(xtr, ytr)
        else:
            cv = StratifiedKFold(folds, shuffle=True, random_state=seed)
            clf = GridSearchCV(SVC(kernel="rbf", gamma="scale"), {"C": list(SVM_C_GRID)}, cv=cv, n_jobs=1).fit(xtr, ytr)
    return float((clf.predict(xte) == yte).mean())


def one_nn_accuracy(train_x: Tensor, train_y: Tensor, test_x: Tensor, test_y: Tensor) -> float:
    """1-nearest-neighbour accuracy with Euclidean distance."""
    d = torch.cdist(test_x.double(), train_x.double())  # (M, N)
    pred = train_y[d.argmin(1)]
    return float((pred == test_y).double().mean())


def _protocol(name: str, ftr: Tensor, ytr: Tensor, fte: Tensor, yte: Tensor, num_classes: int) -> float:
    if name == "svm":
        return svm_accuracy(ftr, ytr, fte, yte)
    if name == "linear":
        return linear_probe_accuracy(ftr, ytr, fte, yte, num_classes=num_classes)[0]
    if name == "1nn":
        return one_nn_accuracy(ftr, ytr, fte, yte)
    raise ValueError(f"unknown series protocol {name!r}")


def series_protocols(ftr: Tensor, ytr: Tensor, fte: Tensor, yte: Tensor, protocols: tuple[str, ...],
                     labels: tuple[str, ...], seeds: tuple[int, ...], num_classes: int) -> dict[str, dict]:
    """{protocol: {label: {"mean", "std", "values"}}} over label seeds (100% = the official training set)."""
    out: dict[str, dict] = {}
    for p in protocols:
        out[p] = {}
        for lab in labels:
            frac = parse_fraction(lab)
            accs = []
            for s in (seeds if frac < 1 else seeds[:1]):
                idx = balanced_subset(ytr, frac, s) if frac < 1 else torch.arange(len(ytr))
                accs.append(_protocol(p, ftr[idx], ytr[idx], fte, yte, num_classes))
            out[p][lab] = mean_std(accs)
    return out


def flatten_series(x: Tensor) -> Tensor:
    """(N, C, T) -> (N, C * T) raw features."""
    return x.reshape(len(x), -1).float()
