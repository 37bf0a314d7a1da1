import pytest

from selfsup.config import apply_overrides, parse_set
from selfsup.errors import UserError
from selfsup.methods.simclr import SimCLRConfig
from selfsup.train.run import resolve_config


def test_strict_overrides():
    cfg = apply_overrides(SimCLRConfig(), {"temperature": "0.3", "projection": "linear"})
    assert cfg.temperature == 0.3 and cfg.projection == "linear"
    with pytest.raises(UserError, match="did you mean 'temperature'"):
        apply_overrides(SimCLRConfig(), {"temperatur": 1})
    with pytest.raises(UserError, match="expected a number"):
        apply_overrides(SimCLRConfig(), {"temperature": "hot"})
    with pytest.raises(UserError, match="choose one of"):
        apply_overrides(SimCLRConfig(), {"projection": "mlpp"})
    with pytest.raises(UserError, match="temperature must be > 0"):
        apply_overrides(SimCLRConfig(), {"temperature": "-1"})


def test_set_reaches_method_optimizer_and_train():
    cfg = resolve_config("simclr", "digits", overrides=parse_set(
        ["temperature=0.5", "optimizer=sgd", "lr=0.1", "batch_size=32", "crop_scale_min=0.5"]))
    assert cfg.method_cfg.temperature == 0.5
    assert cfg.optim.optimizer == "sgd" and cfg.optim.lr == 0.1
    assert cfg.train.batch_size == 32 and cfg.aug.crop_scale_min == 0.5
    with pytest.raises(UserError):
        parse_set(["novalue"])
    with pytest.raises(UserError, match="preset"):
        resolve_config("simclr", "digits", preset="nope")


def test_a_section_prefix_sends_a_shared_key_to_that_config():
    cfg = resolve_config("moco-v2", "digits", overrides={"momentum": "0.95", "optim.momentum": "0.8"})
    assert cfg.method_cfg.momentum == 0.95 and cfg.optim.momentum == 0.8  # plain key: the method's EMA momentum
    assert resolve_config("moco-v2", "digits", overrides={"train.epochs": "3"}).train.epochs == 3
    with pytest.raises(UserError, match="lr"):  # the key must exist in the named section
        resolve_config("moco-v2", "digits", overrides={"method.lr": "0.1"})
