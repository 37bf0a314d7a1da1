"""An unsupervised patch tracker for tracked-patch learning (Wang & Gupta, 2015).

Moving patches are found from frame differences (no labels, no generator metadata) and
followed by block matching: each patch of frame t is searched for in frame t + 1 within
a +-``radius`` pixel window, by the smallest sum of squared differences (the classic
block-matching estimate of optical flow, per patch). All clips and tracks of a batch
are processed together; only the time loop is in Python.

Positions are (x, y) of a patch's top-left corner, in pixels.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor


@dataclass
class Tracks:
    """Tracks of a batch of clips.

    Attributes:
        positions: (B, K, L, 2) top-left corners (x, y) per track and frame.
        valid: (B, K) whether the track started on enough motion.
        start: (B,) first frame of every clip's tracks.
    """

    positions: Tensor
    valid: Tensor
    start: Tensor


def _gray(frames: Tensor) -> Tensor:
    """(..., C, H, W) uint8/float -> (..., H, W) float in [0, 1]."""
    x = frames.float()
    if frames.dtype == torch.uint8:
        x = x / 255.0
    return x.mean(dim=-3)


def detect_moving_patches(f0: Tensor, f1: Tensor, patch: int, k: int = 2,
                          min_motion: float = 0.02) -> tuple[Tensor, Tensor]:
    """The ``k`` patches with the most change between two frames, without overlap.

    Args:
        f0, f1: (B, C, H, W) consecutive frames.
        patch: patch side length.
        k: patches per clip.
        min_motion: mean absolute difference a patch needs to count as moving.

    Returns:
        positions (B, k, 2) top-left corners (x, y), valid (B, k).
    """
    diff = (_gray(f1) - _gray(f0)).abs().unsqueeze(1)  # (B, 1, H, W)
    score = F.avg_pool2d(diff, patch, stride=1).squeeze(1)  # (B, H-p+1, W-p+1): mean change per patch
    b, hh, ww = score.shape
    ys = torch.arange(hh, device=score.device)[:, None]
    xs = torch.arange(ww, device=score.device)[None]
    pos, valid = [], []
    for _ in range(k):
        flat = score.reshape(b, -1)
        best, arg = flat.max(1)  # (B,)
        y, x = arg // ww, arg % ww
        pos.append(torch.stack([x, y], 1))
        valid.append(best >= min_motion)
        # suppress every window overlapping the chosen patch
        near = ((ys[None] - y[:, None, None]).abs() < patch) & ((xs[None] - x[:, None, None]).abs() < patch)
        score = score.masked_fill(near, float("-inf"))
    return torch.stack(pos, 1), torch.stack(valid, 1)


def crop_patches(frames: Tensor, pos: Tensor, size: int) -> Tensor:
    """Crops of ``size`` x ``size`` at top-left ``pos`` (N, 2); frames (N, H, W) -> (N, size, size).

    Pixels outside the frame read as 0.
    """
    n, h, w = frames.shape
    ar = torch.arange(size, device=frames.device)
    rows = pos[:, 1, None] + ar  # (N, size)
    cols = pos[:, 0, None] + ar
    inside = ((rows >= 0) & (rows < h))[:, :, None] & ((cols >= 0) & (cols < w))[:, None, :]
    r = rows.clamp(0, h - 1)[:, :, None]
    c = cols.clamp(0, w - 1)[:, None, :]
    out = frames[torch.arange(n, device=frames.device)[:, None, None], r, c]  # (N, size, size)
    return out * inside


def block_match(prev: Tensor, nxt: Tensor, pos: Tensor, patch: int, radius: int, levels: int = 2) -> Tensor:
    """Where each patch of ``prev`` went in ``nxt``: coarse-to-fine block matching.

    The shift is first searched on frames downsampled ``2**(levels-1)`` times (a radius
    ``radius / 2**(levels-1)`` there covers ``radius`` pixels), then refined within +-2
    pixels at each finer level, down to full resolution.

    Args:
        prev, nxt: (N, H, W) gray frames (one per track).
        pos: (N, 2) patch top-left corners in ``prev``.
        patch: patch side length.
        radius: largest motion searched, pixels per frame.
        levels: pyramid levels (1 = exhaustive search at full resolution).

    Returns:
        (N, 2) patch top-left corners in ``nxt`` (kept inside the frame).
    """
    h, w = prev.shape[-2:]
    levels = max(1, min(levels, int(math.log2(max(1, patch // 4))) + 1))
    pyr = [(prev, nxt)]
    for _ in range(levels - 1):
        a, b = pyr[-1]
        pyr.append((F.avg_pool2d(a.unsqueeze(1), 2).squeeze(1), F.avg_pool2d(b.unsqueeze(1), 2).squeeze(1)))
    shift = torch.zeros_like(pos)
    for lev in range(levels - 1, -1, -1):
        s = 2**lev
        a, b = pyr[lev]
        r = -(-radius // s) if lev == levels - 1 else 2  # full search at the coarsest level, then refine
        p_lev = torch.div(pos, s, rounding_mode="floor")
        # search around the current estimate: shift the template's target, then add the found correction
        base = torch.div(shift, s, rounding_mode="floor")
        corr = ssd_shift_at(a, b, p_lev, base, patch // s, r)  # (N, 2)
        shift = (base + corr) * s if lev > 0 else base + corr
    new = pos + shift
    new[:, 0] = new[:, 0].clamp(0, w - patch)
    new[:, 1] = new[:, 1].clamp(0, h - patch)
    return new


def ssd_shift_at(prev: Tensor, nxt: Tensor, pos: Tensor, base: Tensor, patch: int, radius: int) -> Tensor:
    """The correction within +-``radius`` of the shift ``base`` that moves the patch of ``prev`` at ``pos``
    onto the most similar patch of ``nxt`` (smallest sum of squared differences).

    Args:
        prev, nxt: (N, H, W) gray frames (one per track).
        pos: (N, 2) patch top-left corners (x, y) in ``prev``.
        base: (N, 2) the shift estimated so far.

    Returns:
        (N, 2) corrections (dx, dy); the shift is ``base + correction``.
    """
    n = prev.shape[0]
    template = crop_patches(prev, pos, patch)  # (N, P, P)
    region = crop_patches(nxt, pos + base - radius, patch + 2 * radius)  # (N, P+2R, P+2R)
    cross = F.conv2d(region.unsqueeze(0), template.unsqueeze(1), groups=n).squeeze(0)  # (N, 2R+1, 2R+1)
    energy = F.avg_pool2d(region.unsqueeze(1) ** 2, patch, stride=1).squeeze(1) * patch * patch
    ssd = (energy - 2 * cross).reshape(n, -1) + (template ** 2).sum((1, 2))[:, None]  # (N, (2R+1)^2) row-major
    side = 2 * radius + 1
    dy, dx = torch.meshgrid(torch.arange(side, device=prev.device) - radius,
                            torch.arange(side, device=prev.device) - radius, indexing="ij")
    # the smallest total motion wins among ties (a still patch stays put); 1e-3 is above float32 rounding
    ssd = ssd + 1e-3 * ((dx.reshape(1, -1) + base[:, :1]).abs() + (dy.reshape(1, -1) + base[:, 1:]).abs())
    best = ssd.argmin(1)
    return torch.stack([best % side - radius, best // side - radius], 1)  # (N, 2)


def track_patches(clips: Tensor, start: Tensor, length: int, patch: int = 32, radius: int = 5, k: int = 2,
                  min_motion: float = 0.02, levels: int = 2) -> Tracks:
    """Find up to ``k`` moving patches at frame ``start`` of every clip and follow them for ``length`` frames.

    Args:
        clips: (B, T, C, H, W) uint8 or float clips.
        start: (B,) first frame per clip (``start + length <= T``).
        length: frames per track (>= 2).
        patch: patch side length (pixels).
        radius: largest per-frame motion searched for (pixels).
        k: tracks per clip.
        min_motion: mean absolute frame difference (in [0, 1] units) a patch needs at the start.
        levels: pyramid levels of the block matching.

    Returns:
        :class:`Tracks`; the positions of invalid tracks stay at their start.
    """
    b, t = clips.shape[:2]
    h, w = clips.shape[-2:]
    if patch > min(h, w):
        raise ValueError(f"patch {patch} is larger than the frames ({h}x{w})")
    if length < 2 or bool((start + length > t).any()):
        raise ValueError(f"tracks of {length} frames starting at {start.tolist()} do not fit in {t} frames")
    dev = clips.device
    start = start.to(dev)
    rows = torch.arange(b, device=dev)
    win = clips[rows[:, None], start[:, None] + torch.arange(length, device=dev)]  # (B, L, C, H, W)
    gray = _gray(win)  # (B, L, H, W)
    pos0, valid = detect_moving_patches(win[:, 0], win[:, 1], patch, k, min_motion)  # (B, K, 2)
    positions = pos0[:, :, None].repeat(1, 1, length, 1)  # (B, K, L, 2)
    bi, ki = torch.nonzero(valid, as_tuple=True)  # only valid tracks are followed
    pos = pos0[bi, ki]
    for i in range(length - 1):
        pos = block_match(gray[bi, i], gray[bi, i + 1], pos, patch, radius, levels)
        positions[bi, ki, i + 1] = pos
    return Tracks(positions, valid, start)


def patch_in_frame(frames: Tensor, pos: Tensor, patch: int) -> Tensor:
    """Keep only the patch at ``pos`` (N, 2) of each frame (N, C, H, W); zero the rest.

    The patch stays where it was in the frame, so a frame encoder sees it at its natural scale.
    """
    n, _, h, w = frames.shape
    ys = torch.arange(h, device=frames.device)[None, :, None]
    xs = torch.arange(w, device=frames.device)[None, None, :]
    x0, y0 = pos[:, 0, None, None], pos[:, 1, None, None]
    mask = (ys >= y0) & (ys < y0 + patch) & (xs >= x0) & (xs < x0 + patch)  # (N, H, W)
    return frames * mask.unsqueeze(1).to(frames.dtype)
