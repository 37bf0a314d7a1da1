"""The method interface and the method registry.

A method is a plain ``nn.Module`` with:

* ``encoder``: the part that is kept and evaluated;
* ``training_step(batch) -> StepOutput``: the loss of one batch (views are made inside,
  batched, on the batch's device);
* ``on_after_optimizer_step(step)``: optional explicit state updates (EMA, queue, bank);
* ``on_train_progress(progress)``: optional, called before each step with the fraction of the
  planned training done, in [0, 1] (the fraction the lr schedule follows: steps, or the clock of a
  budgeted run), for the method's per-step schedules (:mod:`selfsup.modules.schedules`);
* ``prepare(x, batch_size)``: optional, called once before the first step of a new (not
  resumed) run with the whole training tensor, e.g. to fill a memory bank from the
  initial encoder; its time counts against the run's budget;
* ``embed(x)``: the representation for downstream use.

Users can drive a method from their own loop; :mod:`selfsup.train` drives it with Lightning.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from selfsup.errors import unknown_name

if TYPE_CHECKING:  # annotations only: the registry imports without torch (the word2vec path needs none)
    from torch import Tensor, nn


@dataclass
class StepOutput:
    """The result of one training step: the loss to minimise and scalar logs."""

    loss: Tensor
    logs: dict[str, float] = field(default_factory=dict)


@dataclass
class DataInfo:
    """What a method needs to know about its inputs (no dataset names)."""

    input_shape: tuple[int, ...]
    mean: tuple[float, ...] = (0.0,)
    std: tuple[float, ...] = (1.0,)
    num_samples: int = 0


@dataclass
class MethodSpec:
    """A registry entry.

    Attributes:
        name: command-line name.
        family: "context", "temporal" or "contrastive".
        modality: the kind of data it trains on: "image", "series", "text", "graph", "video" or "words".
            The strings of the first registry ("fitted", "graph-walks", "image,series") are still read
            (split into ``modality``, ``regime`` and ``also_modalities``).
        regime: how it is trained: "engine" (the Lightning engine), "full-batch" (the graph loop),
            "fitted" (PCA/GMM/k-means, in one go), "walks" (word2vec on random walks) or "word2vec".
        also_modalities: further kinds of data it trains on (split-brain: "series").
        config_cls: the method's typed hyperparameter dataclass.
        build: ``build(cfg, encoder, info, aug=None, seed=0) -> nn.Module``, the same five names for every
            method, ``aug`` and ``seed`` keyword-only (an old positional call fails): ``cfg`` an instance of ``config_cls``,
            ``encoder`` the backbone (None where the method makes its own: graph, fitted, word2vec), ``info``
            the :class:`DataInfo` of the inputs, ``aug`` an :class:`selfsup.augment.ImageAugConfig` for the
            methods that augment images (ignored by the others), ``seed`` the run's seed of the method's
            views and samplers. Fitted methods return an unfitted ``nn.Module``; word2vec/deepwalk return a
            :class:`selfsup.word2vec.Word2Vec` (``seed`` None there keeps the config's own).
        description: one line for ``selfsup list``.
        presets: named overrides of the config defaults.
        aug_defaults: overrides of :class:`selfsup.augment.ImageAugConfig` for this method.
        optim_defaults: overrides of the optimiser config (:class:`selfsup.train.config.OptimConfig`).
        train_defaults: overrides of :class:`selfsup.train.config.TrainConfig` for this method, e.g.
            ``{"precision": "auto"}`` where bf16 autocast was measured to keep its accuracy on a CPU.
        former_defaults: config keys added with a default that differs from the behaviour before
            them, mapped to that earlier behaviour; a stored run config without the key (a run
            started before it existed) is resumed with this value, so its checkpoint still fits.

        default_encoder: the encoder its runs get without ``--encoder`` (None = the modality's default);
            the masked-image methods, which drop patch tokens, need a ViT.
        encoder_options: settings of its encoder when the run sets none and the encoder takes them
            (``encoder_patch`` / ``encoder_pool`` of the ViTs): MAE and I-JEPA train no [CLS] state, so
            their ViT pools the mean of the patch states.
    """

    name: str
    family: str
    modality: str
    config_cls: type
    build: Callable[..., nn.Module]
    description: str
    presets: dict[str, dict[str, Any]] = field(default_factory=dict)
    aug_defaults: dict[str, Any] = field(default_factory=dict)
    optim_defaults: dict[str, Any] = field(default_factory=dict)
    train_defaults: dict[str, Any] = field(default_factory=dict)
    former_defaults: dict[str, Any] = field(default_factory=dict)
    regime: str = ""
    also_modalities: tuple[str, ...] = ()
    default_encoder: str | None = None
    encoder_options: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        legacy = LEGACY_MODALITIES.get(self.modality)
        if legacy is not None:
            self.modality, regime, also = legacy
            self.regime = self.regime or regime
            self.also_modalities = self.also_modalities or also
        self.regime = self.regime or DEFAULT_REGIME.get(self.modality, "engine")

    @property
    def modalities(self) -> tuple[str, ...]:
        """Every kind of data the method trains on."""
        return (self.modality, *self.also_modalities)

    @property
    def pipeline(self) -> str:
        """The name of the :class:`selfsup.pipelines.modality.Modality` that pretrains it (and run.json's
        ``modality`` of its runs): the data kind, or the regime's own pipeline ("fitted", "graph-walks")."""
        if self.regime in REGIME_PIPELINES:
            return REGIME_PIPELINES[self.regime]
        return ",".join(self.modalities)


# first-registry ``modality`` strings -> (modality, regime, also_modalities)
LEGACY_MODALITIES: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "fitted": ("image", "fitted", ()),
    "graph-walks": ("graph", "walks", ()),
    "image,series": ("image", "engine", ("series",)),
}
DEFAULT_REGIME = {"graph": "full-batch", "words": "word2vec"}
REGIME_PIPELINES = {"fitted": "fitted", "walks": "graph-walks"}


def batch_inputs(batch: tuple[Tensor, ...] | list[Tensor] | Tensor) -> Tensor:
    """The inputs of a batch: its first tensor when it is a tuple or list (inputs, labels, ...), else itself."""
    return batch[0] if isinstance(batch, (tuple, list)) else batch


METHODS: dict[str, MethodSpec] = {}


def register_method(spec: MethodSpec) -> MethodSpec:
    METHODS[spec.name] = spec
    return spec


def get_method(name: str) -> MethodSpec:
    """The registered method ``name``; the built-in ones are imported on first use (its own module
    first, so that one method does not import every other one and their dependencies)."""
    from selfsup.methods import load_builtin

    if name not in METHODS:
        load_builtin(name)
    if name not in METHODS:
        raise unknown_name("method", name, METHODS)
    return METHODS[name]
