"""Decoders from a feature vector (B, D) back to an input-shaped (or target-shaped) tensor.

* :class:`ConvDecoder` for image-like outputs (C, H, W): Linear -> (4w, ceil(H/4), ceil(W/4))
  -> 2 x [nearest upsample x2, conv3x3, BN, ReLU] -> conv3x3 to C, cropped to (H, W);
* :class:`MLPDecoder` for anything else (vectors, series (C, T)): Linear-BN-ReLU -> Linear,
  reshaped to the output shape.

:func:`build_decoder` picks one by the rank of the output shape. Used by the autoencoders
and split-brain (cross-channel) prediction.
"""

from __future__ import annotations

import math

from torch import Tensor, nn


class ConvDecoder(nn.Module):
    """(B, D) -> (B, C, H, W).

    Args:
        in_dim: feature width D.
        out_shape: (C, H, W).
        width: channels of the last hidden layer (the first has 2 * width).
    """

    def __init__(self, in_dim: int, out_shape: tuple[int, int, int], width: int = 32) -> None:
        super().__init__()
        c, h, w = out_shape
        self.out_shape = tuple(out_shape)
        self.h0, self.w0 = math.ceil(h / 4), math.ceil(w / 4)
        self.c0 = 4 * width
        self.fc = nn.Sequential(nn.Linear(in_dim, self.c0 * self.h0 * self.w0), nn.ReLU(inplace=True))

        def up(c_in: int, c_out: int) -> nn.Sequential:
            return nn.Sequential(nn.Upsample(scale_factor=2, mode="nearest"),
                                 nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out),
                                 nn.ReLU(inplace=True))

        self.net = nn.Sequential(up(self.c0, 2 * width), up(2 * width, width), nn.Conv2d(width, c, 3, padding=1))

    def forward(self, z: Tensor) -> Tensor:
        h = self.fc(z).view(len(z), self.c0, self.h0, self.w0)  # (B, 4w, H/4, W/4)
        out = self.net(h)  # (B, C, 4*ceil(H/4), 4*ceil(W/4))
        return out[:, :, : self.out_shape[1], : self.out_shape[2]]  # (B, C, H, W)


class MLPDecoder(nn.Module):
    """(B, D) -> (B, *out_shape) through one hidden layer."""

    def __init__(self, in_dim: int, out_shape: tuple[int, ...], hidden_dim: int = 512) -> None:
        super().__init__()
        self.out_shape = tuple(out_shape)
        self.net = nn.Sequential(nn.Linear(in_dim, hidden_dim, bias=False), nn.BatchNorm1d(hidden_dim),
                                 nn.ReLU(inplace=True), nn.Linear(hidden_dim, math.prod(out_shape)))

    def forward(self, z: Tensor) -> Tensor:
        return self.net(z).view(len(z), *self.out_shape)


def build_decoder(in_dim: int, out_shape: tuple[int, ...], width: int = 32) -> nn.Module:
    """A :class:`ConvDecoder` for (C, H, W) outputs, else an :class:`MLPDecoder` (hidden 16 * width)."""
    if len(out_shape) == 3:
        return ConvDecoder(in_dim, out_shape, width)  # type: ignore[arg-type]
    return MLPDecoder(in_dim, out_shape, 16 * width)
