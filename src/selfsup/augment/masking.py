"""Input corruptions for (denoising / masked) autoencoders. Batched, on the input's device,
drawn from one ``torch.Generator``. Inputs are normalised float tensors (B, C, ...)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def gaussian_noise(x: Tensor, std: float, gen: torch.Generator) -> Tensor:
    """``x + std * N(0, 1)``, independently per element."""
    return x + std * torch.randn(x.shape, generator=gen, device=x.device, dtype=x.dtype)


def pixel_mask(x: Tensor, p: float, gen: torch.Generator) -> tuple[Tensor, Tensor]:
    """Zero each input position (all channels together; each feature of a (B, D) vector)
    with probability ``p``.

    Returns:
        (corrupted x, mask (B, 1, ...) or (B, D) float with 1 where the input was zeroed).
    """
    shape = x.shape if x.dim() == 2 else (x.shape[0], 1, *x.shape[2:])
    mask = (torch.rand(shape, generator=gen, device=x.device) < p).to(x.dtype)
    return x * (1 - mask), mask


def patch_mask(x: Tensor, patch: int, ratio: float, gen: torch.Generator) -> tuple[Tensor, Tensor]:
    """MAE-style masking of (B, C, H, W) images: the image is cut into ``patch x patch``
    patches (the last partial row/column of patches included) and exactly
    ``round(ratio * n_patches)`` random patches of each image are zeroed.

    Returns:
        (masked x, mask (B, 1, H, W) float with 1 on masked pixels).
    """
    b, _, h, w = x.shape
    gh, gw = -(-h // patch), -(-w // patch)
    n = gh * gw
    k = int(round(ratio * n))
    order = torch.rand((b, n), generator=gen, device=x.device).argsort(dim=1)  # (B, n) random permutation
    grid = torch.zeros((b, n), device=x.device, dtype=x.dtype)
    grid.scatter_(1, order[:, :k], 1.0)  # k masked patches per image
    mask = F.interpolate(grid.view(b, 1, gh, gw), scale_factor=patch, mode="nearest")[:, :, :h, :w]
    return x * (1 - mask), mask
