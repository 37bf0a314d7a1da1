"""Batched colour conversion (sRGB <-> CIE Lab, D65) and uniform quantisation.

Used by split-brain autoencoders (Zhang et al., 2017), whose "lab" split predicts the ab
channels from L and L from ab, as classification over quantised bins.
"""

from __future__ import annotations

import torch
from torch import Tensor

# sRGB (linear) -> XYZ, D65 reference white (IEC 61966-2-1)
_RGB_TO_XYZ = (
    (0.4124564, 0.3575761, 0.1804375),
    (0.2126729, 0.7151522, 0.0721750),
    (0.0193339, 0.1191920, 0.9503041),
)
_WHITE_D65 = (0.95047, 1.0, 1.08883)
_DELTA = 6.0 / 29.0


def _srgb_to_linear(c: Tensor) -> Tensor:
    return torch.where(c <= 0.04045, c / 12.92, ((c.clamp_min(0.04045) + 0.055) / 1.055) ** 2.4)


def _linear_to_srgb(c: Tensor) -> Tensor:
    return torch.where(c <= 0.0031308, c * 12.92, 1.055 * c.clamp_min(0.0031308) ** (1 / 2.4) - 0.055)


def _mix(x: Tensor, m: Tensor) -> Tensor:
    """Apply a 3x3 matrix over the channel dim of (B, 3, ...) tensors."""
    return torch.einsum("ij,bj...->bi...", m, x)


def rgb_to_lab(rgb: Tensor) -> Tensor:
    """sRGB in [0, 1] (B, 3, ...) -> CIE Lab (B, 3, ...): L in [0, 100], a and b about [-110, 110]."""
    if rgb.dim() < 2 or rgb.shape[1] != 3:
        raise ValueError(f"rgb_to_lab needs (B, 3, ...) inputs, got {tuple(rgb.shape)}")
    rgb = rgb.float().clamp(0.0, 1.0)
    m = torch.tensor(_RGB_TO_XYZ, dtype=rgb.dtype, device=rgb.device)
    white = torch.tensor(_WHITE_D65, dtype=rgb.dtype, device=rgb.device).view(1, 3, *([1] * (rgb.dim() - 2)))
    xyz = _mix(_srgb_to_linear(rgb), m) / white  # (B, 3, ...)
    f = torch.where(xyz > _DELTA**3, xyz.clamp_min(_DELTA**3) ** (1 / 3), xyz / (3 * _DELTA**2) + 4 / 29)
    fx, fy, fz = f[:, 0], f[:, 1], f[:, 2]
    return torch.stack([116 * fy - 16, 500 * (fx - fy), 200 * (fy - fz)], dim=1)


def lab_to_rgb(lab: Tensor) -> Tensor:
    """CIE Lab (B, 3, ...) -> sRGB (B, 3, ...), clipped to [0, 1] (the inverse of :func:`rgb_to_lab`)."""
    l, a, b = lab[:, 0], lab[:, 1], lab[:, 2]
    fy = (l + 16) / 116
    f = torch.stack([fy + a / 500, fy, fy - b / 200], dim=1)
    xyz = torch.where(f > _DELTA, f**3, 3 * _DELTA**2 * (f - 4 / 29))
    white = torch.tensor(_WHITE_D65, dtype=lab.dtype, device=lab.device).view(1, 3, *([1] * (lab.dim() - 2)))
    m_inv = torch.linalg.inv(torch.tensor(_RGB_TO_XYZ, dtype=torch.float64)).to(lab.dtype).to(lab.device)
    return _linear_to_srgb(_mix(xyz * white, m_inv).clamp(0.0, 1.0)).clamp(0.0, 1.0)


def quantize_uniform(x: Tensor, bins: int, low: float = 0.0, high: float = 1.0) -> Tensor:
    """Index (int64, same shape) of the equal-width bin of [low, high] holding each value;
    values outside the range fall into the first / last bin."""
    idx = torch.floor((x - low) / (high - low) * bins)
    return idx.clamp(0, bins - 1).long()


def quantize_joint(x: Tensor, bins: int, low: float = 0.0, high: float = 1.0) -> Tensor:
    """Joint grid index of a 2-channel tensor (B, 2, ...) -> (B, 1, ...) in [0, bins**2):
    ``index = bin(x[:, 0]) * bins + bin(x[:, 1])`` (the ab grid of colourisation)."""
    if x.shape[1] != 2:
        raise ValueError(f"quantize_joint needs 2 channels, got {x.shape[1]}")
    q = quantize_uniform(x, bins, low, high)
    return (q[:, :1] * bins + q[:, 1:2]).long()


def bin_centers(bins: int, low: float = 0.0, high: float = 1.0) -> Tensor:
    """(bins,) centre value of each bin of :func:`quantize_uniform`."""
    w = (high - low) / bins
    return low + w * (torch.arange(bins, dtype=torch.float32) + 0.5)
