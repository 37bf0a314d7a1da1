"""One progress bar per run: steps of the whole run (its ETA), not one bar per epoch."""

import pytest

from selfsup.train.run import pretrain, resolve_config

pytestmark = pytest.mark.usefixtures("one_thread")


def _cfg(**over):
    return resolve_config("simclr", "digits", overrides={"batch_size": 128, "seed": 0, "train_samples": 640,
                                                         "ckpt_every_minutes": 0, **over}, encoder_width=8)


def test_one_bar_counts_the_runs_steps_across_epochs(tmp_path, capsys):
    run = tmp_path / "run"
    pretrain(_cfg(epochs=2), run, progress=True)  # 5 steps an epoch
    cap = capsys.readouterr()
    err = cap.out + cap.err
    assert "pretraining, epoch 2/2" in err and "10/10" in err
    assert "Epoch 0:" not in err and "5/5" not in err  # no per-epoch bars


def test_a_budget_run_shows_its_budget(tmp_path, capsys):
    pretrain(_cfg(max_minutes=0.02), tmp_path / "run", progress=True)
    cap = capsys.readouterr()
    err = cap.out + cap.err
    assert "pretraining" in err and "budget=0.02 min" in err
