"""``selfsup pretrain --resume RUN_DIR`` for every modality: text and video runs continue from their
newest checkpoint on the same data; runs that keep no checkpoints are refused with a clear error."""

import json
import shutil

import numpy as np
import pytest
import torch
from conftest import TEXT_SENTS

from selfsup.cli.main import main
from selfsup.train.module import SelfSupModule

pytestmark = pytest.mark.usefixtures("one_thread")  # corpus: tests/conftest.py


def interrupt_at(monkeypatch, step):
    """Ctrl-C before training step ``step`` (after the checkpoint of step ``step``)."""
    original = SelfSupModule.on_train_batch_start

    def interrupt(self, batch, batch_idx):
        if self.global_step == step:
            raise KeyboardInterrupt
        return original(self, batch, batch_idx)

    monkeypatch.setattr(SelfSupModule, "on_train_batch_start", interrupt)
    return lambda: monkeypatch.setattr(SelfSupModule, "on_train_batch_start", original)


def weights(run):
    from safetensors.torch import load_file

    return load_file(str(run / "model.safetensors"))


def assert_same_weights(a, b):
    wa, wb = weights(a), weights(b)
    assert wa.keys() == wb.keys()
    for k in wa:  # bit-identical: same data, same steps, same random streams (CPU, one thread)
        assert torch.equal(wa[k], wb[k]), (k, float((wa[k].double() - wb[k].double()).abs().max()))


def killed_after(src, step, dst):
    """``dst``: the run directory ``src`` was at the moment its ``step-{step}`` checkpoint was written, as a
    SIGKILL right then leaves it (run.json says running; the checkpoints written so far; no weights yet)."""
    meta = json.loads((src / "run.json").read_text())
    for key in ("train_seconds", "steps", "epochs", "final_loss", "skipped_steps", "wall_seconds_this_segment"):
        meta.pop(key, None)
    (dst / "checkpoints").mkdir(parents=True)
    (dst / "run.json").write_text(json.dumps(dict(meta, status="running")))
    shutil.copy(src / "config.yaml", dst / "config.yaml")
    for ckpt in sorted((src / "checkpoints").glob("step-*.ckpt")):
        if int(ckpt.stem.split("-")[1]) <= step:
            for p in (ckpt, ckpt.with_name(ckpt.name + ".sha256")):
                shutil.copy(p, dst / "checkpoints" / p.name)
    assert (dst / "checkpoints" / f"step-{step:08d}.ckpt").is_file()
    return dst


# the run of issue 16: 1347 digits at batch 128 are 10 steps an epoch, 30 in all
DIGITS = ["--data", "digits", "--epochs", "3", "--batch-size", "128", "--seed", "7", "--no-progress",
          "--set", "keep_checkpoints=10"]


def test_resume_right_after_an_epoch_end_checkpoint_is_exact(tmp_path):
    """Killed right after the step-10 or step-20 epoch-end checkpoint: the resumed run trains the remaining
    steps and ends at step 30 with the uninterrupted run's weights (it used to finish at step 21)."""
    full = tmp_path / "full"
    assert main(["pretrain", "simclr", "--out", str(full)] + DIGITS) == 0
    ref = json.loads((full / "run.json").read_text())
    assert ref["steps"] == 30
    assert [p.name for p in sorted((full / "checkpoints").glob("*.ckpt"))] == [
        "step-00000010.ckpt", "step-00000020.ckpt", "step-00000030.ckpt"]  # the epoch ends
    for step in (10, 20):
        run = killed_after(full, step, tmp_path / f"killed-{step}")
        assert main(["pretrain", "--resume", str(run), "--no-progress"]) == 0
        meta = json.loads((run / "run.json").read_text())
        assert meta["status"] == "finished" and meta["steps"] == 30, (step, meta["steps"])
        assert max(p.name for p in (run / "checkpoints").glob("*.ckpt")) == "step-00000030.ckpt"
        assert_same_weights(full, run)


def test_a_checkpoint_dumped_in_on_train_epoch_end_resumes_exactly(tmp_path, monkeypatch):
    """Checkpoints of earlier versions (and one written when training ends between batches) hold Lightning's
    loop counters of ``on_train_epoch_end``: they are read back as the state at the end of the epoch's last batch."""
    from selfsup.train.callbacks import AtomicCheckpoint

    def every_steps_only(self, trainer, pl_module, *args):
        if self.every_steps > 0 and trainer.global_step % self.every_steps == 0:
            self.save(trainer)

    full = tmp_path / "full"
    with monkeypatch.context() as m:  # the old moment of the epoch-end checkpoint
        m.setattr(AtomicCheckpoint, "on_train_batch_end", every_steps_only)
        m.setattr(AtomicCheckpoint, "on_train_epoch_end", lambda self, trainer, pl_module: self.save(trainer), raising=False)
        assert main(["pretrain", "simclr", "--out", str(full)] + DIGITS) == 0
    run = killed_after(full, 20, tmp_path / "killed")
    assert main(["pretrain", "--resume", str(run), "--no-progress"]) == 0
    assert json.loads((run / "run.json").read_text())["steps"] == 30
    assert_same_weights(full, run)


def test_a_second_resume_after_a_mid_epoch_resume_is_exact(tmp_path):
    """Killed mid-epoch 1 (step 15), resumed, killed again mid-epoch 2 (step 25) and resumed: the checkpoints the
    first resumed segment wrote hold the right data position too."""
    full = tmp_path / "full"
    argv = DIGITS + ["--set", "ckpt_every_steps=5"]
    assert main(["pretrain", "simclr", "--out", str(full)] + argv) == 0
    once = killed_after(full, 15, tmp_path / "once")
    assert main(["pretrain", "--resume", str(once), "--no-progress"]) == 0
    twice = killed_after(once, 25, tmp_path / "twice")
    assert main(["pretrain", "--resume", str(twice), "--no-progress"]) == 0
    assert json.loads((twice / "run.json").read_text())["steps"] == 30
    assert_same_weights(full, twice)


def test_a_loop_state_that_disagrees_with_the_data_position_is_refused(tmp_path, capsys):
    """A restored loop at another batch than the checkpoint's data position stops before any update, with a
    message, instead of training other batches than an uninterrupted run would."""
    from selfsup.train.checkpoint import atomic_torch_save

    full = tmp_path / "full"
    assert main(["pretrain", "simclr", "--out", str(full)] + DIGITS) == 0
    run = killed_after(full, 10, tmp_path / "bad")
    path = run / "checkpoints" / "step-00000010.ckpt"
    ckpt = torch.load(path, weights_only=True)
    ckpt["selfsup"]["loader"] = {"epoch": 1, "position": 3}  # Lightning's loop stands at batch 0 of epoch 1
    atomic_torch_save(ckpt, path)
    capsys.readouterr()
    assert main(["pretrain", "--resume", str(run), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "is at batch 0 of its epoch 1, but the data order is at batch 3 of epoch 1" in err, err
    assert "Traceback" not in err
    assert json.loads((run / "run.json").read_text())["status"] == "failed"
    assert not (run / "model.safetensors").exists()


def test_the_loader_moves_to_the_next_epochs_order_without_being_asked_past_the_end():
    """Lightning's fetcher takes exactly len(loader) batches an epoch and never asks for more: each epoch must
    still get its own order (it used to replay epoch 0's), and the cursor is where the next batch comes from."""
    from selfsup.train.loader import BatchLoader

    loader = BatchLoader(torch.arange(40), batch_size=8, seed=3)
    epochs = []
    for _ in range(3):
        it = iter(loader)
        epochs.append(torch.cat([next(it)[1] for _ in range(len(loader))]))
        assert loader.position_state() == {"epoch": len(epochs), "position": 0}
    for e, order in enumerate(epochs):
        assert torch.equal(order, torch.randperm(40, generator=torch.Generator().manual_seed(3 + e)))
    assert not torch.equal(epochs[0], epochs[1])
    other = BatchLoader(torch.arange(40), batch_size=8, seed=3)
    other.load_position_state({"epoch": 1, "position": 2})
    assert torch.equal(torch.cat([b for _, b in other]), epochs[1][16:])
    other.load_position_state({"epoch": 1, "position": 5})  # an epoch's end is the next epoch's start
    assert torch.equal(next(iter(other))[1], epochs[2][:8])


TEXT = ["--epochs", "2", "--no-progress", "--batch-size", "32", "--set", "vocab_size=200", "--set", "dim=16",
        "--set", "depth=1", "--set", "heads=2", "--set", "seg_tokens=10", "--set", "heldout_fraction=0.2",
        "--set", "ckpt_every_steps=1", "--seed", "3"]


def test_interrupted_text_run_resumes_to_the_same_weights(tmp_path, corpus, monkeypatch):
    from selfsup.data.tokenize import TextTokenizer

    # one tokenizer for both runs: training a WordPiece vocabulary twice can number the pieces differently
    fixed = TextTokenizer.train(corpus.read_text().splitlines(), 200)
    monkeypatch.setattr(TextTokenizer, "train", classmethod(lambda cls, *a, **k: fixed))
    full, part = tmp_path / "full", tmp_path / "part"
    assert main(["pretrain", "mlm", "--data", f"text:{corpus}", "--out", str(full)] + TEXT) == 0
    restore = interrupt_at(monkeypatch, 3)
    assert main(["pretrain", "mlm", "--data", f"text:{corpus}", "--out", str(part)] + TEXT) == 130
    restore()
    meta = json.loads((part / "run.json").read_text())
    assert meta["status"] == "interrupted" and meta["steps"] == 3
    assert (part / "tokenizer.json").is_file()  # written when the run started: the resume needs it
    monkeypatch.setattr(TextTokenizer, "train", None)  # the resume must use the run's own tokenizer
    assert main(["pretrain", "--resume", str(part), "--no-progress"]) == 0
    meta, ref = json.loads((part / "run.json").read_text()), json.loads((full / "run.json").read_text())
    assert meta["status"] == "finished" and meta["steps"] == ref["steps"] > 3
    assert meta["text"] == ref["text"] and meta["heldout"]["mlm_masked_tokens"] > 0
    a, b = weights(full), weights(part)  # the masks after the resume are the uninterrupted run's masks
    assert a.keys() == b.keys()
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=1e-5, atol=1e-6, msg=k)


def test_text_resume_without_the_tokenizer_is_refused(tmp_path, corpus, monkeypatch, capsys):
    part = tmp_path / "part"
    restore = interrupt_at(monkeypatch, 2)
    assert main(["pretrain", "bert", "--data", f"text:{corpus}", "--out", str(part)] + TEXT) == 130
    restore()
    (part / "tokenizer.json").unlink()
    capsys.readouterr()
    assert main(["pretrain", "--resume", str(part), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "tokenizer (tokenizer.json) is missing" in err and "Traceback" not in err


def test_text_resume_refuses_a_changed_corpus(tmp_path, corpus, monkeypatch, capsys):
    part = tmp_path / "part"
    restore = interrupt_at(monkeypatch, 2)
    assert main(["pretrain", "nsp", "--data", f"text:{corpus}", "--out", str(part)] + TEXT) == 130
    restore()
    corpus.write_text(corpus.read_text() * 2)
    capsys.readouterr()
    assert main(["pretrain", "--resume", str(part), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "no longer gives the data" in err and "Traceback" not in err


def test_video_resume_rebuilds_the_runs_own_clips(tmp_path, monkeypatch):
    from selfsup.data.fashion_mnist import candidate_dirs

    if not any((d / "t10k-images-idx3-ubyte.gz").exists() or (d / "t10k-images-idx3-ubyte").exists()
               for d in candidate_dirs(None)):
        pytest.skip("Fashion-MNIST not installed")
    run = tmp_path / "run"
    restore = interrupt_at(monkeypatch, 2)
    # 40 clips of 10 frames, batch 8: 5 steps an epoch (the generator's defaults would give hundreds)
    assert main(["pretrain", "time-contrastive", "--data", "moving-fashion-mnist", "--out", str(run), "--epochs", "1",
                 "--batch-size", "8", "--no-progress", "--set", "train_clips=40", "--set", "test_clips=8",
                 "--set", "frames=10", "--set", "encoder_width=4", "--set", "ckpt_every_steps=1"]) == 130
    restore()
    assert json.loads((run / "run.json").read_text())["video_data"]["train_clips"] == 40
    assert main(["pretrain", "--resume", str(run), "--no-progress"]) == 0
    meta = json.loads((run / "run.json").read_text())
    assert meta["status"] == "finished" and meta["steps"] == 5
    assert meta["video_data"] == {"train_clips": 40, "test_clips": 8, "frames": 10}
    # few-shot on the tiny test set (8 clips: no two classes with two samples): skipped with its reason, not a crash
    assert main(["evaluate", str(run), "--protocols", "fewshot", "--baselines", "none"]) == 0
    fs = json.loads((run / "results.json").read_text())["protocols"]["fewshot"]["5way5shot"]
    assert fs["episodes"] == 0 and fs["mean"] is None and "note" not in fs, fs
    assert fs["skipped"].startswith("few-shot skipped: the test set has fewer than 2 classes with 2 samples"), fs


def planted_edges(tmp_path, n=12):
    rng = np.random.default_rng(0)
    edges = [(b + i, b + j) for b in (0, n) for i in range(n) for j in range(i + 1, n) if rng.random() < 0.5]
    (tmp_path / "e.txt").write_text("\n".join(f"{a} {b}" for a, b in edges + [(0, n)]))
    np.savetxt(tmp_path / "y.txt", np.repeat([0, 1], n), fmt="%d")
    np.savetxt(tmp_path / "x.txt", rng.normal(size=(2 * n, 4)))
    return f"edgelist:{tmp_path / 'e.txt'},{tmp_path / 'x.txt'},{tmp_path / 'y.txt'}"


def series_npz(tmp_path):
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(24, 1, 32)).astype("float32"), np.repeat([0, 1], 12)
    np.savez(tmp_path / "s.npz", x=x, y=y, x_test=x[:8], y_test=y[:8])
    return f"npz:{tmp_path / 's.npz'}"


def no_checkpoint_runs(tmp_path):
    """(method, pretrain arguments, what the run keeps) for the modalities without checkpoints."""
    corpus = tmp_path / "c.txt"
    corpus.write_text("\n".join(TEXT_SENTS * 20) + "\n")
    graph = planted_edges(tmp_path)
    w2v = ["--set", "min_count=1", "--set", "vector_size=8", "--set", "workers=1", "--epochs", "1"]
    return [
        ("word2vec", ["--data", f"text:{corpus}", *w2v, "--no-progress"], "vectors.txt"),
        ("deepwalk", ["--data", graph, "--set", "vector_size=8", "--set", "num_walks=2", "--set", "walk_length=10",
                      "--set", "workers=1"], "embeddings.pt"),
        ("pca", ["--data", "digits", "--set", "n_components=4"], "encoder.safetensors"),
    ]


def test_runs_without_checkpoints_refuse_to_resume_clearly(tmp_path, capsys):
    for method, argv, kept in no_checkpoint_runs(tmp_path):
        run = tmp_path / method
        assert main(["pretrain", method, "--out", str(run), *argv]) == 0, method
        before = (run / "run.json").read_text()
        capsys.readouterr()
        assert main(["pretrain", "--resume", str(run), "--no-progress"]) == 2, method
        err = capsys.readouterr().err
        assert f"cannot resume {run}" in err and ("no checkpoints" in err or "fitted in one go" in err), err
        assert f"selfsup pretrain {method} --data" in err and "Traceback" not in err, err
        assert (run / "run.json").read_text() == before and (run / kept).is_file()  # the run is left as it was
        assert not (run / "checkpoints").exists()


def test_resume_of_a_run_that_wrote_nothing_is_a_clear_error(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert main(["pretrain", "--resume", str(tmp_path / "empty")]) == 2
    err = capsys.readouterr().err
    assert "nothing to resume" in err and "start the run again" in err
