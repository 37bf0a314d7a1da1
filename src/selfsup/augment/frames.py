"""Labels made from time: frame tuples for order verification and permutation
classification, and anchor/positive/negative frame times for time-contrastive learning.

Everything works on a batch of clips (B, T, C, H, W) at once and draws its randomness
from a ``torch.Generator`` (on the CPU), so the same seed gives the same tuples. The
functions return frame *indices* (B, k) with the generated labels; :func:`gather_frames`
turns indices into frames.
"""

from __future__ import annotations

import itertools

import torch
from torch import Tensor

from selfsup.errors import UserError


def normalize_frames(x: Tensor, mean: Tensor, std: Tensor) -> Tensor:
    """uint8 (..., C, H, W) frames -> float, per-channel normalised."""
    shape = (1,) * (x.dim() - 3) + (-1, 1, 1)
    return (x.float() / 255.0 - mean.view(shape)) / std.view(shape)


def gather_frames(clips: Tensor, idx: Tensor) -> Tensor:
    """Frames ``clips[b, idx[b, j]]``: (B, T, C, H, W), (B, k) -> (B, k, C, H, W)."""
    b = torch.arange(clips.shape[0], device=clips.device)[:, None]
    return clips[b, idx.to(clips.device)]


def motion_energy(clips: Tensor) -> Tensor:
    """Mean absolute difference of consecutive frames, (B, T, C, H, W) -> (B, T - 1) in [0, 1]."""
    x = clips.float()
    if clips.dtype == torch.uint8:
        x = x / 255.0
    return (x[:, 1:] - x[:, :-1]).abs().mean(dim=(2, 3, 4))


def motion_windows(clips: Tensor, span: int, quantile: float, gen: torch.Generator) -> Tensor:
    """Start of a window of ``span`` frames per clip, drawn among the clip's most moving windows.

    A window's motion is the summed :func:`motion_energy` of its frame pairs; windows at or
    above the clip's ``quantile`` of window motions are eligible (``quantile=0``: all).

    Returns:
        (B,) int64 window starts on the CPU.
    """
    b, t = clips.shape[:2]
    if not 2 <= span <= t:
        raise ValueError(f"window span must be in [2, {t}], got {span}")
    e = motion_energy(clips).cpu()  # (B, T-1)
    csum = torch.cat([torch.zeros(b, 1), e.cumsum(1)], dim=1)  # (B, T)
    score = csum[:, span - 1 :] - csum[:, : t - span + 1]  # (B, T-span+1): motion inside each window
    thr = torch.quantile(score, quantile, dim=1, keepdim=True) if quantile > 0 else score.min(1, keepdim=True).values
    eligible = (score >= thr - 1e-12).float()
    return torch.multinomial(eligible, 1, generator=gen).squeeze(1)


def sorted_frames_in_window(starts: Tensor, span: int, k: int, gen: torch.Generator) -> Tensor:
    """``k`` distinct increasing frame indices per clip inside [start, start + span): (B, k)."""
    if k > span:
        raise ValueError(f"cannot draw {k} distinct frames from a window of {span}")
    b = starts.shape[0]
    pick = torch.argsort(torch.rand(b, span, generator=gen), dim=1)[:, :k]  # (B, k) distinct offsets
    return starts[:, None] + pick.sort(dim=1).values


def order_tuples(clips: Tensor, gen: torch.Generator, span: int = 10, quantile: float = 0.5,
                 p_positive: float = 0.5) -> tuple[Tensor, Tensor]:
    """Frame-order verification tuples (Misra et al., 2016, "Shuffle and Learn").

    Five frames a < b < c < d < e are drawn from a high-motion window of ``span`` frames.
    A positive is (b, c, d) or its reverse (d, c, b); a negative puts a frame from outside
    the (b, d) interval in the middle: (b, a, d) or (b, e, d), each also reversed at random
    (the reverse of a wrong order is still wrong, so the direction of time is no cue).

    Returns:
        idx (B, 3) frame indices in presentation order, labels (B,) 1 = correct order.
    """
    b = clips.shape[0]
    starts = motion_windows(clips, span, quantile, gen)
    f = sorted_frames_in_window(starts, span, 5, gen)  # (B, 5): a, b, c, d, e
    fa, fb, fc, fd, fe = f.unbind(1)
    positive = torch.rand(b, generator=gen) < p_positive
    use_a = torch.rand(b, generator=gen) < 0.5
    middle = torch.where(positive, fc, torch.where(use_a, fa, fe))
    idx = torch.stack([fb, middle, fd], dim=1)  # (B, 3)
    reverse = torch.rand(b, generator=gen) < 0.5
    idx = torch.where(reverse[:, None], idx.flip(1), idx)
    return idx, positive.long()


def permutation_classes(n: int) -> Tensor:
    """The permutations of ``n`` frames with a permutation and its reverse merged into one class
    (Lee et al., 2017, "Order Prediction Networks"): (n! / 2, n), each row the lexicographically
    smaller of the pair."""
    if n < 2:
        raise ValueError("need at least 2 frames")
    perms = [p for p in itertools.permutations(range(n)) if p <= p[::-1]]
    return torch.tensor(perms, dtype=torch.long)


def permutation_tuples(clips: Tensor, gen: torch.Generator, n: int = 4, span: int = 10,
                       quantile: float = 0.5) -> tuple[Tensor, Tensor]:
    """N-frame permutation classification: ``n`` increasing frames from a high-motion window,
    shown in the order of a random permutation class (or its reverse).

    Returns:
        idx (B, n) frame indices in presentation order, labels (B,) index into
        :func:`permutation_classes` ``(n)``.
    """
    b = clips.shape[0]
    table = permutation_classes(n)  # (P, n)
    starts = motion_windows(clips, span, quantile, gen)
    f = sorted_frames_in_window(starts, span, n, gen)  # (B, n)
    labels = torch.randint(0, len(table), (b,), generator=gen)
    perm = table[labels]  # (B, n)
    reverse = torch.rand(b, generator=gen) < 0.5
    perm = torch.where(reverse[:, None], perm.flip(1), perm)
    return f.gather(1, perm), labels


def time_contrastive_indices(b: int, t: int, gen: torch.Generator, pos_window: int = 2,
                             neg_gap: int = 8) -> tuple[Tensor, Tensor, Tensor]:
    """Anchor, positive and far-negative frame times per clip (Sermanet et al., 2018).

    The positive is drawn uniformly from the frames within ``pos_window`` of the anchor
    (never the anchor itself); the negative from the frames at least ``neg_gap`` away.
    Anchors are drawn among the frames that have both.

    Returns:
        anchor, positive, negative: (B,) int64 frame indices.
    """
    if not 1 <= pos_window < neg_gap:
        raise ValueError(f"need 1 <= pos_window < neg_gap, got {pos_window}, {neg_gap}")
    times = torch.arange(t)
    dist = (times[:, None] - times[None]).abs()  # (T, T)
    pos_ok = (dist >= 1) & (dist <= pos_window)
    neg_ok = dist >= neg_gap
    anchor_ok = pos_ok.any(1) & neg_ok.any(1)  # (T,)
    if not anchor_ok.any():
        raise UserError(f"clips of {t} frames have no two frames {neg_gap} or more apart (time-contrastive "
                        "needs them for its far negative)",
                        hint=f"lower it with --set neg_gap={max(2, t - 1)} (pos_window must stay below it) or use "
                             f"longer clips")
    anchor = torch.multinomial(anchor_ok.float().expand(b, t), 1, generator=gen).squeeze(1)  # (B,)
    positive = torch.multinomial(pos_ok[anchor].float(), 1, generator=gen).squeeze(1)
    negative = torch.multinomial(neg_ok[anchor].float(), 1, generator=gen).squeeze(1)
    return anchor, positive, negative
