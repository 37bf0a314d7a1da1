"""Dialogue utterance order (Wu et al., ACL 2019, "Self-supervised dialogue learning"):
is this window of K consecutive utterances in its real order?

Half the windows are shuffled with a non-identity permutation
(:func:`selfsup.augment.text.shuffle_order`); the [CLS] state of
``[CLS] u_1 [SEP] ... u_K [SEP]`` predicts ordered vs shuffled and, optionally, which of
the K! permutations was applied.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from selfsup.augment.text import pack_segments, shuffle_order
from selfsup.config import Checked, bounded
from selfsup.errors import UserError
from selfsup.methods.base import MethodSpec, StepOutput, batch_inputs, register_method
from selfsup.methods.nsp import cls_classifier
from selfsup.methods.text_method import TEXT_OPTIM, TextMethod


@dataclass
class UtteranceOrderConfig(Checked):
    """Utterance-order settings.

    Attributes:
        utterances: K, utterances per window (the data is cut into windows of K).
        p_shuffle: probability that a window is shown shuffled.
        predict_permutation: also classify which of the K! permutations was applied.
        permutation_weight: weight of that loss.
        seed: seed of the shuffling generator.
    """

    utterances: int = bounded(3, ge=2, le=6)
    p_shuffle: float = bounded(0.5, gt=0, lt=1)
    predict_permutation: bool = False
    permutation_weight: float = 1.0
    seed: int = 0


class UtteranceOrder(TextMethod):
    """Binary order verification (and optional permutation classification) on the [CLS] state."""

    def __init__(self, encoder: nn.Module, cfg: UtteranceOrderConfig) -> None:
        super().__init__(encoder, cfg)
        self.order_head = cls_classifier(encoder.out_dim, 2)
        self.perm_head = nn.Linear(encoder.out_dim, math.factorial(cfg.utterances)) if cfg.predict_permutation else None

    def _forward(self, x: Tensor, gen: torch.Generator) -> tuple[Tensor, Tensor, Tensor, Tensor | None]:
        views, ordered, perm_index = shuffle_order(x.long(), self.cfg.p_shuffle, gen)
        ids, seg = pack_segments(views)
        cls = self.encoder.tokens(ids, seg)[:, 0]  # (B, D)
        perm_logits = self.perm_head(cls) if self.perm_head is not None else None
        return self.order_head(cls), ordered, perm_index, perm_logits

    def training_step(self, batch: Any) -> StepOutput:
        x = batch_inputs(batch)  # (B, K, S)
        if x.shape[1] != self.cfg.utterances:
            raise UserError(f"windows hold {x.shape[1]} utterances, the method expects {self.cfg.utterances}")
        logits, ordered, perm_index, perm_logits = self._forward(x, self.generator(x.device))
        loss = F.cross_entropy(logits, ordered)
        logs = {"order_acc": float((logits.argmax(1) == ordered).float().mean())}
        if perm_logits is not None:
            perm_loss = F.cross_entropy(perm_logits, perm_index)
            loss = loss + self.cfg.permutation_weight * perm_loss
            logs["perm_acc"] = float((perm_logits.argmax(1) == perm_index).float().mean())
        logs["loss"] = float(loss.detach())
        return StepOutput(loss, logs)

    @torch.no_grad()
    def heldout_sums(self, x: Tensor, gen: torch.Generator) -> dict[str, float]:
        logits, ordered, perm_index, perm_logits = self._forward(x, gen)
        out = {"order_correct": float((logits.argmax(1) == ordered).sum()), "order_count": float(len(x)),
               "order_majority": float(max(int(ordered.sum()), len(x) - int(ordered.sum())))}
        if perm_logits is not None:
            out["perm_correct"] = float((perm_logits.argmax(1) == perm_index).sum())
        return out


register_method(MethodSpec(
    name="utterance-order", family="temporal", modality="text", config_cls=UtteranceOrderConfig,
    build=UtteranceOrder.build,
    description="dialogue utterance order: K utterances in order or shuffled, [CLS] classifier (Wu et al. 2019)",
    optim_defaults=TEXT_OPTIM,
))
