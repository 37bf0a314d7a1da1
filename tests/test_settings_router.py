"""The one settings router (selfsup.config.route_settings): every modality's settings, presets and
--set / --config / API keys go through it (issue 17)."""

import json
from dataclasses import dataclass

import pytest

import selfsup
from selfsup.cli.main import main
from selfsup.config import route_settings
from selfsup.errors import UserError
from selfsup.methods import get_method


@dataclass
class _A:
    momentum: float = 0.99
    width: int = 4


@dataclass
class _B:
    momentum: float = 0.9
    lr: float = 0.1


def test_a_key_two_sections_own_goes_to_the_first_and_a_dotted_key_to_its_section():
    r = route_settings({"a": _A(), "b": _B()}, {"momentum": "0.5"}, {"b.momentum": 0.7, "lr": "0.2"})
    assert r["a"] == _A(momentum=0.5) and r["b"] == _B(momentum=0.7, lr=0.2)
    # later layers win, per key
    r = route_settings({"a": _A(), "b": _B()}, {"width": 8, "lr": 0.3}, {"width": 16})
    assert r["a"].width == 16 and r["b"].lr == 0.3


def test_unknown_key_lists_the_keys_of_every_section():
    with pytest.raises(UserError) as e:
        route_settings({"a": _A(), "b": _B()}, {"widht": 3})
    assert "widht" in str(e.value) and "did you mean 'width'" in e.value.hint
    assert "a: momentum, width" in e.value.hint and "b: momentum, lr" in e.value.hint
    with pytest.raises(UserError):
        route_settings({"a": _A(), "b": _B()}, {"a.lr": 3})  # lr is b's, not a's


@pytest.mark.parametrize("method,data,key,section,valid", [
    ("cpc", "ucr:GunPoint", "widht", "series:", "width"),
    ("mlm", "text:unused.txt", "seg_token", "text:", "seg_tokens"),
    ("frame-order", "moving-fashion-mnist", "frmes", "video:", "frames"),
])
def test_an_unknown_key_names_the_modalitys_data_keys(tmp_path, method, data, key, section, valid):
    """The error comes before any data is read, and lists the data settings beside the method's."""
    with pytest.raises(UserError) as e:
        selfsup.pretrain(method, data, tmp_path / "run", progress=False, **{key: 1})
    assert f"did you mean '{valid}'" in e.value.hint
    assert section in e.value.hint and valid in e.value.hint.split(section)[1]


def _meta(run):
    return json.loads((run / "run.json").read_text())


def test_a_series_preset_applies_over_the_series_defaults_and_reaches_the_data_settings(tmp_path, monkeypatch):
    """A preset is applied after the modality's defaults (lr 1e-3) and may hold data keys (width)."""
    spec = get_method("cpc")
    monkeypatch.setitem(spec.presets, "tiny-fast", {"lr": 0.005, "width": 8, "steps": 6})
    run = tmp_path / "cpc"
    selfsup.pretrain("cpc", "ucr:GunPoint", run, preset="tiny-fast", progress=False, epochs=1)
    meta = _meta(run)
    assert meta["config"]["optim"]["lr"] == 0.005
    assert meta["series"]["width"] == 8 and meta["encoder_spec"]["width"] == 8
    assert meta["config"]["method_config"]["steps"] == 6


def test_a_text_preset_applies_over_the_text_defaults_and_reaches_the_text_settings(tmp_path, corpus, monkeypatch,
                                                                                    one_thread):
    spec = get_method("mlm")
    monkeypatch.setitem(spec.presets, "short", {"batch_size": 8, "seg_tokens": 12, "dim": 32, "heads": 2})
    run = tmp_path / "mlm"
    selfsup.pretrain("mlm", f"text:{corpus}", run, preset="short", progress=False, epochs=1, vocab_size=200,
                     depth=1, max_rows=64)
    meta = _meta(run)
    assert meta["config"]["train"]["batch_size"] == 8  # not the text default 64
    assert meta["text"]["data"]["seg_tokens"] == 12 and meta["text"]["data"]["vocab_size"] == 200
    assert meta["text"]["transformer"]["dim"] == 32 and meta["text"]["transformer"]["max_len"] == 1 + 2 * 13


def test_a_video_preset_reaches_the_clip_settings(tmp_path, monkeypatch):
    from selfsup.data.fashion_mnist import candidate_dirs

    from conftest import NEED_FMNIST

    if not any((d / "t10k-images-idx3-ubyte.gz").exists() or (d / "t10k-images-idx3-ubyte").exists()
               for d in candidate_dirs(None)):
        pytest.skip(NEED_FMNIST)
    spec = get_method("time-contrastive")
    monkeypatch.setitem(spec.presets, "tiny", {"train_clips": 16, "test_clips": 8, "frames": 12})
    run = tmp_path / "tc"
    selfsup.pretrain("time-contrastive", "moving-fashion-mnist", run, preset="tiny", progress=False, epochs=1,
                     batch_size=8, encoder_width=4, frames=10)
    assert _meta(run)["video_data"] == {"train_clips": 16, "test_clips": 8, "frames": 10}  # --set over the preset


def test_graph_settings_route_to_the_training_and_method_configs():
    from selfsup.pipelines.graph import split_settings

    spec = get_method("dgi")
    cfg, train = split_settings(spec, {"lr": "0.002", "epochs": 7})
    assert train.lr == 0.002 and train.epochs == 7
    with pytest.raises(UserError) as e:
        split_settings(spec, {"patiense": 3})
    assert "did you mean 'patience'" in e.value.hint and "train: " in e.value.hint and "method: " in e.value.hint


def test_the_api_and_the_cli_record_the_same_config(tmp_path):
    """``optim.momentum`` is the optimiser's momentum through the API, ``--set`` and a ``--config`` file
    holding a run's config.yaml sections alike (the file's ``optim:`` section is not MoCo's EMA momentum)."""
    common = {"epochs": 1, "batch_size": 64, "seed": 3, "encoder_width": 4}
    selfsup.pretrain("moco-v2", "digits", tmp_path / "api", progress=False, **common,
                     **{"optim.momentum": 0.5, "momentum": 0.95, "temperature": 0.3})
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text("optim:\n  momentum: 0.5\nmethod_config:\n  momentum: 0.95\n")
    assert main(["pretrain", "moco-v2", "--data", "digits", "--out", str(tmp_path / "cli"), "--no-progress",
                 "--epochs", "1", "--batch-size", "64", "--seed", "3", "--config", str(cfg),
                 "--set", "encoder_width=4", "--set", "temperature=0.3"]) == 0
    api, cli = _meta(tmp_path / "api")["config"], _meta(tmp_path / "cli")["config"]
    assert api["optim"]["momentum"] == 0.5 and api["method_config"]["momentum"] == 0.95
    assert api == cli


def test_method_modality_is_the_kind_of_data_and_regime_how_it_trains():
    from selfsup.methods.base import MethodSpec

    assert (get_method("pca").modality, get_method("pca").regime, get_method("pca").pipeline) == ("image", "fitted", "fitted")
    dw = get_method("deepwalk")
    assert (dw.modality, dw.regime, dw.pipeline) == ("graph", "walks", "graph-walks")
    sb = get_method("split-brain")
    assert sb.modalities == ("image", "series") and sb.pipeline == "image,series" and sb.regime == "engine"
    assert get_method("simclr").regime == "engine" and get_method("word2vec").regime == "word2vec"
    # a spec written with a first-registry string still reads
    old = MethodSpec(name="x", family="classical", modality="fitted", config_cls=_A, build=lambda *a: None,
                     description="")
    assert (old.modality, old.regime, old.pipeline) == ("image", "fitted", "fitted")
    assert "split-brain" in selfsup.list_methods(modality="series") and "cpc" in selfsup.list_methods(modality="series")
    assert selfsup.list_methods(modality="fitted") == ["gmm", "kmeans", "pca"]
    assert "deepwalk" in selfsup.list_methods(modality="graph") and "dgi" in selfsup.list_methods(modality="graph")
