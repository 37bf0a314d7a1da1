"""SimCLR (Chen et al., 2020): two augmented views of each image, an encoder, a
projection head and NT-Xent. Every other sample's views are the negatives."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from torch import Tensor, nn

from selfsup.augment import MultiView
from selfsup.config import bounded
from selfsup.functional.nt_xent_gathered import nt_xent_gathered
from selfsup.losses import NTXentLoss
from selfsup.methods.base import MethodSpec, register_method
from selfsup.methods.two_view import TwoViewConfig, TwoViewMethod
from selfsup.modules import projection_head
from selfsup.modules.distributed import gather_with_grad, world_info


@dataclass
class SimCLRConfig(TwoViewConfig):
    """SimCLR hyperparameters (and ``channels_last`` of :class:`TwoViewConfig`).

    Attributes:
        temperature: NT-Xent temperature. 0.1 was chosen on the validation split (Fashion-MNIST, one
            epoch, kNN-100% on 6,000 held-out training labels: 0.875 vs 0.866 at 0.2 with small-cnn-2x2,
            0.849 vs 0.845 with small-cnn; BENCHMARKS.md "quickstart"); the paper's 0.5 is ``--preset paper``.
        projection: "mlp" (default), "linear" or "none" (the paper's head ablation).
        proj_hidden_dim: hidden width of the MLP head.
        proj_out_dim: output width of the head (ignored for "none").
        gather_negatives: with several processes (torch.distributed initialised), use every
            process's embeddings as negatives (gathered with gradient); no effect in one process.
    """

    temperature: float = bounded(0.1, gt=0)
    projection: Literal["mlp", "linear", "none"] = "mlp"
    proj_hidden_dim: int = bounded(512, ge=1)
    proj_out_dim: int = bounded(128, ge=1)
    gather_negatives: bool = True


class SimCLR(TwoViewMethod):
    """SimCLR composed from an encoder, a view pipeline, a projection head and NT-Xent.

    Args:
        encoder: backbone with ``out_dim``.
        views: the two-view composer (applied to raw uint8 batches).
        cfg: hyperparameters.
    """

    def __init__(self, encoder: nn.Module, views: MultiView, cfg: SimCLRConfig) -> None:
        super().__init__(encoder, views, cfg)
        self.head = projection_head(cfg.projection, encoder.out_dim, cfg.proj_hidden_dim, cfg.proj_out_dim)
        self.loss_fn = NTXentLoss(cfg.temperature)

    def loss_on_views(self, v1: Tensor, v2: Tensor) -> Tensor:
        """NT-Xent over both views; every other sample's views (of every process) are negatives."""
        z = self.head(self.both_views(v1, v2))  # (2B, P)
        rank, world = world_info()
        if world > 1 and self.cfg.gather_negatives:
            return nt_xent_gathered(z, gather_with_grad(z), rank, self.cfg.temperature)
        return self.loss_fn(z)


register_method(
    MethodSpec(
        name="simclr",
        family="contrastive",
        modality="image",
        config_cls=SimCLRConfig,
        build=SimCLR.build,
        description="SimCLR: two views, projection head, NT-Xent (Chen et al. 2020)",
        presets={
            "paper": {"temperature": 0.5, "projection": "mlp"},
            "linear-head": {"projection": "linear"},
            "no-head": {"projection": "none"},
        },
        # bf16 autocast where the CPU (or GPU) does bf16 natively: measured within 0.005 of fp32 on kNN-100% and
        # linear-1% (3 seeds, 1 epoch, Fashion-MNIST; BENCHMARKS.md "precision") and 1.8x faster on this CPU
        train_defaults={"precision": "auto"},
    )
)
