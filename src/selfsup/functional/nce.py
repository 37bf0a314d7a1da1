"""Noise-contrastive estimation for instance discrimination (Wu et al., 2018, "Unsupervised Feature
Learning via Non-Parametric Instance Discrimination", CVPR, section 3.2), and the sampled-softmax
(InfoNCE) loss over the same inputs.

Every training sample i is its own class. With ``f_i`` the current (unit) feature of sample i and
``v_j`` the memory bank's (unit) row of sample j, the paper's non-parametric class probability is::

    P(i | v) = exp(v . f_i / t) / Z

where the partition function ``Z = sum_j exp(v_j . f_i / t)`` over all ``n`` rows is too costly to
compute each step; it is estimated once by Monte Carlo from the first batch,
``Z ~= n * mean_{i, j sampled} exp(v_j . f_i / t)`` (:func:`nce_log_z`), and then kept fixed.
NCE turns the n-way classification into binary "data or noise" decisions, with noise drawn
uniformly (``P_n = 1 / n``) and ``m`` noise samples per data sample::

    h(i, v) = P(i | v) / (P(i | v) + m * P_n)
    loss_i  = -log h(i, v_i) - sum_{j = 1..m} log(1 - h(j, v'_j))

The positive is the pair (f_i, v_i) (sample i's own bank row); the negatives are the pairs
(f_i, v'_j) with ``v'_j`` the bank rows of m noise samples (never i itself). Everything is computed
in log space: ``h = sigmoid(s / t - log Z - log(m / n))``, so ``log h`` and ``log(1 - h)`` are
``logsigmoid(+-...)``, and ``log Z`` is a logsumexp; no ``exp`` is formed, so the loss stays finite
at small temperatures and in reduced precision (inputs are upcast to float32).

Both losses take precomputed similarities (``pos`` (B,), ``neg`` (B, K)) rather than embeddings, so
that each query can have its own negatives without materialising a (B, K, D) tensor of bank rows.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from selfsup.functional.precision import float32_loss


def _check(pos: Tensor, neg: Tensor, temperature: float) -> None:
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    if pos.dim() != 1 or neg.dim() != 2 or neg.shape[0] != pos.shape[0]:
        raise ValueError(f"expected pos (B,) and neg (B, K), got {tuple(pos.shape)} and {tuple(neg.shape)}")
    if neg.shape[1] < 1:
        raise ValueError("need at least one negative (noise sample) per query")


def _reduce(loss: Tensor, reduction: str) -> Tensor:
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    if reduction == "none":
        return loss
    raise ValueError(f"reduction must be 'mean', 'sum' or 'none', got '{reduction}'")


@float32_loss
def nce_log_z(neg: Tensor, temperature: float, num_samples: int) -> Tensor:
    """Monte-Carlo estimate of ``log Z`` (Wu et al., eq. 5-6) from sampled similarities.

    ``Z ~= n * mean(exp(neg / t))``, computed as ``log n + logsumexp(neg / t) - log(neg.numel())``.

    Args:
        neg: (B, K) similarities ``v_j . f_i`` of the batch's features with sampled bank rows (any
            shape works: every entry is one Monte-Carlo sample).
        temperature: t > 0.
        num_samples: n, the number of bank rows (training samples).

    Returns:
        ``log Z``, a float32 (or float64) scalar, detached.
    """
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    if num_samples < 1 or neg.numel() < 1:
        raise ValueError("need num_samples >= 1 and at least one sampled similarity")
    dtype = torch.promote_types(neg.dtype, torch.float32)
    logits = neg.detach().to(dtype).flatten() / temperature  # (B * K,)
    return math.log(num_samples) + torch.logsumexp(logits, dim=0) - math.log(logits.numel())


@float32_loss
def nce_loss(
    pos: Tensor,
    neg: Tensor,
    temperature: float,
    log_z: Tensor | float,
    num_samples: int,
    *,
    reduction: str = "mean",
) -> Tensor:
    """Wu et al.'s NCE loss with a fixed partition-function estimate and uniform noise.

    Args:
        pos: (B,) similarities ``v_i . f_i`` of each feature with its own bank row (the data sample).
        neg: (B, m) similarities ``v'_j . f_i`` with the bank rows of m noise samples per query
            (drawn uniformly; the query's own row excluded).
        temperature: t > 0.
        log_z: ``log Z`` (scalar; see :func:`nce_log_z`), treated as a constant.
        num_samples: n, the number of bank rows; the noise probability is ``P_n = 1 / n``.
        reduction: "mean" (over queries), "sum" or "none" ((B,) per-query losses).

    Returns:
        ``-log h(i, v) - sum_j log(1 - h(j, v'))``, reduced over the batch.
    """
    _check(pos, neg, temperature)
    if num_samples < 1:
        raise ValueError(f"num_samples must be >= 1, got {num_samples}")
    dtype = torch.promote_types(pos.dtype, torch.float32)  # bf16/fp16 -> fp32; fp64 stays
    m = neg.shape[1]
    log_z = torch.as_tensor(log_z, dtype=dtype, device=pos.device).detach()
    shift = log_z + math.log(m / num_samples)  # log(Z * m * P_n)
    d_pos = pos.to(dtype) / temperature - shift  # (B,)   logit of h(i, v):  log P(i|v) - log(m P_n)
    d_neg = neg.to(dtype) / temperature - shift  # (B, m) logit of h(j, v')
    loss = -F.logsigmoid(d_pos) - F.logsigmoid(-d_neg).sum(dim=1)  # (B,)
    return _reduce(loss, reduction)


@float32_loss
def info_nce_scores(pos: Tensor, neg: Tensor, temperature: float, *, reduction: str = "mean") -> Tensor:
    """InfoNCE (sampled softmax) over precomputed similarities, with negatives per query.

    ``loss_i = -log exp(pos_i / t) / (exp(pos_i / t) + sum_k exp(neg_ik / t))``, the same loss as
    :func:`selfsup.functional.info_nce` (van den Oord et al., 2018) once the similarities are
    formed; here the positive is the query's own bank row and the negatives its sampled rows.
    Computed as a cross-entropy over ``[pos, neg] / t`` with target 0 (no explicit ``exp``).

    Args:
        pos: (B,) similarity of each query with its positive.
        neg: (B, K) similarities with the query's K negatives.
        temperature: t > 0.
        reduction: "mean", "sum" or "none" ((B,) per-query losses).
    """
    _check(pos, neg, temperature)
    dtype = torch.promote_types(pos.dtype, torch.float32)
    logits = torch.cat([pos.to(dtype)[:, None], neg.to(dtype)], dim=1) / temperature  # (B, 1 + K)
    target = torch.zeros(pos.shape[0], dtype=torch.long, device=pos.device)
    return F.cross_entropy(logits, target, reduction=reduction)
