"""scikit-learn's 8x8 handwritten digits (1,797 images, offline)."""

from __future__ import annotations

import numpy as np
import torch

from selfsup.data.base import ArrayDataset, stratified_split
from selfsup.data.registry import register_dataset


@register_dataset("digits", "sklearn digits 8x8 gray, 1,797 images, 10 classes (fixed stratified 75/25 split)")
def load_digits(**_: object) -> ArrayDataset:
    """Load sklearn's digits as uint8 (N, 1, 8, 8) with a fixed stratified 75/25 split (seed 0)."""
    from sklearn.datasets import load_digits as sk_digits

    d = sk_digits()
    x = np.round(d.images * (255.0 / 16.0)).astype(np.uint8)  # pixel values 0..16 -> 0..255
    y = d.target.astype(np.int64)
    tr, te = stratified_split(y, len(y), 0.25, seed=0)
    t = torch.from_numpy
    return ArrayDataset(
        name="digits",
        x_train=t(x[tr]).unsqueeze(1),
        y_train=t(y[tr]),
        x_test=t(x[te]).unsqueeze(1),
        y_test=t(y[te]),
        classes=[str(i) for i in range(10)],
    )
