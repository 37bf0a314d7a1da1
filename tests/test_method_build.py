"""One ``MethodSpec.build`` signature for every registered method: ``build(cfg, encoder, info, *, aug, seed)``."""

from __future__ import annotations

import inspect

import pytest
import torch
from torch import nn

from selfsup.augment import ImageAugConfig
from selfsup.encoders import build_encoder
from selfsup.encoders.transformer import TextTransformer, TransformerConfig
from selfsup.methods import METHODS, DataInfo, get_method
from selfsup.pipelines.series import build_series_encoder
from selfsup.word2vec import Word2Vec

WORD_REGIMES = ("word2vec", "walks")  # build returns a Word2Vec, not an nn.Module


def _image(name: str) -> tuple[nn.Module | None, DataInfo]:
    default = get_method(name).default_encoder  # the masked-image methods need their ViT
    enc = build_encoder(default, (1, 16, 16)) if default else build_encoder("small-cnn", (1, 16, 16), 8)
    return enc, DataInfo((1, 16, 16), (0.3,), (0.3,), 32)


def _video(name: str) -> tuple[nn.Module | None, DataInfo]:
    return build_encoder("small-cnn-2x2", (1, 32, 32), 8), DataInfo((1, 32, 32), (0.1,), (0.2,))


def _series(name: str) -> tuple[nn.Module | None, DataInfo]:
    return build_series_encoder(name, 1, 48, 16), DataInfo((1, 48))


def _text(name: str) -> tuple[nn.Module | None, DataInfo]:
    enc = TextTransformer(TransformerConfig(vocab_size=40, dim=32, depth=1, heads=2, max_len=40, dropout=0.0))
    return enc, DataInfo((40,), num_samples=8)


def _graph(name: str) -> tuple[nn.Module | None, DataInfo]:
    return None, DataInfo((6,), num_samples=10)


PARTS = {"image": _image, "video": _video, "series": _series, "text": _text, "graph": _graph}


def test_every_modality_of_the_registry_has_parts_here():
    """A new modality must add its tiny encoder above, or the build test below would skip its methods."""
    modalities = {s.modality for s in METHODS.values() if s.regime not in WORD_REGIMES}
    assert modalities <= set(PARTS), modalities - set(PARTS)
    assert len(METHODS) >= 29  # the registry was filled (importing selfsup.methods registers them)


@pytest.mark.parametrize("name", sorted(METHODS))
def test_build_signature_is_the_same_for_every_method(name):
    params = inspect.signature(METHODS[name].build).parameters
    assert list(params) == ["cfg", "encoder", "info", "aug", "seed"]
    assert [p.kind for p in params.values()][:3] == [inspect.Parameter.POSITIONAL_OR_KEYWORD] * 3
    assert params["aug"].kind is params["seed"].kind is inspect.Parameter.KEYWORD_ONLY
    assert params["aug"].default is None
    # word2vec's config carries gensim's own seed: None keeps it (see test_word2vec_build_seed)
    assert params["seed"].default == (None if METHODS[name].regime in WORD_REGIMES else 0)


@pytest.mark.parametrize("name", sorted(n for n, s in METHODS.items() if s.regime not in WORD_REGIMES))
def test_build_gives_a_module_with_the_method_interface(name):
    spec = get_method(name)
    torch.manual_seed(0)
    encoder, info = PARTS[spec.modality](name)
    cfg = spec.config_cls()
    if hasattr(cfg, "patch"):  # tracking's patch must fit a 32x32 frame
        cfg.patch = 12
    m = spec.build(cfg, encoder, info, aug=ImageAugConfig(), seed=3)
    assert isinstance(m, nn.Module) and isinstance(m.encoder, nn.Module)
    assert callable(m.embed) and (spec.regime == "fitted" or callable(m.training_step))
    if encoder is not None and spec.regime != "fitted":
        assert any(mod is encoder for mod in m.modules())  # the given backbone is trained, not a copy
    if hasattr(cfg, "seed") and spec.regime != "fitted":
        assert m.cfg.seed == 3  # the run's seed reached the method's sampler


@pytest.mark.parametrize("name", ["simclr", "cpc", "dgi", "pca", "split-brain"])
def test_old_positional_seed_is_refused(name):
    """The first registry's ``build(cfg, encoder, info, seed)`` must not pass a seed as ``aug`` silently."""
    spec = get_method(name)
    encoder, info = PARTS[spec.modality](name)
    with pytest.raises(TypeError):
        spec.build(spec.config_cls(), encoder, info, 0)


def test_word2vec_build_seed():
    spec = get_method("word2vec")
    cfg = spec.config_cls(seed=5)
    kept, given = spec.build(cfg, None, None), spec.build(cfg, None, None, seed=7)
    assert isinstance(kept, Word2Vec) and isinstance(given, Word2Vec)
    assert (kept.seed, given.seed) == (5, 7)
