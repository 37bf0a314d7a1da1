import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from selfsup.cli.main import main


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "selfsup.cli.main", *args], capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("args,needle", [
    (["pretrain", "simclrr", "--data", "digits", "--out", "X"], "did you mean 'simclr'"),
    (["pretrain", "simclr", "--data", "digitz", "--out", "X"], "did you mean 'digits'"),
    (["pretrain", "simclr", "--data", "digits", "--out", "X", "--set", "temprature=1"], "did you mean 'temperature'"),
    (["pretrain", "simclr", "--data", "digits", "--out", "X", "--set", "lr=fast"], "expected a number"),
    (["pretrain", "simclr", "--data", "npz:/nonexistent.npz", "--out", "X"], "does not exist"),
    (["evaluate", "/nonexistent-run"], "not a selfsup run directory"),
    (["pretrain", "simclr"], "needs --data"),
])
def test_user_errors_exit_nonzero_without_traceback(args, needle, tmp_path):
    args = [a.replace("X", str(tmp_path / "run")) for a in args]
    r = run_cli(*args)
    assert r.returncode == 2, r.stderr
    assert needle in r.stderr
    assert "Traceback" not in r.stderr


def test_help_everywhere():
    for cmd in ([], ["pretrain"], ["evaluate"], ["embed"], ["quickstart"], ["list"]):
        r = run_cli(*cmd, "--help")
        assert r.returncode == 0 and "usage" in r.stdout


def test_pretrain_evaluate_embed_resume(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["pretrain", "simclr", "--data", "digits", "--out", str(run), "--epochs", "2", "--batch-size", "64",
                 "--set", "encoder_width=8", "--seed", "3"]) == 0
    for f in ("run.json", "config.yaml", "metrics.csv", "encoder.safetensors", "model.safetensors", "loss.png"):
        assert (run / f).exists(), f
    ckpts = sorted((run / "checkpoints").glob("step-*.ckpt"))
    assert ckpts and ckpts[-1].name == "step-00000042.ckpt"
    # existing run dir is refused
    assert main(["pretrain", "simclr", "--data", "digits", "--out", str(run)]) == 2
    assert main(["evaluate", str(run), "--protocols", "knn,linear,fewshot", "--labels", "10%,100%", "--seeds", "0,1",
                 "--baselines", "raw,pca,random_init"]) == 0
    res = json.loads((run / "results.json").read_text())
    assert set(res["protocols"]) == {"knn", "linear", "fewshot"}
    assert set(res["protocols"]["knn"]) == {"10%", "100%"}
    assert 0.5 < res["protocols"]["linear"]["100%"]["mean"] <= 1.0
    assert set(res["baselines"]) == {"raw", "pca", "random_init"}
    assert "5way5shot" in res["protocols"]["fewshot"]
    for f in ("report.md", "accuracy_vs_labels.png", "embedding_map.png"):
        assert (run / f).exists()
    # embed, and a checkpoint saved and loaded gives identical embeddings
    np.savez(tmp_path / "in.npz", x=np.load(tmp_path / "in.npz")["x"] if False else
             __import__("selfsup.data", fromlist=["x"]).load_dataset("digits").x_test[:20].numpy())
    assert main(["embed", str(run), str(tmp_path / "in.npz"), "-o", str(tmp_path / "e.npy")]) == 0
    e1 = np.load(tmp_path / "e.npy")
    # no --encoder: the image default chosen on validation (small-cnn-2x2, 2x2 cells x 8 * width 8 = 256-d)
    assert json.loads((run / "run.json").read_text())["config"]["encoder"] == "small-cnn-2x2"
    assert e1.shape == (20, 256)
    from selfsup.eval.features import load_run_encoder

    f2, _ = load_run_encoder(run)
    from selfsup.data import load_dataset

    e2 = f2(load_dataset("digits").x_test[:20]).numpy()
    np.testing.assert_array_equal(e1, e2)


@pytest.mark.parametrize("stop_at", [3, 17])  # mid-epoch, and just after an epoch boundary
def test_interrupted_run_resumes_to_the_same_weights(tmp_path, monkeypatch, stop_at):
    """A run stopped by Ctrl-C after step ``stop_at`` and resumed from its checkpoint ends
    with exactly the weights of the uninterrupted run (same seed)."""
    from safetensors.torch import load_file

    from selfsup.train.module import SelfSupModule
    from selfsup.train.run import pretrain, resolve_config

    over = {"epochs": 2, "batch_size": 64, "seed": 1}  # digits: 1437 train images -> 22 steps/epoch
    full = tmp_path / "full"
    pretrain(resolve_config("simclr", "digits", overrides=over, encoder_width=8), full, progress=False)

    original = SelfSupModule.on_train_batch_start

    def interrupt(self, batch, batch_idx):
        if self.global_step == stop_at:
            raise KeyboardInterrupt
        return original(self, batch, batch_idx)

    part = tmp_path / "part"
    monkeypatch.setattr(SelfSupModule, "on_train_batch_start", interrupt)
    with pytest.raises(KeyboardInterrupt):
        pretrain(resolve_config("simclr", "digits", overrides=over, encoder_width=8), part, progress=False)
    monkeypatch.setattr(SelfSupModule, "on_train_batch_start", original)
    assert json.loads((part / "run.json").read_text())["status"] == "interrupted"
    assert (part / "checkpoints" / f"step-{stop_at:08d}.ckpt").is_file()
    assert main(["pretrain", "--resume", str(part), "--no-progress"]) == 0
    meta = json.loads((part / "run.json").read_text())
    assert meta["status"] == "finished" and meta["steps"] == json.loads((full / "run.json").read_text())["steps"]
    a, b = load_file(str(full / "model.safetensors")), load_file(str(part / "model.safetensors"))
    assert a.keys() == b.keys()
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=1e-5, atol=1e-6, msg=k)


def test_tampered_checkpoint_is_refused(tmp_path):
    from selfsup.errors import UserError
    from selfsup.train.checkpoint import latest_valid_checkpoint, load_checkpoint

    ck = tmp_path / "checkpoints"
    ck.mkdir()
    (ck / "step-00000001.ckpt").write_bytes(b"\x80\x04junk")
    with pytest.raises(UserError):
        load_checkpoint(ck / "step-00000001.ckpt")
    with pytest.warns(UserWarning):
        assert latest_valid_checkpoint(ck) is None


def test_quickstart_minutes_default_is_the_recipe_budget(monkeypatch, tmp_path):
    """`selfsup quickstart` without --minutes runs the recipe's budget (QUICKSTART_MINUTES), with it the given one."""
    import selfsup.pipelines.quickstart as qs
    from selfsup.cli.main import main

    seen = []
    monkeypatch.setattr(qs, "run_quickstart", lambda out, minutes, **kw: seen.append(minutes) or {})
    assert main(["quickstart", "--out", str(tmp_path / "a")]) == 0
    assert main(["quickstart", "--out", str(tmp_path / "b"), "--minutes", "0.5"]) == 0
    assert seen == [qs.QUICKSTART_MINUTES, 0.5]
    from selfsup.cli.main import build_parser

    sub = next(a for a in build_parser()._actions if a.dest == "command" or getattr(a, "choices", None))
    minutes = next(a for a in sub.choices["quickstart"]._actions if a.dest == "minutes")
    assert f"default {qs.QUICKSTART_MINUTES:g}" in minutes.help  # the help's prose states the recipe's budget


def test_evaluate_k_help_states_the_harness_grid():
    """`selfsup evaluate --help` names the kNN grid the harness chooses k from (written out there to keep --help
    free of torch), so the two cannot drift apart."""
    from selfsup.cli.main import KNN_K_GRID_HELP
    from selfsup.eval.harness import EvalConfig

    assert KNN_K_GRID_HELP == ",".join(str(k) for k in EvalConfig().knn_k_grid)
