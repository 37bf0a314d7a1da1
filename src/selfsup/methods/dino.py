"""DINO (Caron et al. 2021, "Emerging Properties in Self-Supervised Vision Transformers"):
self-distillation with no labels. A student (encoder + :class:`DINOHead`) sees 2 global and N
local crops of each image; a teacher, an EMA copy of the student (no gradients, not optimised),
sees only the global crops. The student matches, by cross-entropy, the teacher's centred and
sharpened distribution of every other crop (:func:`selfsup.functional.dino.dino_loss`).

Per-step schedules, functions of the training progress ``t`` the engine hands over before each
step (``on_train_progress``): the teacher temperature warms up linearly from
``teacher_temp_start`` to ``teacher_temp`` over the first ``teacher_temp_warmup`` of training; the
EMA momentum follows a cosine from ``momentum`` to 1. The learning rate (linear warm-up, cosine)
and the weight decay (cosine, ``optim.weight_decay`` -> ``optim.weight_decay_end``) are the
engine's, set in the optimizer config (the ``paper`` preset sets them).

After each optimizer step (``on_after_optimizer_step``, never in forward): the centre moves
towards the mean of the teacher's logits over the *global* batch (summed over processes when
torch.distributed runs), then the teacher takes its EMA step.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from selfsup.augment import Crops, ImageAugConfig, MultiCrop
from selfsup.augment.multicrop import default_local_size
from selfsup.config import Checked, bounded
from selfsup.errors import UserError
from selfsup.functional.dino import centre_update, dino_loss, sharpened_centred_softmax
from selfsup.methods.base import DataInfo, MethodSpec, StepOutput, batch_inputs, register_method
from selfsup.methods.two_view import to_channels_last
from selfsup.modules import DINOHead
from selfsup.modules.distributed import all_reduce_sum
from selfsup.modules.ema import ema_update, momentum_copy
from selfsup.modules.schedules import cosine_between, linear_warmup


@dataclass
class DINOConfig(Checked):
    """DINO's hyperparameters (the global crops' area range is the augmentation's ``crop_scale_min`` /
    ``crop_scale_max``, 0.4-1 by default for DINO).

    Attributes:
        out_dim: the head's logits K.
        hidden_dim: the head MLP's hidden width.
        bottleneck_dim: the head's L2-normalised bottleneck.
        head_layers: Linear layers of the head MLP before the bottleneck.
        student_temp: the student temperature tau_s.
        teacher_temp_start: the teacher temperature tau_t at the start of training.
        teacher_temp: tau_t after the warm-up.
        teacher_temp_warmup: fraction of training over which tau_t rises linearly (0: constant).
        center_momentum: momentum of the centre's running mean.
        momentum: EMA momentum of the teacher at the start; a cosine takes it to 1 at the end.
        n_global_crops: global crops per image (the teacher's inputs).
        n_local_crops: local crops per image (student only; 0: none).
        local_size: local crop side in pixels (0: 3/7 of the input side rounded down to a multiple of 4,
            12 for 28 px; DINO's 96 of 224).
        local_scale_min: smallest area fraction of a local crop.
        local_scale_max: largest area fraction of a local crop.
        channels_last: run conv encoders in channels_last memory format.
    """

    out_dim: int = bounded(4096, ge=2)
    hidden_dim: int = bounded(1024, ge=1)
    bottleneck_dim: int = bounded(256, ge=1)
    head_layers: int = bounded(3, ge=1)
    student_temp: float = bounded(0.1, gt=0)
    teacher_temp_start: float = bounded(0.04, gt=0)
    teacher_temp: float = bounded(0.07, gt=0)
    teacher_temp_warmup: float = bounded(0.3, ge=0, le=1)
    center_momentum: float = bounded(0.9, ge=0, le=1)
    momentum: float = bounded(0.996, ge=0, le=1)
    n_global_crops: int = bounded(2, ge=1)
    n_local_crops: int = bounded(6, ge=0)
    local_size: int = bounded(0, ge=0)
    local_scale_min: float = bounded(0.05, gt=0, le=1)
    local_scale_max: float = bounded(0.4, gt=0, le=1)
    channels_last: bool = True

    def validate(self) -> None:
        super().validate()
        if self.local_scale_min > self.local_scale_max:
            raise UserError(f"need local_scale_min <= local_scale_max, got {self.local_scale_min}, "
                            f"{self.local_scale_max}")
        if self.n_global_crops + self.n_local_crops < 2:
            raise UserError("DINO compares two different crops of an image: need n_global_crops + n_local_crops >= 2",
                            hint="--set n_global_crops=2")


class DINO(nn.Module):
    """Student (``encoder`` + ``head``), EMA teacher (``teacher_encoder`` + ``teacher_head``), the
    centre buffer, and the multi-crop view maker ``views``."""

    def __init__(self, encoder: nn.Module, views: MultiCrop, cfg: DINOConfig) -> None:
        super().__init__()
        cfg.validate()
        self.cfg = cfg
        self.encoder = encoder
        self.views = views
        self.head = DINOHead(encoder.out_dim, cfg.out_dim, cfg.hidden_dim, cfg.bottleneck_dim, cfg.head_layers)
        self.teacher_encoder = momentum_copy(encoder)
        self.teacher_head = momentum_copy(self.head)
        self.register_buffer("center", torch.zeros(cfg.out_dim))  # (K,) running mean of the teacher's logits
        self.progress = 0.0  # fraction of training done, set by on_train_progress before each step
        self._teacher_sum: Tensor | None = None  # (K + 1,) this step's teacher logit sum and row count

    @classmethod
    def build(cls, cfg: DINOConfig, encoder: nn.Module, info: DataInfo, *, aug: ImageAugConfig | None = None,
              seed: int = 0) -> DINO:
        """The :class:`MethodSpec` ``build``: multi-crop views of ``aug`` seeded ``seed`` (local ``seed + 1``)."""
        side = info.input_shape[-1]
        views = MultiCrop(ImageAugConfig() if aug is None else aug, side, info.mean, info.std,
                          n_global=cfg.n_global_crops, n_local=cfg.n_local_crops,
                          local_size=cfg.local_size or default_local_size(side),
                          local_scale=(cfg.local_scale_min, cfg.local_scale_max), seed=seed)
        return cls(encoder, views, cfg)

    # -- per-step schedules ------------------------------------------------------
    def on_train_progress(self, progress: float) -> None:
        """Called by the engine before each step with the fraction of training done."""
        self.progress = float(progress)

    def teacher_temperature(self) -> float:
        c = self.cfg
        return linear_warmup(c.teacher_temp_start, c.teacher_temp, self.progress, c.teacher_temp_warmup)

    def teacher_momentum(self) -> float:
        return cosine_between(self.cfg.momentum, 1.0, self.progress)

    # -- the step ------------------------------------------------------------------
    def _features(self, encoder: nn.Module, crops: Tensor) -> Tensor:
        return encoder(to_channels_last(crops, self.cfg.channels_last))

    def loss_on_crops(self, crops: Crops) -> tuple[Tensor, float]:
        """The DINO loss of one batch's crops, and the teacher temperature used."""
        g = self.cfg.n_global_crops
        b = crops.global_crops.shape[0] // g
        feats = self._features(self.encoder, crops.global_crops)  # (G*B, D)
        if crops.local_crops.shape[0] > 0:  # a second call: the local crops have another size
            feats = torch.cat([feats, self._features(self.encoder, crops.local_crops)])  # (V*B, D)
        student = self.head(feats).float() / self.cfg.student_temp  # (V*B, K), float32 under bf16 autocast too
        tau_t = self.teacher_temperature()
        with torch.no_grad():
            teacher = self.teacher_head(self._features(self.teacher_encoder, crops.global_crops))  # (G*B, K)
            probs = sharpened_centred_softmax(teacher, self.center, tau_t)  # (G*B, K)
            count = torch.full((1,), float(teacher.shape[0]), device=teacher.device)
            self._teacher_sum = torch.cat([teacher.float().sum(0), count])  # (K + 1,)
        k = student.shape[-1]
        loss = dino_loss(student.view(-1, b, k), probs.view(g, b, k))
        return loss, tau_t

    def training_step(self, batch: tuple[Tensor, ...] | Tensor) -> StepOutput:
        x = batch_inputs(batch)  # (B, C, H, W) uint8
        with torch.no_grad():
            crops = self.views(x)
        loss, tau_t = self.loss_on_crops(crops)
        return StepOutput(loss, {"loss": float(loss.detach()), "teacher_temp": tau_t})

    @torch.no_grad()
    def on_after_optimizer_step(self, step: int) -> None:
        """The centre from the global batch's teacher logits, then the teacher's EMA step."""
        if self._teacher_sum is not None:
            total = all_reduce_sum(self._teacher_sum)  # (K + 1,) over every process's rows
            batch_mean = total[:-1] / total[-1]  # (K,)
            self.center.copy_(centre_update(self.center, batch_mean.to(self.center.dtype), self.cfg.center_momentum))
            self._teacher_sum = None
        m = self.teacher_momentum()
        ema_update(self.teacher_encoder, self.encoder, m)
        ema_update(self.teacher_head, self.head, m)

    @torch.no_grad()
    def embed(self, x: Tensor) -> Tensor:
        """Student encoder features (B, D) of raw (uint8) images, without augmentation."""
        return self._features(self.encoder, self.views.pipelines[0].plain(x))


register_method(
    MethodSpec(
        name="dino",
        family="contrastive",
        modality="image",
        config_cls=DINOConfig,
        build=DINO.build,
        description="DINO: self-distillation of an EMA teacher, multi-crop, centring + sharpening (Caron et al. 2021)",
        presets={"paper": {
            # ViT-S/16's recipe (main_dino.py defaults) where it fits 28-32 px images and a CPU
            "n_local_crops": 8, "hidden_dim": 2048, "bottleneck_dim": 256, "out_dim": 4096,
            "student_temp": 0.1, "teacher_temp_start": 0.04, "teacher_temp": 0.07, "teacher_temp_warmup": 0.3,
            "momentum": 0.996, "center_momentum": 0.9, "local_scale_min": 0.05, "local_scale_max": 0.4,
            "optim.optimizer": "adamw", "optim.lr": 5e-4, "optim.warmup_epochs": 1.0, "optim.min_lr_ratio": 0.002,
            "optim.weight_decay": 0.04, "optim.weight_decay_end": 0.4,
            "augment.crop_scale_min": 0.4, "augment.blur_p": 0.5, "augment.solarize_p": 0.1,
        }},
        aug_defaults={"crop_scale_min": 0.4, "blur_p": 0.5, "solarize_p": 0.1},
        default_encoder="vit-tiny",
        optim_defaults={"optimizer": "adamw", "lr": 5e-4, "weight_decay": 0.04, "weight_decay_end": 0.4},
    )
)
