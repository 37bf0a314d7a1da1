"""Defaults that fit small data: the default batch size shrinks to the data (said in one line and in
run.json), a given one that is too large is an error; --max-minutes without --epochs trains until the
clock; without either, small data trains for at least ``min_steps`` optimizer steps; a resumed run keeps
its first segment's batch size and stopping rule."""

import csv
import json

import pytest
import torch

from selfsup.cli.main import main
from selfsup.errors import UserError
from selfsup.train.module import SelfSupModule
from selfsup.train.run import pretrain, resolve_config

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py

TINY = {"seed": 1, "ckpt_every_minutes": 0, "log_every_steps": 1}  # digits, the first train_samples images


def _run(tmp_path, name, **over):
    cfg = resolve_config("simclr", "digits", overrides={**TINY, **over}, encoder_width=4)
    return pretrain(cfg, tmp_path / name, progress=False)


def _lrs(run_dir):
    with open(run_dir / "metrics.csv") as f:
        return [float(r["lr"]) for r in csv.DictReader(f)]


# --------------------------------------------------------------------------- the plan itself
def test_plan_caps_only_the_default_batch_size():
    from selfsup.train.config import DEFAULT_BATCH_SIZE, TrainConfig, plan_training

    plan = plan_training(TrainConfig(epochs=2), 160)
    assert plan.batch_size == 160 and plan.batch_size_requested is None and plan.steps_per_epoch == 1
    assert str(DEFAULT_BATCH_SIZE) in plan.batch_note and "160" in plan.batch_note
    assert plan_training(TrainConfig(epochs=2), 5000).batch_size == DEFAULT_BATCH_SIZE  # fits: unchanged
    assert plan_training(TrainConfig(epochs=2), 5000).batch_note == ""
    # sharded over 2 processes: each takes 80 of the 160 samples
    assert plan_training(TrainConfig(epochs=2), 160, world=2).batch_size == 80
    with pytest.raises(UserError, match="batch size 200 is larger than the dataset") as e:
        plan_training(TrainConfig(batch_size=200, epochs=2), 160)
    assert "--batch-size 160" in e.value.hint and "leave --batch-size out" in e.value.hint
    with pytest.raises(UserError, match="at least 2"):
        plan_training(TrainConfig(), 1)


def test_plan_stopping_rules():
    from selfsup.train.config import TrainConfig, plan_training

    given = plan_training(TrainConfig(epochs=3, max_minutes=5), 160)
    assert (given.stop_rule, given.max_steps) == ("epochs", 3)  # given epochs: always obeyed
    budget = plan_training(TrainConfig(max_minutes=2), 160)
    assert budget.stop_rule == "budget" and budget.max_steps is None and budget.epochs is None
    small = plan_training(TrainConfig(batch_size=64, min_steps=100), 160)  # 2 steps an epoch
    assert (small.stop_rule, small.epochs, small.max_steps) == ("min_steps", 50, 100)
    large = plan_training(TrainConfig(min_steps=100), 60000)  # 10 epochs = 2340 steps >= 100
    assert (large.stop_rule, large.epochs, large.max_steps) == ("default_epochs", 10, 2340)


# --------------------------------------------------------------------------- batch size
def test_default_batch_size_larger_than_the_data_uses_the_data(tmp_path, capsys):
    meta = _run(tmp_path, "r", train_samples=40, epochs=2)
    out = capsys.readouterr().out
    assert sum("batch size" in line for line in out.splitlines()) == 1, out
    assert "256" in out and "40" in out
    plan = meta["training_plan"]
    assert plan["batch_size"] == 40 and plan["batch_size_requested"] is None and "256" in plan["batch_note"]
    stored = json.loads((tmp_path / "r" / "run.json").read_text())
    assert stored["training_plan"] == plan and stored["config"]["train"]["batch_size"] is None
    assert meta["status"] == "finished" and meta["steps"] == 2  # 1 step an epoch, 2 epochs as given


@pytest.mark.parametrize("flag", [["--batch-size", "64"], ["--set", "batch_size=64"]])
def test_given_batch_size_larger_than_the_data_is_an_error(tmp_path, capsys, flag):
    out = tmp_path / "r"
    rc = main(["pretrain", "simclr", "--data", "digits", "--out", str(out), "--epochs", "1", "--no-progress",
               "--set", "train_samples=40", "--set", "encoder_width=4", *flag])
    err = capsys.readouterr().err
    assert rc == 2 and "batch size 64 is larger than the dataset (40 samples)" in err, err
    assert "--batch-size 40" in err and "leave --batch-size out" in err and "Traceback" not in err
    assert not (out / "checkpoints").exists()


# --------------------------------------------------------------------------- stopping rules
def test_max_minutes_without_epochs_trains_until_the_budget(tmp_path):
    """0.1 minutes on 32 digits: the old default of 10 epochs (20 steps) ended long before the clock."""
    meta = _run(tmp_path, "r", train_samples=32, batch_size=16, max_minutes=0.1)
    assert meta["status"] == "finished" and meta["epochs"] > 10, meta
    assert meta["train_seconds"] >= 0.1 * 60 * 0.9, meta  # the budget was used
    plan = meta["training_plan"]
    assert plan["stop_rule"] == "budget" and "--max-minutes" in plan["stop_note"]
    lrs = _lrs(tmp_path / "r")
    peak = resolve_config("simclr", "digits").optim.lr
    assert max(lrs) > 0.5 * peak and lrs[-1] < 0.05 * peak, lrs[-5:]  # annealed by the clock


def test_small_data_without_epochs_takes_min_steps(tmp_path):
    meta = _run(tmp_path, "r", train_samples=32, batch_size=16, min_steps=30)  # 2 steps an epoch
    plan = meta["training_plan"]
    assert (plan["stop_rule"], plan["epochs"], plan["max_steps"]) == ("min_steps", 15, 30)
    assert meta["steps"] == 30 and meta["epochs"] == 15
    lrs = _lrs(tmp_path / "r")
    peak = resolve_config("simclr", "digits").optim.lr
    assert len(lrs) == 30 and lrs[-1] < 0.05 * peak  # the cosine spans the 30 steps, not 10 epochs' 20


def test_given_epochs_are_obeyed_on_small_data(tmp_path):
    meta = _run(tmp_path, "r", train_samples=32, batch_size=16, epochs=1, min_steps=30)
    assert meta["training_plan"]["stop_rule"] == "epochs" and meta["steps"] == 2


# --------------------------------------------------------------------------- resume
def test_resume_keeps_the_batch_size_and_stopping_rule(tmp_path, monkeypatch):
    """A capped-batch, min-steps run stopped after step 5 and resumed (with a budget added, which may
    change the budget but not the rule) ends at the same step with the same weights."""
    from safetensors.torch import load_file

    over = {"train_samples": 40, "min_steps": 12}  # batch 40 (capped): 1 step an epoch, 12 epochs
    full = _run(tmp_path, "full", **over)
    original = SelfSupModule.on_train_batch_start

    def interrupt(self, batch, batch_idx):
        if self.global_step == 5:
            raise KeyboardInterrupt
        return original(self, batch, batch_idx)

    monkeypatch.setattr(SelfSupModule, "on_train_batch_start", interrupt)
    with pytest.raises(KeyboardInterrupt):
        _run(tmp_path, "part", **over)
    monkeypatch.setattr(SelfSupModule, "on_train_batch_start", original)
    part = tmp_path / "part"
    assert main(["pretrain", "--resume", str(part), "--no-progress", "--set", "max_minutes=5"]) == 0
    meta = json.loads((part / "run.json").read_text())
    assert meta["training_plan"] == full["training_plan"]
    assert meta["training_plan"]["stop_rule"] == "min_steps" and meta["training_plan"]["batch_size"] == 40
    assert meta["status"] == "finished" and meta["steps"] == full["steps"] == 12
    a, b = load_file(str(tmp_path / "full" / "model.safetensors")), load_file(str(part / "model.safetensors"))
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=1e-5, atol=1e-6, msg=k)


def test_budget_run_cannot_resume_without_a_budget(tmp_path, capsys):
    run = tmp_path / "r"
    meta = _run(tmp_path, "r", train_samples=32, batch_size=16, max_minutes=0.02)
    assert meta["training_plan"]["stop_rule"] == "budget"
    capsys.readouterr()
    assert main(["pretrain", "--resume", str(run), "--no-progress", "--set", "max_minutes=0"]) == 2
    err = capsys.readouterr().err
    assert "its stopping rule is its time budget" in err and "max_minutes" in err, err


# --------------------------------------------------------------------------- a small folder, end to end
def test_small_image_folder_pretrains_and_evaluates_without_batch_flags(tmp_path, capsys):
    """60 digit images in class folders (50 train / 10 test): the default batch fits itself to the data
    and `selfsup evaluate` copes with a test set smaller than the embedding map's 50 PCA components."""
    import numpy as np
    from PIL import Image

    from selfsup.data import load_dataset

    digits = load_dataset("digits")
    root = tmp_path / "imgs"
    for c in range(10):
        (root / str(c)).mkdir(parents=True)
        for i in np.flatnonzero(digits.y_train.numpy() == c)[:6]:
            Image.fromarray(digits.x_train[i, 0].numpy()).save(root / str(c) / f"{i}.png")
    run = tmp_path / "run"
    assert main(["pretrain", "simclr", "--data", f"folder:{root}", "--out", str(run), "--epochs", "2",
                 "--no-progress", "--image-size", "16"]) == 0  # default width: 64-d features
    meta = json.loads((run / "run.json").read_text())
    assert meta["training_plan"]["batch_size"] == 50 and meta["steps"] == 2
    assert main(["evaluate", str(run), "--protocols", "knn", "--labels", "100%", "--seeds", "0",
                 "--baselines", "raw"]) == 0, capsys.readouterr().err
    res = json.loads((run / "results.json").read_text())
    assert "100%" in res["protocols"]["knn"] and (run / "embedding_map.png").is_file()
