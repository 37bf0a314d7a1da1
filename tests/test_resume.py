"""``selfsup pretrain --resume RUN_DIR`` for every modality: text and video runs continue from their
newest checkpoint on the same data; runs that keep no checkpoints are refused with a clear error."""

import json

import numpy as np
import pytest
import torch

from selfsup.cli.main import main
from conftest import TEXT_SENTS
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
    # few-shot on the tiny test set (a few frames of a few classes): a smaller episode, not a crash
    assert main(["evaluate", str(run), "--protocols", "fewshot", "--baselines", "none"]) == 0
    fs = json.loads((run / "results.json").read_text())["protocols"]["fewshot"]["5way5shot"]
    assert fs["episodes"] == 0 and "skipped" in fs["skipped"] if "skipped" in fs else "note" in fs


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
        ("dgi", ["--data", graph, "--epochs", "2", "--set", "hidden_dim=8"], "model.pt"),
        ("grace", ["--data", graph, "--epochs", "2", "--set", "hidden_dim=8"], "model.pt"),
        ("cpc", ["--data", series_npz(tmp_path), "--epochs", "1", "--set", "width=8"], "model.pt"),
        ("temporal-contrast", ["--data", series_npz(tmp_path), "--epochs", "1", "--set", "width=8"], "model.pt"),
        ("ts2vec", ["--data", series_npz(tmp_path), "--epochs", "1", "--set", "width=8"], "model.pt"),
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
