"""Masked-image modelling math (MAE, He et al. 2022): patches as rows, per-patch normalised
targets, the reconstruction error on the masked patches only. Pure functions, torch only."""

from __future__ import annotations

import torch
from torch import Tensor


def patchify(x: Tensor, patch: int) -> Tensor:
    """(B, C, H, W) images -> (B, N, patch * patch * C) patches, row-major on the patch grid (the order
    of a ViT's tokens); each row holds a patch's pixels row by row, channels last."""
    b, c, h, w = x.shape
    gh, gw = h // patch, w // patch
    x = x[..., : gh * patch, : gw * patch].reshape(b, c, gh, patch, gw, patch)
    return x.permute(0, 2, 4, 3, 5, 1).reshape(b, gh * gw, patch * patch * c)


def normalize_patches(patches: Tensor, eps: float = 1e-6) -> Tensor:
    """Each patch (last dim) minus its mean, over its standard deviation (MAE's ``norm_pix_loss``:
    the target is the patch's local contrast, not its brightness). (..., P) -> (..., P)."""
    mean = patches.mean(dim=-1, keepdim=True)
    var = patches.var(dim=-1, keepdim=True, unbiased=True)
    return (patches - mean) / (var + eps).sqrt()


def masked_patch_mse(pred: Tensor, target: Tensor, masked: Tensor) -> Tensor:
    """MAE's loss: the mean squared error per pixel, averaged over the masked patches only.

    Args:
        pred: (B, M, P) the decoder's reconstruction of the masked patches, in the order of ``masked``.
        target: (B, N, P) the (normalised) pixels of every patch.
        masked: (B, M) long indices of the masked patches (the visible ones carry no loss).

    Returns:
        The scalar loss.
    """
    idx = masked.unsqueeze(-1).expand(-1, -1, target.shape[-1])  # (B, M, P)
    return ((pred.float() - target.gather(1, idx).float()) ** 2).mean()
