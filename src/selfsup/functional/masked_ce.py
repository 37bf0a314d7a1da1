"""Cross-entropy on selected positions only (masked language modelling)."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

from selfsup.functional.precision import float32_loss


@float32_loss
def masked_ce(logits: Tensor, labels: Tensor, ignore_index: int = -100) -> Tensor:
    """Mean cross-entropy over the positions whose label is not ``ignore_index``.

    Masked LM (Devlin et al., 2019): the model predicts the original token only where the
    input was selected for corruption; every other position carries ``ignore_index``.

    Args:
        logits: (..., V) unnormalised scores.
        labels: (...) target ids, ``ignore_index`` where there is no target.
        ignore_index: the "no target" label.

    Returns:
        A scalar: the mean over targeted positions, or 0 (still connected to the graph)
        when there is none.
    """
    flat_logits = logits.reshape(-1, logits.shape[-1])
    flat_labels = labels.reshape(-1)
    if not (flat_labels != ignore_index).any():
        return flat_logits.sum() * 0.0
    return F.cross_entropy(flat_logits, flat_labels, ignore_index=ignore_index)
