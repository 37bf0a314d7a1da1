"""The series `svm` protocol is TS2Vec's fit_svm (Yue et al. 2022, tasks/_eval_protocols.py): C from
{1e-4..1e4, inf} by unshuffled stratified 5-fold CV, and C=inf without CV on small training sets."""

import math

import numpy as np
import torch

from selfsup.eval.series import SVM_C_GRID, svm_accuracy


def _noisy(seed: int, n: int):
    g = np.random.default_rng(seed)
    x = g.normal(size=(n, 5))
    y = (x[:, 0] + 0.8 * g.normal(size=n) > 0).astype(int)
    xt = g.normal(size=(400, 5))
    yt = (xt[:, 0] > 0).astype(int)
    return x, y, xt, yt


def _acc(x, y, xt, yt) -> float:
    return svm_accuracy(torch.tensor(x), torch.tensor(y), torch.tensor(xt), torch.tensor(yt))


def test_grid_has_the_hard_margin():
    assert SVM_C_GRID[:-1] == (1e-4, 1e-3, 1e-2, 1e-1, 1, 10, 100, 1000, 10000)
    assert math.isinf(SVM_C_GRID[-1])


def test_small_training_set_is_hard_margin_without_cv():
    from sklearn.svm import SVC

    x, y, xt, yt = _noisy(0, 40)  # < 50 samples: the paper fits C=inf, no CV (the old code cross-validated: 0.7875)
    hard = float((SVC(C=np.inf, gamma="scale").fit(x, y).predict(xt) == yt).mean())
    assert _acc(x, y, xt, yt) == hard


def test_cv_is_unshuffled_five_fold_over_the_papers_grid():
    from sklearn.model_selection import GridSearchCV
    from sklearn.svm import SVC

    for seed in (0, 4):  # seeds where shuffled folds (the old code) chose another C
        x, y, xt, yt = _noisy(seed, 60)
        ref = GridSearchCV(SVC(gamma="scale"), {"C": [1e-4, 1e-3, 1e-2, 1e-1, 1, 10, 100, 1000, 10000, np.inf]},
                           cv=5).fit(x, y)
        assert _acc(x, y, xt, yt) == float((ref.predict(xt) == yt).mean())
