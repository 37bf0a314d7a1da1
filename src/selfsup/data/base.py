"""The in-memory dataset every image/array loader returns."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor


@dataclass
class ArrayDataset:
    """Data decoded once into memory.

    Images are uint8 (N, C, H, W); other arrays float32 (N, ...). Images too large for memory are a
    :class:`selfsup.data.cache.DiskImages` instead of a tensor (read by index from the on-disk cache). Labels are
    int64 (N,) or ``None`` (unlabeled). ``x_test``/``y_test`` hold the official
    test split (or a fixed, seeded split when the source has none).
    """

    name: str
    x_train: Tensor
    y_train: Tensor | None
    x_test: Tensor | None = None
    y_test: Tensor | None = None
    classes: list[str] | None = None
    modality: str = "image"
    meta: dict = field(default_factory=dict)

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.x_train.shape[1:])

    @property
    def labeled(self) -> bool:
        return self.y_train is not None and self.y_test is not None

    @property
    def num_classes(self) -> int:
        if self.classes:
            return len(self.classes)
        ys = [y for y in (self.y_train, self.y_test) if y is not None]
        return int(max(int(y.max()) for y in ys)) + 1 if ys else 0

    def channel_stats(self) -> tuple[tuple[float, ...], tuple[float, ...]]:
        """Per-channel mean and std of the training images, in [0, 1] units."""
        x = self.x_train
        if hasattr(x, "channel_stats"):  # images in the on-disk cache: one streaming pass
            return x.channel_stats(10_000)
        if x.dim() != 4:
            return (0.0,), (1.0,)
        n = min(len(x), 10_000)
        sample = x[:n].float()
        if x.dtype == torch.uint8:
            sample = sample / 255.0
        mean = sample.mean(dim=(0, 2, 3))
        std = sample.std(dim=(0, 2, 3)).clamp_min(1e-3)
        return tuple(mean.tolist()), tuple(std.tolist())

    def summary(self) -> str:
        n_test = 0 if self.x_test is None else len(self.x_test)
        lab = f"{self.num_classes} classes" if self.labeled else "unlabeled"
        return f"{self.name}: {len(self.x_train)} train / {n_test} test, shape {self.input_shape}, {lab}"


def stratified_split(
    y: np.ndarray | None, n: int, test_fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Indices of a fixed, seeded (stratified when labels exist) train/test split."""
    rng = np.random.default_rng(seed)
    if y is None:
        perm = rng.permutation(n)
        k = int(round(n * test_fraction))
        return np.sort(perm[k:]), np.sort(perm[:k])
    train, test = [], []
    for c in np.unique(y):
        idx = rng.permutation(np.flatnonzero(y == c))
        k = int(round(len(idx) * test_fraction))
        test.append(idx[:k])
        train.append(idx[k:])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(test))
