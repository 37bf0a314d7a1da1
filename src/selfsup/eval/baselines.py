"""Honest baselines through the same harness: raw input, PCA, GMM and k-means features
(encoders/fitted.py), a randomly initialised encoder (and supervised training from
scratch, in :mod:`selfsup.eval.finetune`)."""

from __future__ import annotations

import copy

import torch
from torch import Tensor, nn

from selfsup.eval.features import Featurizer


def raw_features(x: Tensor) -> Tensor:
    """Flattened inputs in [0, 1] (uint8 images) or as given (float arrays)."""
    flat = x.reshape(len(x), -1)
    return flat.float() / 255.0 if x.dtype == torch.uint8 else flat.float()


def fit_pca(train: Tensor, n_components: int = 50, seed: int = 0) -> tuple[Tensor, Tensor]:
    """Mean and (D, k) projection of the top-k principal components of ``train``."""
    k = min(n_components, train.shape[1], len(train))
    mean = train.mean(0, keepdim=True)
    torch.manual_seed(seed)
    _, _, v = torch.pca_lowrank(train - mean, q=min(k + 10, min(train.shape)), center=False, niter=4)
    return mean, v[:, :k]


def pca_features(train: Tensor, test: Tensor, n_components: int = 50, seed: int = 0) -> tuple[Tensor, Tensor]:
    """PCA fitted on the training inputs, applied to both splits."""
    mean, proj = fit_pca(train, n_components, seed)
    return (train - mean) @ proj, (test - mean) @ proj


def random_init(featurizer: Featurizer, seed: int = 0) -> Featurizer:
    """The same encoder architecture with fresh random weights (same preprocessing)."""
    enc = copy.deepcopy(featurizer.encoder)
    torch.manual_seed(seed)
    for m in enc.modules():
        if m is not enc and hasattr(m, "reset_parameters"):
            m.reset_parameters()
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.reset_running_stats()
    return Featurizer(enc, tuple(featurizer.mean.tolist()), tuple(featurizer.std.tolist()), featurizer.size,
                      featurizer.channels_last)


def gmm_features(train: Tensor, test: Tensor, pca_dim: int = 50, mixtures: int = 20,
                 seed: int = 0) -> tuple[Tensor, Tensor]:
    """PCA + Gaussian mixture fitted on the training inputs: projection and responsibilities."""
    from selfsup.encoders.fitted import GMMEncoder

    enc = GMMEncoder(train.shape[1], min(pca_dim, train.shape[1]), mixtures).fit(train, seed=seed)
    with torch.no_grad():
        return enc(train), enc(test)


def kmeans_features(train: Tensor, test: Tensor, pca_dim: int = 50, clusters: int = 100,
                    seed: int = 0) -> tuple[Tensor, Tensor]:
    """PCA + k-means fitted on the training inputs: triangle soft assignments."""
    from selfsup.encoders.fitted import KMeansEncoder

    enc = KMeansEncoder(train.shape[1], min(pca_dim, train.shape[1]), clusters).fit(train, seed=seed)
    with torch.no_grad():
        return enc(train), enc(test)
