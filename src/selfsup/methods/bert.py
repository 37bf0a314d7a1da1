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
from selfsup.errors import UserError
from selfsup.methods.base import DataInfo, MethodSpec, StepOutput, register_method
from selfsup.methods.mlm import TEXT_OPTIM, MLMConfig, MLMHead, _gen, mlm_terms
from selfsup.methods.nsp import cls_classifier
from selfsup.modules.rng import DeviceGenerator


@dataclass
class BERTConfig:
    """BERT settings: masking (as in :class:`MLMConfig`) and the NSP weight.

    Attributes:
        mask_prob: share of real tokens selected for prediction.
        mask_token_frac: selected tokens replaced by [MASK].
        random_token_frac: selected tokens replaced by a random token.
        nsp_weight: weight of the next-sentence loss.
        seed: seed of the masking/pairing generator.
    """

    mask_prob: float = 0.15
    mask_token_frac: float = 0.8
    random_token_frac: float = 0.1
    nsp_weight: float = 1.0
    seed: int = 0

    def mlm(self) -> MLMConfig:
        return MLMConfig(self.mask_prob, self.mask_token_frac, self.random_token_frac, self.seed)

    def validate(self) -> None:
        self.mlm().validate()
        if self.nsp_weight < 0:
            raise UserError("nsp_weight must be >= 0")


class BERT(nn.Module):
    """Masked LM + next-sentence prediction on one encoder pass."""

    def __init__(self, encoder: nn.Module, cfg: BERTConfig) -> None:
        super().__init__()
        self.rng = DeviceGenerator(cfg.seed)  # masks / pairs / shuffles: carried by checkpoints
        cfg.validate()
        self.cfg = cfg
        self.encoder = encoder
        self.mlm_head = MLMHead(encoder)
        self.nsp_head = cls_classifier(encoder.out_dim, 2)

    def _terms(self, x: Tensor, gen: torch.Generator) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        views, is_next, _ = nsp_pairs(x.long(), gen)
        ids, seg = pack_segments(views)
        mlm_loss, h, correct, _ = mlm_terms(self.encoder, self.mlm_head, ids, seg, self.cfg.mlm(), gen)
        return mlm_loss, self.nsp_head(h[:, 0]), is_next, correct

    def training_step(self, batch: Any) -> StepOutput:
        x = batch[0] if isinstance(batch, (tuple, list)) else batch  # (B, 2, S)
        mlm_loss, nsp_logits, is_next, correct = self._terms(x, _gen(self, x.device, self.cfg.seed))
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
        cfg = self.cfg.mlm()
        from selfsup.augment.text import IGNORE, mask_tokens

        inputs, labels = mask_tokens(ids, self.mlm_head.bias.numel(), cfg.mask_prob, cfg.mask_token_frac,
                                     cfg.random_token_frac, gen)
        h = self.encoder.tokens(inputs, seg)
        sel = labels != IGNORE
        logits = self.mlm_head(h[sel])
        nll = F.cross_entropy(logits, labels[sel], reduction="sum") if sel.any() else torch.zeros(())
        nsp = self.nsp_head(h[:, 0]).argmax(1) == is_next
        return {"mlm_nll": float(nll), "mlm_correct": float((logits.argmax(-1) == labels[sel]).sum()),
                "mlm_count": float(sel.sum()), "nsp_correct": float(nsp.sum()), "nsp_count": float(len(x))}

    def on_after_optimizer_step(self, step: int) -> None:
        """No state between steps."""

    @torch.no_grad()
    def embed(self, ids: Tensor) -> Tensor:
        return self.encoder(ids)


def build_bert(cfg: BERTConfig, encoder: nn.Module, info: DataInfo, aug: Any = None, seed: int = 0) -> BERT:
    cfg.seed = seed
    return BERT(encoder, cfg)


register_method(MethodSpec(
    name="bert", family="context", modality="text", config_cls=BERTConfig, build=build_bert,
    description="BERT pretraining: masked LM + next-sentence prediction in one pass (Devlin et al. 2019)",
    optim_defaults=TEXT_OPTIM,
))
