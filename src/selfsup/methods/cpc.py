"""Contrastive Predictive Coding on time series (van den Oord et al., 2018).

g_enc (strided 1-D conv) maps a series to encodings z_t, g_ar (GRU) summarises z_{<=t} into a
context c_t, and one linear predictor per step k = 1..K scores the true z_{t+k} against every
other z in the batch (other sequences and other time steps) with InfoNCE.
Downstream representation: mean-pooled c_t concatenated with mean-pooled z_t.

Unequal lengths (NaN-padded batches): g_enc masks the padding (its z_t of a series equal those of the
unpadded series), the causal GRU's c_t at real steps never reads a later (padded) step, no context
predicts a padded z_{t+k} and no padded z is a negative; the pooling runs over the real steps.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from selfsup.config import Checked, bounded
from selfsup.errors import UserError
from selfsup.functional.cpc import cpc_loss
from selfsup.functional.padding import masked_mean, trim_padding
from selfsup.methods.base import MethodSpec, StepOutput, batch_inputs, register_method
from selfsup.methods.series_method import SeriesMethod, scale_then_jitter
from selfsup.modules.autoregressor import GRUAutoregressor


@dataclass
class CPCConfig(Checked):
    """CPC hyperparameters.

    Attributes:
        steps: number of future steps K predicted from each context.
        context_dim: GRU width H.
        jitter: std of additive noise on the input (0 = none).
        scaling: std of per-channel scaling (0 = none).
        seed: seed of the augmentation generator.
    """

    steps: int = bounded(4, ge=1)
    context_dim: int = bounded(64, ge=1)
    jitter: float = 0.03
    scaling: float = 0.1
    seed: int = 0


class CPC(SeriesMethod):
    """CPC composed from g_enc (``encoder``, with ``forward_seq``), a GRU g_ar and K linear predictors."""

    def __init__(self, encoder: nn.Module, cfg: CPCConfig) -> None:
        super().__init__(encoder, cfg)
        self.ar = GRUAutoregressor(encoder.out_dim, cfg.context_dim)
        self.predictors = nn.ModuleList(nn.Linear(cfg.context_dim, encoder.out_dim) for _ in range(cfg.steps))
        self.out_dim = encoder.out_dim + cfg.context_dim

    def training_step(self, batch: tuple[Tensor, ...] | Tensor) -> StepOutput:
        x = trim_padding(batch_inputs(batch).float())  # (B, C, T), NaN-padded
        with torch.no_grad():  # NaN padding stays NaN through both
            x = scale_then_jitter(x, self.cfg.scaling, self.cfg.jitter, self.gen)
        z, valid = self._encode(x)  # (B, T', D), (B, T') or None
        k_max = min(self.cfg.steps, z.shape[1] - 1)
        if k_max < 1 or (valid is not None and not bool(valid[:, 1:].any())):
            n = z.shape[1] if valid is None else int(valid.sum(1).max())
            raise UserError(f"series too short for CPC: the encoder leaves {n} step(s)",
                            hint="use fewer/smaller strides (--set strides=...) or longer series")
        c = self.ar(z)  # (B, T', H); causal, so c_t at a real step reads real steps only
        preds = [self.predictors[k - 1](c) for k in range(1, k_max + 1)]  # K x (B, T', D)
        loss = cpc_loss(preds, z, valid)
        return StepOutput(loss, {"loss": float(loss.detach())})

    def _encode(self, x: Tensor) -> tuple[Tensor, Tensor | None]:
        if hasattr(self.encoder, "forward_masked"):
            return self.encoder.forward_masked(x)
        return self.encoder.forward_seq(x), None

    @torch.no_grad()
    def embed(self, x: Tensor) -> Tensor:
        """(B, C, T) -> (B, D + H): z_t and c_t mean-pooled over the real steps."""
        z, valid = self._encode(trim_padding(x.float()))
        c = self.ar(z)
        return torch.cat([masked_mean(z, valid), masked_mean(c, valid)], dim=1)


register_method(
    MethodSpec(
        name="cpc",
        family="temporal",
        modality="series",
        config_cls=CPCConfig,
        build=CPC.build,
        description="CPC: strided conv g_enc + GRU g_ar predict z_{t+k}, InfoNCE (van den Oord et al. 2018)",
        presets={"paper": {"steps": 12}},
    )
)
