"""1-D convolutional encoders for time series (B, C, T).

* :class:`StridedConv1d`: CPC's g_enc, a stack of strided convolutions giving one encoding per
  window (``forward_seq`` -> (B, T', D)); ``forward`` mean-pools over time -> (B, D).
* :class:`DilatedConv1d`: TS2Vec-style residual dilated convolutions keeping the time resolution
  (``forward_seq`` -> (B, T, D)); ``forward`` max-pools over time -> (B, D).
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn


class StridedConv1d(nn.Module):
    """Strided conv encoder: layers of (conv k=kernel, stride) + BN + ReLU.

    Args:
        in_channels: input channels C.
        width: channels of every layer (= out_dim).
        strides: stride of each layer; the total downsampling is their product.
        kernel: kernel size of each layer.
    """

    def __init__(self, in_channels: int, width: int = 64, strides: tuple[int, ...] = (2, 2), kernel: int = 5) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        c = in_channels
        for s in strides:
            layers += [nn.Conv1d(c, width, kernel, stride=s, padding=kernel // 2), nn.BatchNorm1d(width), nn.ReLU()]
            c = width
        self.net = nn.Sequential(*layers)
        self.out_dim = width
        self.downsample = 1
        for s in strides:
            self.downsample *= s

    def forward_seq(self, x: Tensor) -> Tensor:
        return self.net(x.float()).transpose(1, 2)  # (B, T', D)

    def forward(self, x: Tensor) -> Tensor:
        return self.forward_seq(x).mean(dim=1)  # (B, D)


class _DilatedBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int, dilation: int, kernel: int = 3) -> None:
        super().__init__()
        pad = dilation * (kernel - 1) // 2
        self.conv1 = nn.Conv1d(c_in, c_out, kernel, padding=pad, dilation=dilation)
        self.conv2 = nn.Conv1d(c_out, c_out, kernel, padding=pad, dilation=dilation)
        self.skip = nn.Conv1d(c_in, c_out, 1) if c_in != c_out else nn.Identity()

    def forward(self, x: Tensor) -> Tensor:
        h = self.conv1(F.gelu(x))
        h = self.conv2(F.gelu(h))
        return h + self.skip(x)


class DilatedConv1d(nn.Module):
    """TS2Vec-style encoder: linear input projection + residual dilated conv blocks (dilation 2^i).

    Args:
        in_channels: input channels C.
        width: hidden channels.
        out_dim: output width D.
        depth: number of dilated blocks.
    """

    def __init__(self, in_channels: int, width: int = 64, out_dim: int = 128, depth: int = 6) -> None:
        super().__init__()
        self.inp = nn.Linear(in_channels, width)
        blocks = [_DilatedBlock(width, width, 2**i) for i in range(depth)]
        blocks.append(_DilatedBlock(width, out_dim, 2**depth))
        self.blocks = nn.Sequential(*blocks)
        self.out_dim = out_dim

    def forward_seq(self, x: Tensor, mask: Tensor | None = None) -> Tensor:
        """(B, C, T) -> (B, T, D); ``mask`` (B, T) bool zeroes masked time steps after the input projection."""
        h = self.inp(x.float().transpose(1, 2))  # (B, T, W)
        if mask is not None:
            h = h * mask.unsqueeze(-1)
        return self.blocks(h.transpose(1, 2)).transpose(1, 2)  # (B, T, D)

    def forward(self, x: Tensor) -> Tensor:
        return self.forward_seq(x).amax(dim=1)  # (B, D)
