"""BERT pretraining (Devlin et al., 2019): masked LM and next-sentence prediction together.

One forward pass over ``[CLS] A [SEP] B [SEP]`` with B the true next segment half of the
time and tokens masked 80/10/10; the loss is ``mlm + nsp_weight * nsp``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from selfsup.augment.text import nsp_pairs, pack_segments
from selfsup.config import bounded
from selfsup.methods.base import MethodSpec, StepOutput, batch_inputs, register_method
from selfsup.methods.mlm import MLMConfig, MLMHead, mlm_heldout_sums, mlm_terms
from selfsup.methods.nsp import cls_classifier
from selfsup.methods.text_method import TEXT_OPTIM, TextMethod


@dataclass
class BERTConfig(MLMConfig):
    """BERT settings: the masking of :class:`MLMConfig` (its ``seed`` also draws the sentence pairs)
    and the NSP weight.

    Attributes:
        nsp_weight: weight of the next-sentence loss.
    """

    nsp_weight: float = bounded(1.0, ge=0)


class BERT(TextMethod):
    """Masked LM + next-sentence prediction on one encoder pass."""

    def __init__(self, encoder: nn.Module, cfg: BERTConfig) -> None:
        super().__init__(encoder, cfg)
        self.mlm_head = MLMHead(encoder)
        self.nsp_head = cls_classifier(encoder.out_dim, 2)

    def _terms(self, x: Tensor, gen: torch.Generator) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        views, is_next, _ = nsp_pairs(x.long(), gen)
        ids, seg = pack_segments(views)
        mlm_loss, h, correct, _ = mlm_terms(self.encoder, self.mlm_head, ids, seg, self.cfg, gen)
        return mlm_loss, self.nsp_head(h[:, 0]), is_next, correct

    def training_step(self, batch: Any) -> StepOutput:
        x = batch_inputs(batch)  # (B, 2, S)
        mlm_loss, nsp_logits, is_next, correct = self._terms(x, self.generator(x.device))
        nsp_loss = F.cross_entropy(nsp_logits, is_next)
        loss = mlm_loss + self.cfg.nsp_weight * nsp_loss
        return StepOutput(loss, {"loss": float(loss.detach()), "mlm_loss": float(mlm_loss.detach()),
                                 "nsp_loss": float(nsp_loss.detach()),
                                 "mlm_acc": float(correct.float().mean()) if correct.numel() else 0.0,
                                 "nsp_acc": float((nsp_logits.argmax(1) == is_next).float().mean())})

    @torch.no_grad()
    def heldout_sums(self, x: Tensor, gen: torch.Generator) -> dict[str, float]:
        views, is_next, _ = nsp_pairs(x.long(), gen)
        ids, seg = pack_segments(views)
        sums, h = mlm_heldout_sums(self.encoder, self.mlm_head, ids, seg, self.cfg, gen)
        nsp = self.nsp_head(h[:, 0]).argmax(1) == is_next
        return {**sums, "nsp_correct": float(nsp.sum()), "nsp_count": float(len(x))}


register_method(MethodSpec(
    name="bert", family="context", modality="text", config_cls=BERTConfig, build=BERT.build,
    description="BERT pretraining: masked LM + next-sentence prediction in one pass (Devlin et al. 2019)",
    optim_defaults=TEXT_OPTIM,
))
