"""Masked language modelling (Devlin et al., 2019): the label is the token that was hidden.

Each row is a pair of consecutive segments packed as ``[CLS] A [SEP] B [SEP]``; 15% of the
real tokens are selected (80% -> [MASK], 10% -> random, 10% unchanged) and a head tied to the
token embeddings predicts the original ids at the selected positions only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from selfsup.augment.text import IGNORE, mask_tokens, pack_segments
from selfsup.config import Checked, bounded
from selfsup.errors import UserError
from selfsup.functional.masked_ce import masked_ce
from selfsup.methods.base import MethodSpec, StepOutput, batch_inputs, register_method
from selfsup.methods.text_method import TEXT_OPTIM, TextMethod


@dataclass
class MLMConfig(Checked):
    """Masked-LM hyperparameters.

    Attributes:
        mask_prob: share of real tokens selected for prediction.
        mask_token_frac: share of the selected tokens replaced by [MASK].
        random_token_frac: share replaced by a random token (the rest are left unchanged).
        seed: seed of the masking generator.
    """

    mask_prob: float = bounded(0.15, gt=0, lt=1)
    mask_token_frac: float = bounded(0.8, ge=0)
    random_token_frac: float = bounded(0.1, ge=0)
    seed: int = 0

    def validate(self) -> None:
        super().validate()
        if self.mask_token_frac + self.random_token_frac > 1:
            raise UserError("mask_token_frac and random_token_frac must sum to at most 1")


class MLMHead(nn.Module):
    """Transform (Linear, GELU, LayerNorm) then a decoder tied to the token embeddings."""

    def __init__(self, encoder: nn.Module) -> None:
        super().__init__()
        d = encoder.out_dim
        self.transform = nn.Sequential(nn.Linear(d, d), nn.GELU(), nn.LayerNorm(d))
        self._encoder = [encoder]  # tied to encoder.tok (held in a list: not a second copy in state_dict)
        self.bias = nn.Parameter(torch.zeros(encoder.tok.num_embeddings))

    def forward(self, h: Tensor) -> Tensor:
        """(M, D) states of selected positions -> (M, V) logits."""
        return F.linear(self.transform(h), self._encoder[0].tok.weight, self.bias)


def mlm_terms(encoder: nn.Module, head: MLMHead, ids: Tensor, seg: Tensor, cfg: MLMConfig,
              gen: torch.Generator) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Mask ``ids``, run the encoder once; (loss, token states (B, L, D), correct (M,), labels (M,))."""
    inputs, labels = mask_tokens(ids, head.bias.numel(), cfg.mask_prob, cfg.mask_token_frac,
                                 cfg.random_token_frac, gen)
    h = encoder.tokens(inputs, seg)  # (B, L, D)
    sel = labels != IGNORE  # (B, L)
    logits = head(h[sel])  # (M, V)
    loss = masked_ce(logits, labels[sel])
    return loss, h, logits.argmax(-1) == labels[sel], labels[sel]


@torch.no_grad()
def mlm_heldout_sums(encoder: nn.Module, head: MLMHead, ids: Tensor, seg: Tensor, cfg: MLMConfig,
                     gen: torch.Generator) -> tuple[dict[str, float], Tensor]:
    """Summed masked-token NLL, correct predictions and count of held-out packed rows (for
    perplexity), and the token states (B, L, D) of the masked input."""
    inputs, labels = mask_tokens(ids, head.bias.numel(), cfg.mask_prob, cfg.mask_token_frac,
                                 cfg.random_token_frac, gen)
    h = encoder.tokens(inputs, seg)  # (B, L, D)
    sel = labels != IGNORE
    logits = head(h[sel])
    nll = F.cross_entropy(logits, labels[sel], reduction="sum") if sel.any() else torch.zeros(())
    return {"mlm_nll": float(nll), "mlm_correct": float((logits.argmax(-1) == labels[sel]).sum()),
            "mlm_count": float(sel.sum())}, h


class MaskedLM(TextMethod):
    """BERT's masked LM on packed segment pairs; ``embed`` is the encoder's pooled output."""

    def __init__(self, encoder: nn.Module, cfg: MLMConfig) -> None:
        super().__init__(encoder, cfg)
        self.mlm_head = MLMHead(encoder)

    def training_step(self, batch: Any) -> StepOutput:
        x = batch_inputs(batch)  # (B, K, S)
        ids, seg = pack_segments(x.long())
        loss, _, correct, _ = mlm_terms(self.encoder, self.mlm_head, ids, seg, self.cfg, self.generator(x.device))
        return StepOutput(loss, {"loss": float(loss.detach()), "mlm_acc": float(correct.float().mean())
                                 if correct.numel() else 0.0})

    @torch.no_grad()
    def heldout_sums(self, x: Tensor, gen: torch.Generator) -> dict[str, float]:
        """Summed masked-token NLL, correct predictions and count on held-out rows (for perplexity)."""
        ids, seg = pack_segments(x.long())
        return mlm_heldout_sums(self.encoder, self.mlm_head, ids, seg, self.cfg, gen)[0]


register_method(MethodSpec(
    name="mlm", family="context", modality="text", config_cls=MLMConfig, build=MaskedLM.build,
    description="masked LM: 15% of tokens, 80/10/10 [MASK]/random/same, tied decoder (Devlin et al. 2019)",
    optim_defaults=TEXT_OPTIM,
))
