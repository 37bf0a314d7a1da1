"""Memory bank / instance discrimination (Wu et al. 2018): every image is its own class.

The encoder plus a head (one linear layer by default, as in the paper; `head="mlp"` for an MLP) gives a unit feature
``f`` (dim 128). The bank holds one vector ``v_j`` per training sample; the non-parametric softmax
is ``P(i | f) = exp(v_i . f / t) / sum_j exp(v_j . f / t)``. Two losses (``loss``):

* ``"infonce"`` (default; "sampled InfoNCE"): with ``num_negatives = 0`` (or >= the dataset size)
  the full softmax over the bank; otherwise ``num_negatives`` bank rows are sampled uniformly per
  step and the loss is InfoNCE over (own row + sampled rows), the sampled approximation of the full
  softmax.
* ``"nce"``: Wu et al.'s noise-contrastive estimation (their section 3.2, the ``paper`` preset):
  ``P(i | f) = exp(v_i . f / t) / Z`` with ``Z`` estimated once by Monte Carlo from the first batch
  and then fixed (a buffer, ``nce.log_z``, saved in checkpoints), and binary data-vs-noise
  posteriors against ``num_negatives`` uniform noise rows (:func:`selfsup.functional.nce_loss`).

Either way a sample's own bank row is never one of its sampled negatives
(:meth:`selfsup.modules.memory_bank.MemoryBank.sample_negatives`). After the optimizer step the
batch's entries are updated with momentum (features and indices gathered from all processes, so
every rank's bank is identical). With several processes every rank draws the same negatives (same
seed) and ``Z`` is estimated from the *global* first batch (the similarities of all ranks are
gathered once), so every rank holds the same ``Z``, equal to that of one process on the whole
batch. The bank is also a kNN classifier
(:meth:`selfsup.modules.memory_bank.MemoryBank.knn_predict`).

The ``paper`` preset sets what Wu et al. publish for the loss and the bank: NCE, a linear head to
128-d, ``t = 0.07``, ``m = 4096`` noise samples, bank momentum 0.5, a random initial bank. What still
differs from the paper: the encoder (the modality's default, a small CNN on 28 px images, not a
ResNet-50 / AlexNet on 224 px ImageNet), the training recipe (the library's Adam with warmup and a
cosine schedule over the given epochs, not SGD at lr 0.03 with step decay over 200 epochs), the
augmentations (the library's crop / flip / jitter for small gray images), the random bank (unit
Gaussian rows; the authors' code draws uniform entries and does not normalise them), the noise (never
the sample's own row; the authors' code draws uniformly over all n rows) and the evaluation (the
harness's kNN and linear probes on the encoder's features, settings chosen on a validation split, not
the paper's kNN on the bank and SVM on conv5). A comparison of the two losses at equal epochs is in
BENCHMARKS.md ("memory bank: NCE vs InfoNCE").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from selfsup.augment import ImageAugConfig, MultiView
from selfsup.config import Checked, bounded
from selfsup.errors import UserError
from selfsup.functional import info_nce_scores
from selfsup.losses.contrastive import NCELoss
from selfsup.methods.base import DataInfo, MethodSpec, StepOutput, register_method
from selfsup.methods.two_view import image_views, to_channels_last
from selfsup.modules import projection_head
from selfsup.modules.distributed import gather_no_grad
from selfsup.modules.memory_bank import MemoryBank


@dataclass
class MemoryBankConfig(Checked):
    """Attributes:
    feature_dim: bank/feature dimension.
    temperature: softmax temperature.
    num_negatives: sampled negatives per sample and step, uniform over the bank rows other than the
        sample's own (one draw shared by the batch). With ``loss="infonce"``, 0 (or >= the dataset
        size) = the full softmax over the bank; ``loss="nce"`` always samples (the paper's m).
    bank_momentum: m in ``v <- normalize(m v + (1 - m) f)``.
    fill_on_first_visit: a sample's first feature replaces its random initial bank vector, and
        until then its positive is its own current feature (not a random vector). Wu et al.
        start from random vectors, which is harmless over 200 epochs but makes the first
        epoch chase random targets. Off by default: in a 3-minute CPU budget on Fashion-MNIST it
        did not change the result (BENCHMARKS.md, "contrastive family").
    bank_init: "features" (default): before the first step, one pass of the initial encoder
        over the un-augmented training set fills the bank, so the first epoch's positives are
        each image's own (initial) feature instead of a random target; the pass counts against
        the run's time budget. In a 3-minute CPU run on Fashion-MNIST (linear head, loaded machine)
        it lifted kNN-100% from 0.726 to 0.808 (BENCHMARKS.md, "contrastive family", earlier
        runs). "random": unit Gaussian vectors, as in Wu et al. (the ``paper`` preset).
    head: "linear" (default): Wu et al.'s single linear layer to ``feature_dim``, chosen on the
        validation split (benchmarks/sweep_memory_bank_head.json: Fashion-MNIST, 1.491 epochs, kNN-100%
        on validation 0.8785 linear vs 0.8783 mlp; three seeds on the test split: 87.7 ± 0.1 vs
        87.9 ± 0.3, i.e. a tie, and linear is the paper's and the smaller head; BENCHMARKS.md,
        "contrastive family"). "mlp": Linear-BN-ReLU-Linear with ``proj_hidden_dim`` hidden units
        (the head of SimCLR / MoCo v2; the default from 2026-11-29 to 2026-12-07, chosen then on the
        test split).
    proj_hidden_dim: hidden width of the "mlp" head.
    loss: "infonce" (default): sampled InfoNCE over (own row + ``num_negatives`` sampled rows), or
        the full softmax with ``num_negatives = 0``. "nce": Wu et al.'s NCE with ``Z`` estimated on
        the first batch and then fixed (the ``paper`` preset); needs ``num_negatives >= 1``. With a
        random bank (as in the paper) ``Z`` is fixed on random rows, whose similarities to the features
        are far lower than the real features' that replace them: the NCE loss then rises for as long
        as the rows fill (and in short runs it stayed high: digits, 40 epochs, kNN 0.60), while with
        ``bank_init="features"`` Z is estimated on real features (same run: kNN 0.97; BENCHMARKS.md,
        "contrastive family"). The paper trains 200 epochs on ImageNet.
    proximal: lambda of Wu et al.'s proximal regularisation (their section 3.4): the loss gains
        ``lambda * ||f_i - v_i||^2`` (mean over the batch), which keeps a sample's feature near its
        bank entry from the previous visit and damps the oscillation of a bank whose rows are
        refreshed once per epoch. 0 (default) turns it off: with the MLP head, lambda 1 and 10
        stayed within seed noise in 3-minute runs (BENCHMARKS.md, "contrastive family").
    """

    feature_dim: int = bounded(128, ge=1)
    temperature: float = bounded(0.07, gt=0)
    num_negatives: int = bounded(4096, ge=0)
    bank_momentum: float = bounded(0.5, ge=0, lt=1)
    fill_on_first_visit: bool = False
    bank_init: Literal["features", "random"] = "features"
    proximal: float = bounded(0.0, ge=0)
    head: Literal["linear", "mlp"] = "linear"
    proj_hidden_dim: int = 512
    loss: Literal["infonce", "nce"] = "infonce"
    channels_last: bool = True

    def validate(self) -> None:
        super().validate()
        if self.loss == "nce" and self.num_negatives < 1:
            raise UserError("loss 'nce' needs noise samples: num_negatives >= 1 (0 means the full softmax, an "
                            "InfoNCE-only option)", hint="Wu et al. use num_negatives=4096 (--preset paper)")


class InstanceDiscrimination(nn.Module):
    def __init__(self, encoder: nn.Module, views: MultiView, cfg: MemoryBankConfig, num_samples: int, seed: int = 0):
        super().__init__()
        cfg.validate()
        if num_samples < 1:
            raise UserError("the memory bank needs the dataset size (DataInfo.num_samples >= 1)")
        self.cfg = cfg
        self.encoder = encoder
        self.views = views
        self.head = projection_head(cfg.head, encoder.out_dim, cfg.proj_hidden_dim, cfg.feature_dim)
        self.bank = MemoryBank(num_samples, cfg.feature_dim, cfg.bank_momentum, seed=seed,
                               fill_on_first_visit=cfg.fill_on_first_visit)
        if self._sampled(num_samples) and num_samples < 2:
            raise UserError("sampled negatives need a dataset of at least 2 samples (a sample's own row is never "
                            "its negative)", hint="use more training samples")
        if cfg.loss == "nce":  # holds the Z estimate (buffer nce.log_z); absent for InfoNCE, so older runs load
            self.nce = NCELoss(cfg.temperature, num_samples)
        self._gen = torch.Generator().manual_seed(seed + 104729)
        self._pending: tuple[Tensor, Tensor] | None = None

    def features(self, x: Tensor) -> Tensor:
        x = to_channels_last(x, self.cfg.channels_last)
        return F.normalize(self.head(self.encoder(x)).float(), dim=1)

    def _sampled(self, n: int) -> bool:
        """Sampled negatives (else InfoNCE's full softmax over the bank)."""
        return self.cfg.loss == "nce" or 0 < self.cfg.num_negatives < n

    def loss_on_view(self, v: Tensor, idx: Tensor) -> Tensor:
        f = self.features(v)  # (B, D)
        n = self.bank.bank.shape[0]
        t = self.cfg.temperature
        idx = idx.to(f.device)
        pos = self.bank.positives(idx, f)  # (B, D)
        if not self._sampled(n):
            logits = f @ self.bank().t() / t
            rows = torch.arange(len(f), device=f.device)
            logits = logits.index_put((rows, idx), (f * pos).sum(1) / t)  # own entry = the positive
            loss = F.cross_entropy(logits, idx)
        else:
            draw = self.bank.sample_negatives(idx, self.cfg.num_negatives, self._gen)  # never the own row
            neg = self.bank.negative_similarities(f, draw)  # (B, K)
            pos_sim = (f * pos.to(f.dtype)).sum(1)  # (B,)
            if self.cfg.loss == "nce":
                if not self.nce.has_estimate:  # the first batch (all ranks' similarities) fixes Z for good
                    self.nce.estimate(gather_no_grad(neg.detach()))
                loss = self.nce(pos_sim, neg)
            else:
                loss = info_nce_scores(pos_sim, neg, t)
        if self.cfg.proximal > 0:
            loss = loss + self.cfg.proximal * (f - pos.to(f.dtype)).pow(2).sum(1).mean()
        self._pending = (gather_no_grad(idx.to(f.device)), gather_no_grad(f.detach()))
        return loss

    @torch.no_grad()
    def prepare(self, x: Tensor, batch_size: int) -> None:
        """Fill the bank with the initial network's features of the un-augmented ``x`` (N, ...),
        when ``bank_init == "features"``; row i of the bank is sample i of the training set."""
        if self.cfg.bank_init != "features":
            return
        if len(x) > self.bank.bank.shape[0]:  # fewer is fine (train_samples=N trains on the first N)
            raise UserError(f"the bank has {self.bank.bank.shape[0]} rows but the training set {len(x)} samples")
        device = self.bank.bank.device
        for i in range(0, len(x), batch_size):
            v = self.views.pipelines[0].plain(x[i:i + batch_size].to(device))
            self.bank.bank[i:i + len(v)] = self.features(v).to(self.bank.bank.dtype)
        if self.bank.fill_on_first_visit:  # these rows now hold a real feature
            self.bank.visited[:len(x)] = True

    def training_step(self, batch: tuple[Tensor, ...]) -> StepOutput:
        if not isinstance(batch, (tuple, list)) or len(batch) < 2:
            raise UserError("memory-bank needs (images, dataset indices) batches")
        x, idx = batch[0], batch[1]
        with torch.no_grad():
            (v,) = self.views(x)
        loss = self.loss_on_view(v, idx)
        return StepOutput(loss, {"loss": float(loss.detach())})

    @torch.no_grad()
    def on_after_optimizer_step(self, step: int) -> None:
        if self._pending is not None:
            self.bank.update(*self._pending)
            self._pending = None

    @torch.no_grad()
    def embed(self, x: Tensor) -> Tensor:
        return self.encoder(to_channels_last(self.views.pipelines[0].plain(x), self.cfg.channels_last))


def build_memory_bank(cfg: MemoryBankConfig, encoder: nn.Module, info: DataInfo, *,
                      aug: ImageAugConfig | None = None, seed: int = 0) -> InstanceDiscrimination:
    return InstanceDiscrimination(encoder, image_views(info, aug, seed, n=1), cfg, info.num_samples, seed=seed)


register_method(
    MethodSpec(
        name="memory-bank",
        family="contrastive",
        modality="image",
        config_cls=MemoryBankConfig,
        build=build_memory_bank,
        description="Instance discrimination with a memory bank, non-parametric softmax (Wu et al. 2018)",
        presets={"paper": {"loss": "nce", "num_negatives": 4096, "temperature": 0.07, "bank_momentum": 0.5,
                           "feature_dim": 128, "fill_on_first_visit": False, "bank_init": "random",
                           "head": "linear", "proximal": 0.0},
                 "full-softmax": {"num_negatives": 0}},
        aug_defaults={"crop_scale_min": 0.2},
        former_defaults={"head": "linear"},  # runs started before the head option had a linear head (as now)
    )
)
