"""Sentence classification under the low-label protocol (class-balanced label subsets over
seeds): bag-of-words logistic regression and averaged word vectors as baselines. Fine-tuning (the
pretrained encoder and the same Transformer from scratch) is the one recipe of
:mod:`selfsup.eval.finetune`, with its text preset :class:`~selfsup.eval.finetune.TextFinetuneConfig`."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence

import numpy as np
import torch
from torch import Tensor

from selfsup.data.text import word_tokens
from selfsup.eval.finetune import TextFinetuneConfig, finetune_or_scratch  # noqa: F401  (kept importable here)

BOW_C_GRID = (0.1, 1.0, 10.0, 100.0)


def bow_logreg_accuracy(train_texts: Sequence[str], y_train: np.ndarray, test_texts: Sequence[str],
                        y_test: np.ndarray, seed: int = 0) -> float:
    """TF-IDF bag of words (unigrams + bigrams) and multinomial logistic regression.

    The inverse regularisation C is picked by stratified cross-validation on the training
    labels (up to 3 folds; C=10 when a class has a single example)."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GridSearchCV, StratifiedKFold

    vec = TfidfVectorizer(tokenizer=word_tokens, token_pattern=None, lowercase=False, ngram_range=(1, 2),
                          min_df=1, sublinear_tf=True)
    xtr = vec.fit_transform(train_texts)
    xte = vec.transform(test_texts)
    counts = np.bincount(y_train)
    counts = counts[counts > 0]
    if len(counts) < 2:
        return float((y_test == y_train[0]).mean())
    folds = int(min(3, counts.min()))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if folds < 2:
            clf = LogisticRegression(C=10.0, max_iter=1000).fit(xtr, y_train)
        else:
            cv = StratifiedKFold(folds, shuffle=True, random_state=seed)
            clf = GridSearchCV(LogisticRegression(max_iter=1000), {"C": list(BOW_C_GRID)}, cv=cv, n_jobs=1)
            clf.fit(xtr, y_train)
    return float((clf.predict(xte) == y_test).mean())


def bow_protocol(train_texts: Sequence[str], y_train: np.ndarray, test_texts: Sequence[str], y_test: np.ndarray,
                 labels: Sequence[str], seeds: Sequence[int],
                 log: Callable[[str], None] = lambda s: None) -> dict[str, dict]:
    """{label fraction: {"mean", "std", "values"}} of :func:`bow_logreg_accuracy` on balanced subsets."""
    from selfsup.eval.protocols import label_loop

    def score(idx: Tensor, s: int) -> dict[str, float]:
        i = idx.numpy()
        return {"accuracy": bow_logreg_accuracy([train_texts[j] for j in i], y_train[i], test_texts, y_test, s)}

    return label_loop(torch.as_tensor(y_train), labels, seeds, score, log=log, name="bow-logreg")


def average_word_vectors(texts: Sequence[str], lookup: Callable[[str], np.ndarray | None], dim: int) -> Tensor:
    """(N, dim) mean of the vectors of each text's known words (zeros when none is known)."""
    out = np.zeros((len(texts), dim), dtype=np.float32)
    for i, t in enumerate(texts):
        vecs = [v for v in (lookup(w) for w in word_tokens(t)) if v is not None]
        if vecs:
            out[i] = np.mean(vecs, axis=0)
    return torch.from_numpy(out)
