"""DINO's self-distillation loss (Caron et al. 2021, "Emerging Properties in Self-Supervised Vision
Transformers", Algorithm 1 and eq. 2-3), as pure functions.

A teacher network sees the ``G`` global crops of each image, a student network sees all ``V``
crops (the same ``G`` global crops first, then the local ones). Each network ends in ``K`` logits.
The teacher's output is *centred* (a running mean of its outputs, the centre ``c``, is subtracted:
no single dimension can dominate) and *sharpened* (a low temperature ``tau_t``: no uniform
collapse); the two together keep the targets from collapsing. The student is trained to match,
with cross-entropy, the teacher's distribution of every *other* crop of the same image::

    P_t(i) = softmax((g_t(crop_i) - c) / tau_t)          i = 1..G   (no gradient)
    log P_s(j) = log_softmax(g_s(crop_j) / tau_s)         j = 1..V
    L = mean over images and over pairs (i, j), j != i, of  - sum_k P_t(i)_k log P_s(j)_k

There are ``G * V - G`` pairs (a global crop is never compared with itself). What is compared is
two crops of the same image; there are no negatives: the centring and sharpening prevent collapse.
"""

from __future__ import annotations

import torch
from torch import Tensor

from selfsup.functional.precision import float32_loss


@float32_loss
def sharpened_centred_softmax(teacher_logits: Tensor, center: Tensor, temperature: float) -> Tensor:
    """The teacher's targets ``softmax((teacher_logits - center) / temperature)`` over the last dim.

    Args:
        teacher_logits: (..., K).
        center: (K,) or (1, K), the running mean of the teacher's logits.
        temperature: the teacher temperature ``tau_t`` (low: sharp targets).

    Returns:
        Probabilities (..., K), summing to 1 over K.
    """
    return torch.softmax((teacher_logits - center) / temperature, dim=-1)


@float32_loss
def dino_loss(student_logits: Tensor, teacher_probs: Tensor) -> Tensor:
    """Mean cross-entropy between the teacher's targets of each global crop and the student's
    distribution of every other crop of the same image.

    Args:
        student_logits: (V, B, K) the student's logits already divided by the student temperature
            ``tau_s``, crop-major; crops ``0..G-1`` are the global crops the teacher saw, in the same order.
        teacher_probs: (G, B, K) the teacher's centred, sharpened probabilities
            (:func:`sharpened_centred_softmax`), treated as constants (no gradient flows into them).

    Returns:
        Scalar: ``- sum_k P_t(i)_k log P_s(j)_k`` averaged over the B images and the ``G * V - G``
        pairs ``(i, j)`` with ``j != i``.
    """
    v, g = student_logits.shape[0], teacher_probs.shape[0]
    if g > v or student_logits.shape[1:] != teacher_probs.shape[1:]:
        raise ValueError(f"need (V, B, K) student and (G, B, K) teacher with G <= V; got "
                         f"{tuple(student_logits.shape)}, {tuple(teacher_probs.shape)}")
    if g * v - g == 0:
        raise ValueError("DINO needs at least one pair of different crops (2 global crops, or 1 global + 1 local)")
    log_p = torch.log_softmax(student_logits, dim=-1)  # (V, B, K)
    # ce[i, j] = mean over images of - sum_k P_t(i) log P_s(j)
    ce = -torch.einsum("ibk,jbk->ij", teacher_probs.detach(), log_p) / student_logits.shape[1]  # (G, V)
    same = torch.eye(g, v, dtype=torch.bool, device=ce.device)  # (G, V): pair (i, i) is a crop with itself
    return ce.masked_fill(same, 0.0).sum() / (g * v - g)


def centre_update(center: Tensor, batch_mean: Tensor, momentum: float) -> Tensor:
    """The new centre ``momentum * center + (1 - momentum) * batch_mean`` (eq. 4 of the paper);
    ``batch_mean`` (K,) is the mean of the teacher's logits over the *whole* (global) batch."""
    return center * momentum + batch_mean * (1.0 - momentum)
