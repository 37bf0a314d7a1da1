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


def test_declared_bounds_and_choices_are_checked_with_the_field_named():
    from dataclasses import dataclass
    from typing import Literal

    from selfsup.config import Checked, bounded

    @dataclass
    class Cfg(Checked):
        size: int = bounded(4, ge=1)
        rate: float = bounded(0.5, gt=0, lt=1)
        prob: float = bounded(0.0, ge=0, le=1)
        cap: int | None = bounded(None, ge=2)
        mode: Literal["a", "b"] = "a"
        free: float = -3.0  # no bounds declared: anything goes

    Cfg().validate()
    Cfg(rate=0.999, prob=1.0, cap=2, size=1).validate()  # the inclusive ends hold
    for bad, message in [({"size": 0}, "size must be >= 1, got 0"),
                         ({"rate": 1.0}, r"rate must be in \(0, 1\)"),
                         ({"rate": 0}, r"rate must be in \(0, 1\), got 0"),
                         ({"prob": 1.5}, r"prob must be in \[0, 1\]"),
                         ({"cap": 1}, "cap must be >= 2"),
                         ({"mode": "c"}, "mode must be 'a' or 'b', got 'c'")]:
        with pytest.raises(UserError, match=message):
            Cfg(**bad).validate()
    with pytest.raises(UserError, match="size must be >= 1"):  # the override path checks them too
        apply_overrides(Cfg(), {"size": "0"})
    with pytest.raises(TypeError):
        bounded(1, ge=0, gt=0)


def test_a_hand_written_validate_keeps_the_declared_checks():
    from selfsup.methods.memory_bank import MemoryBankConfig
    from selfsup.methods.tracking import TrackingConfig

    with pytest.raises(UserError, match="bank_momentum must be in"):
        MemoryBankConfig(bank_momentum=1.0).validate()
    with pytest.raises(UserError, match="num_negatives >= 1"):  # the rule between two fields
        MemoryBankConfig(loss="nce", num_negatives=0).validate()
    with pytest.raises(UserError, match="min_length must be >= 2"):
        TrackingConfig(min_length=1).validate()
    with pytest.raises(UserError, match="min_length <= max_length"):
        TrackingConfig(min_length=6, max_length=5).validate()
