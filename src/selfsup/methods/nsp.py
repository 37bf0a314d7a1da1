"""Next-sentence prediction (Devlin et al., 2019): is B the segment that follows A?

Rows are true (A, next) pairs; half of them get a random segment of the corpus as B
(:func:`selfsup.augment.text.nsp_pairs`); a pooler + classifier on the [CLS] state predicts
"is next" from ``[CLS] A [SEP] B [SEP]``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from selfsup.augment.text import nsp_pairs, pack_segments
from selfsup.config import Checked
from selfsup.methods.base import MethodSpec, StepOutput, batch_inputs, register_method
from selfsup.methods.text_method import TEXT_OPTIM, TextMethod


@dataclass
class NSPConfig(Checked):
    """Next-sentence prediction settings.

    Attributes:
        seed: seed of the pairing generator.
    """

    seed: int = 0


def cls_classifier(dim: int, classes: int) -> nn.Sequential:
    """BERT's pooler (Linear + tanh on the [CLS] state) and a linear classifier."""
    return nn.Sequential(nn.Linear(dim, dim), nn.Tanh(), nn.Linear(dim, classes))


class NextSentencePrediction(TextMethod):
    """[CLS] classifier over true vs random next segments."""

    def __init__(self, encoder: nn.Module, cfg: NSPConfig) -> None:
        super().__init__(encoder, cfg)
        self.nsp_head = cls_classifier(encoder.out_dim, 2)

    def _logits(self, x: Tensor, gen: torch.Generator) -> tuple[Tensor, Tensor]:
        views, is_next, _ = nsp_pairs(x.long(), gen)
        ids, seg = pack_segments(views)
        return self.nsp_head(self.encoder.tokens(ids, seg)[:, 0]), is_next

    def training_step(self, batch: Any) -> StepOutput:
        x = batch_inputs(batch)  # (B, 2, S)
        logits, is_next = self._logits(x, self.generator(x.device))
        loss = F.cross_entropy(logits, is_next)
        return StepOutput(loss, {"loss": float(loss.detach()),
                                 "nsp_acc": float((logits.argmax(1) == is_next).float().mean())})

    @torch.no_grad()
    def heldout_sums(self, x: Tensor, gen: torch.Generator) -> dict[str, float]:
        logits, is_next = self._logits(x, gen)
        return {"nsp_correct": float((logits.argmax(1) == is_next).sum()), "nsp_count": float(len(x))}


register_method(MethodSpec(
    name="nsp", family="temporal", modality="text", config_cls=NSPConfig, build=NextSentencePrediction.build,
    description="next-sentence prediction: true vs random next segment, [CLS] classifier (Devlin et al. 2019)",
    optim_defaults=TEXT_OPTIM,
))
