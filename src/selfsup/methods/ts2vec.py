"""TS2Vec-style hierarchical contrast (Yue et al., 2022): two overlapping random crops of each
series, random timestamp masking, a dilated conv encoder, and instance + temporal contrast at
every time scale on the overlapping part. Representation: max-pooled timestamp features.

Unequal lengths (NaN-padded batches): the crops are drawn inside a frame as long as the batch's
shortest series, placed at a random offset inside each series' real steps (TS2Vec's per-series crop
offset), so no crop ever holds a padded step; the representation max-pools over the real steps.
With equal lengths the frame is the whole series (offset 0).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from selfsup.augment.sequence import crop_at, randint_per_sample
from selfsup.config import Checked, bounded
from selfsup.functional.hierarchical import hierarchical_contrast
from selfsup.functional.padding import split_padding, trim_padding
from selfsup.methods.base import MethodSpec, StepOutput, batch_inputs, register_method
from selfsup.methods.series_method import SeriesMethod


@dataclass
class TS2VecConfig(Checked):
    """Hyperparameters.

    Attributes:
        alpha: weight of the instance loss (1 - alpha: temporal).
        mask_prob: probability of masking each timestamp (Bernoulli, as in the paper: 0.5).
        seed: seed of the view generator.
    """

    alpha: float = bounded(0.5, ge=0, le=1)
    mask_prob: float = bounded(0.5, ge=0, lt=1)
    seed: int = 0


class TS2Vec(SeriesMethod):
    """Encoder with ``forward_seq(x, mask)`` (see :class:`selfsup.encoders.conv1d.DilatedConv1d`);
    ``embed`` max-pools its timestamp representations over the real steps."""

    def training_step(self, batch: tuple[Tensor, ...] | Tensor) -> StepOutput:
        x = trim_padding(batch_inputs(batch).float())  # (B, C, T)
        x, lengths = split_padding(x)  # padding zeroed; lengths (B,) or None
        b = x.shape[0]
        t = x.shape[-1] if lengths is None else int(lengths.min())  # the crop frame
        g = self.gen
        # overlap [a2, b1) of crops [a1, b1) and [a2, b2), with a1 <= a2 < b1 <= b2 (one draw per batch, as TS2Vec)
        crop_l = int(torch.randint(2, t + 1, (1,), generator=g)) if t > 2 else t
        a2 = int(torch.randint(0, t - crop_l + 1, (1,), generator=g))
        b1 = a2 + crop_l
        a1 = int(torch.randint(0, a2 + 1, (1,), generator=g))
        b2 = int(torch.randint(b1, t + 1, (1,), generator=g))
        if lengths is None or bool((lengths == t).all()):
            v1, v2 = x[..., a1:b1], x[..., a2:b2]
        else:  # the frame [off, off + t) of each series lies inside its real steps
            off = randint_per_sample(lengths.cpu() - t, g)  # (B,)
            v1, v2 = crop_at(x, off + a1, b1 - a1), crop_at(x, off + a2, b2 - a2)
        m1 = torch.rand(b, v1.shape[-1], generator=g) >= self.cfg.mask_prob
        m2 = torch.rand(b, v2.shape[-1], generator=g) >= self.cfg.mask_prob
        z1 = self.encoder.forward_seq(v1, m1.to(x.device))[:, a2 - a1:]  # (B, L, D) overlap
        z2 = self.encoder.forward_seq(v2, m2.to(x.device))[:, : crop_l]  # (B, L, D)
        loss = hierarchical_contrast(z1, z2, self.cfg.alpha)
        return StepOutput(loss, {"loss": float(loss.detach())})


register_method(
    MethodSpec(
        name="ts2vec",
        family="contrastive",
        modality="series",
        config_cls=TS2VecConfig,
        build=TS2Vec.build,
        description="TS2Vec-style hierarchical (instance + temporal) contrast over crops (Yue et al. 2022)",
    )
)
