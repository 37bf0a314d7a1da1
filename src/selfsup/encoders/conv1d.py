"""1-D convolutional encoders for time series (B, C, T).

* :class:`StridedConv1d`: CPC's g_enc, a stack of strided convolutions giving one encoding per
  window (``forward_seq`` -> (B, T', D)); ``forward`` mean-pools over time -> (B, D).
* :class:`DilatedConv1d`: TS2Vec-style residual dilated convolutions keeping the time resolution
  (``forward_seq`` -> (B, T, D)); ``forward`` max-pools over time -> (B, D).

Unequal lengths: a series shorter than the batch is right-padded with NaN (the carrier of
``selfsup.data.series``; a step is padding when it is NaN in every channel). Both encoders zero the
padding at their input and again after every layer, so a valid step never sees a padded one through
a convolution: its output equals the output for the unpadded series, whose convolutions see zeros past
its end. Batch-norm statistics and the pooling run over the valid steps only. ``forward_masked``
returns the per-step features with their validity mask (B, T'), for methods that work per step.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from selfsup.functional.padding import (
    masked_max,
    masked_mean,
    split_padding,
    steps_mask,
)


def conv_out_lengths(conv: nn.Conv1d, lengths: Tensor) -> Tensor:
    """Output lengths of ``conv`` for inputs of ``lengths`` (what the unpadded series would give)."""
    k, s, p, d = conv.kernel_size[0], conv.stride[0], conv.padding[0], conv.dilation[0]
    return torch.div(lengths + 2 * p - d * (k - 1) - 1, s, rounding_mode="floor") + 1


class MaskedBatchNorm1d(nn.BatchNorm1d):
    """BatchNorm1d over (B, C, T) whose training statistics use only the valid steps.

    Same parameters and buffers as ``nn.BatchNorm1d`` (state dicts are interchangeable); without a
    mask, or with every step valid, it is ``nn.BatchNorm1d``.
    """

    def forward(self, x: Tensor, valid: Tensor | None = None) -> Tensor:  # type: ignore[override]
        if valid is None or (not self.training and self.track_running_stats) or bool(valid.all()):
            return super().forward(x)
        m = valid.unsqueeze(1).to(x.dtype)  # (B, 1, T)
        n = m.sum()
        mean = (x * m).sum((0, 2)) / n  # (C,)
        var = ((x - mean[None, :, None]).square() * m).sum((0, 2)) / n  # biased, as BatchNorm normalises
        if self.training and self.track_running_stats:
            with torch.no_grad():
                self.num_batches_tracked += 1
                mom = self.momentum if self.momentum is not None else 1.0 / float(self.num_batches_tracked)
                self.running_mean.mul_(1 - mom).add_(mom * mean.detach())
                self.running_var.mul_(1 - mom).add_(mom * var.detach() * n / (n - 1).clamp_min(1))
        y = (x - mean[None, :, None]) / torch.sqrt(var[None, :, None] + self.eps)
        if self.affine:
            y = y * self.weight[None, :, None] + self.bias[None, :, None]
        return y


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
            layers += [nn.Conv1d(c, width, kernel, stride=s, padding=kernel // 2), MaskedBatchNorm1d(width), nn.ReLU()]
            c = width
        self.net = nn.Sequential(*layers)
        self.out_dim = width
        self.downsample = 1
        for s in strides:
            self.downsample *= s

    def forward_masked(self, x: Tensor) -> tuple[Tensor, Tensor | None]:
        """(B, C, T), NaN-padded or not -> ((B, T', D) with padded steps zero, valid (B, T') or None)."""
        h, lengths = split_padding(x.float())
        if lengths is None:
            return self.net(h).transpose(1, 2), None  # (B, T', D)
        mods = list(self.net)
        valid = steps_mask(lengths, h.shape[-1])
        for i in range(0, len(mods), 3):
            conv, bn, act = mods[i:i + 3]
            h = conv(h)
            lengths = conv_out_lengths(conv, lengths)
            valid = steps_mask(lengths, h.shape[-1])  # (B, T')
            h = act(bn(h, valid)) * valid.unsqueeze(1)  # padded steps back to zero before the next conv
        return h.transpose(1, 2), valid

    def forward_seq(self, x: Tensor) -> Tensor:
        return self.forward_masked(x)[0]  # (B, T', D)

    def forward(self, x: Tensor) -> Tensor:
        return masked_mean(*self.forward_masked(x))  # (B, D)


class _DilatedBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int, dilation: int, kernel: int = 3) -> None:
        super().__init__()
        pad = dilation * (kernel - 1) // 2
        self.conv1 = nn.Conv1d(c_in, c_out, kernel, padding=pad, dilation=dilation)
        self.conv2 = nn.Conv1d(c_out, c_out, kernel, padding=pad, dilation=dilation)
        self.skip = nn.Conv1d(c_in, c_out, 1) if c_in != c_out else nn.Identity()

    def forward(self, x: Tensor, valid: Tensor | None = None) -> Tensor:
        """(B, C, T) with padded steps zero -> (B, C', T), padded steps zero again (``valid`` (B, T))."""
        m = None if valid is None else valid.unsqueeze(1).to(x.dtype)  # (B, 1, T)
        h = self.conv1(F.gelu(x))
        if m is not None:
            h = h * m
        h = self.conv2(F.gelu(h))
        h = h + self.skip(x)
        return h if m is None else h * m


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

    def forward_masked(self, x: Tensor, mask: Tensor | None = None) -> tuple[Tensor, Tensor | None]:
        """(B, C, T), NaN-padded or not -> ((B, T, D), valid (B, T) or None).

        ``mask`` (B, T) bool zeroes masked time steps after the input projection (TS2Vec's timestamp
        masking: they stay steps of the series, with their representation); padding is zeroed there too
        and after every block.
        """
        x, lengths = split_padding(x.float())
        h = self.inp(x.transpose(1, 2))  # (B, T, W)
        valid = None if lengths is None else steps_mask(lengths, h.shape[1])  # (B, T)
        keep = valid if mask is None else (mask if valid is None else mask & valid)
        if keep is not None:
            h = h * keep.unsqueeze(-1)
        h = h.transpose(1, 2)  # (B, W, T)
        for block in self.blocks:
            h = block(h, valid)
        return h.transpose(1, 2), valid  # (B, T, D)

    def forward_seq(self, x: Tensor, mask: Tensor | None = None) -> Tensor:
        """(B, C, T) -> (B, T, D); see :meth:`forward_masked`."""
        return self.forward_masked(x, mask)[0]

    def forward(self, x: Tensor) -> Tensor:
        return masked_max(*self.forward_masked(x))  # (B, D)
