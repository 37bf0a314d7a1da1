"""Classical unsupervised encoders fitted in closed form / by EM, as ``nn.Module``s with
their fitted state in buffers (so a run directory stores them like any trained encoder).

* :class:`PCAEncoder`: ``(x - mean) @ W`` with the top-k principal directions (exact
  eigendecomposition of the covariance, signs fixed so the result is deterministic);
* :class:`GMMEncoder`: PCA, then a Gaussian mixture in the projected space; the feature is
  the projected vector concatenated with the posterior responsibilities (scaled to the
  projected vectors' mean norm so neither block swamps the other);
* :class:`KMeansEncoder`: PCA, then k-means; the feature is the "triangle" soft assignment
  ``max(0, mean_j d_j - d_m)`` over the centroids (Coates, Lee & Ng, 2011).

Inputs of any shape are flattened; uint8 inputs are scaled to [0, 1].
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor, nn


def _flat(x: Tensor) -> Tensor:
    x = x.reshape(len(x), -1)
    return x.float() / 255.0 if x.dtype == torch.uint8 else x.float()


class _Fitted(nn.Module):
    """Buffers whose shapes are only known after fitting: loading a state dict resizes them."""

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):  # type: ignore[override]
        for name, buf in list(self._buffers.items()):
            key = prefix + name
            if buf is not None and key in state_dict and state_dict[key].shape != buf.shape:
                self._buffers[name] = torch.empty_like(state_dict[key], dtype=buf.dtype)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)


class PCAEncoder(_Fitted):
    """Top-``n_components`` principal components of the flattened inputs."""

    def __init__(self, in_dim: int = 0, n_components: int = 50) -> None:
        super().__init__()
        self.register_buffer("mean", torch.zeros(in_dim))
        self.register_buffer("components", torch.zeros(in_dim, n_components))  # (D, k)

    @property
    def out_dim(self) -> int:
        return int(self.components.shape[1])

    @torch.no_grad()
    def fit(self, x: Tensor) -> PCAEncoder:
        """Fit on (N, ...) inputs; deterministic (no randomness involved)."""
        xf = _flat(x).double()
        k = min(self.out_dim, xf.shape[1], len(xf))
        mean = xf.mean(0)
        xc = xf - mean
        cov = xc.T @ xc / max(1, len(xf) - 1)  # (D, D)
        evals, evecs = torch.linalg.eigh(cov)  # ascending
        w = evecs[:, torch.argsort(evals, descending=True)[:k]]  # (D, k)
        sign = torch.sign(w.gather(0, w.abs().argmax(0, keepdim=True)))  # largest entry positive
        self.mean = mean.float()
        self.components = (w * sign).float()
        return self

    def forward(self, x: Tensor) -> Tensor:
        return (_flat(x) - self.mean) @ self.components  # (B, k)


class GMMEncoder(_Fitted):
    """PCA to ``pca_dim`` dims, then a ``mixtures``-component Gaussian mixture (EM, sklearn)."""

    def __init__(self, in_dim: int = 0, pca_dim: int = 50, mixtures: int = 20) -> None:
        super().__init__()
        self.pca = PCAEncoder(in_dim, pca_dim)
        self.register_buffer("means", torch.zeros(mixtures, pca_dim))  # (M, k)
        self.register_buffer("prec_chol", torch.zeros(mixtures, pca_dim, pca_dim))  # (M, k, k)
        self.register_buffer("log_weights", torch.zeros(mixtures))  # (M,)
        self.register_buffer("resp_scale", torch.ones(()))

    @property
    def out_dim(self) -> int:
        return self.pca.out_dim + int(self.means.shape[0])

    @torch.no_grad()
    def fit(self, x: Tensor, covariance: str = "full", max_iter: int = 100, seed: int = 0) -> GMMEncoder:
        from sklearn.mixture import GaussianMixture

        z = self.pca.fit(x)(x).double().numpy()
        m = int(self.means.shape[0])
        gmm = GaussianMixture(m, covariance_type=covariance, max_iter=max_iter, random_state=seed, reg_covar=1e-4)
        gmm.fit(z)
        k = z.shape[1]
        pc = np.asarray(gmm.precisions_cholesky_)
        if covariance == "full":
            chol = pc
        elif covariance == "diag":
            chol = np.stack([np.diag(r) for r in pc])
        elif covariance == "spherical":
            chol = np.stack([np.eye(k) * r for r in pc])
        else:  # tied
            chol = np.repeat(pc[None], m, axis=0)
        self.means = torch.from_numpy(gmm.means_).float()
        self.prec_chol = torch.from_numpy(chol).float()
        self.log_weights = torch.from_numpy(np.log(gmm.weights_)).float()
        self.resp_scale = torch.tensor(float(np.linalg.norm(z, axis=1).mean()))
        return self

    def log_resp(self, z: Tensor) -> Tensor:
        """(B, k) projected inputs -> (B, M) log posterior responsibilities."""
        y = torch.einsum("bk,mkj->bmj", z, self.prec_chol) - torch.einsum("mk,mkj->mj", self.means, self.prec_chol)
        log_det = torch.log(torch.diagonal(self.prec_chol, dim1=-2, dim2=-1)).sum(-1)  # (M,)
        log_p = -0.5 * (y**2).sum(-1) + log_det - 0.5 * z.shape[1] * math.log(2 * math.pi) + self.log_weights
        return torch.log_softmax(log_p, dim=1)

    def forward(self, x: Tensor) -> Tensor:
        z = self.pca(x)  # (B, k)
        return torch.cat([z, self.log_resp(z).exp() * self.resp_scale], dim=1)  # (B, k + M)


class KMeansEncoder(_Fitted):
    """PCA to ``pca_dim`` dims, then k-means with ``clusters`` centroids; triangle features."""

    def __init__(self, in_dim: int = 0, pca_dim: int = 50, clusters: int = 100) -> None:
        super().__init__()
        self.pca = PCAEncoder(in_dim, pca_dim)
        self.register_buffer("centroids", torch.zeros(clusters, pca_dim))  # (M, k)

    @property
    def out_dim(self) -> int:
        return int(self.centroids.shape[0])

    @torch.no_grad()
    def fit(self, x: Tensor, seed: int = 0, n_init: int = 3) -> KMeansEncoder:
        from sklearn.cluster import KMeans

        z = self.pca.fit(x)(x).double().numpy()
        km = KMeans(int(self.centroids.shape[0]), n_init=n_init, random_state=seed).fit(z)
        self.centroids = torch.from_numpy(km.cluster_centers_).float()
        return self

    def forward(self, x: Tensor) -> Tensor:
        d = torch.cdist(self.pca(x), self.centroids)  # (B, M)
        return (d.mean(1, keepdim=True) - d).clamp_min(0)  # (B, M)
