"""Text CLI end to end on tiny corpora, labeled task loaders, user errors."""

import json
import shutil

import numpy as np
import torch
import pytest

from selfsup.cli.main import main
from selfsup.errors import UserError

pytestmark = pytest.mark.usefixtures("one_thread")  # corpus: tests/conftest.py


@pytest.fixture
def csv_task(tmp_path):
    rows = ["text,label"]
    for i in range(40):
        rows.append(f"\"the cat and the dog number {i}\",pets")
        rows.append(f"\"it rained at the market day {i}\",weather")
    p = tmp_path / "task.csv"
    p.write_text("\n".join(rows) + "\n")
    return p


def test_pretrain_and_evaluate_mlm(tmp_path, corpus, csv_task, capsys):
    from selfsup.pipelines.text_eval import TextEvalConfig, run_text_evaluation
    from selfsup.train.run import load_run

    out = tmp_path / "run"
    rc = main(["pretrain", "mlm", "--data", f"text:{corpus}", "--out", str(out), "--epochs", "2", "--no-progress",
               "--batch-size", "32", "--set", "vocab_size=200", "--set", "dim=32", "--set", "depth=1",
               "--set", "heads=2", "--set", "seg_tokens=10", "--set", "threads=1", "--set", "heldout_fraction=0.2"])
    assert rc == 0
    for f in ("run.json", "tokenizer.json", "encoder.safetensors", "model.safetensors"):
        assert (out / f).is_file(), f
    meta = load_run(out)
    assert meta["modality"] == "text" and meta["status"] == "finished"
    h = meta["heldout"]
    v = meta["text"]["transformer"]["vocab_size"]  # a uniform guess over it: accuracy 1 / v, perplexity v
    assert h["mlm_accuracy"] > 5 / v and 1 < h["mlm_perplexity"] < v and h["mlm_masked_tokens"] > 0
    ecfg = TextEvalConfig(labels=("10%", "100%"), seeds=(0, 1), finetune_steps=15, finetune_batch_size=16,
                          baselines=("bow", "supervised", "word2vec"))
    res = run_text_evaluation(out, meta, f"csv:{csv_task}", ecfg=ecfg, log=lambda s: None)
    saved = json.loads((out / "results.json").read_text())
    assert saved["task"].startswith("csv:")
    for key in ("10%", "100%"):
        assert saved["protocols"]["finetune"][key]["mean"] >= 0.9  # the classes share no content word
        assert saved["protocols"]["linear"][key]["mean"] >= 0.9
        assert saved["baselines"]["supervised"]["finetune"][key]["mean"] >= 0.9
    assert len(saved["protocols"]["finetune"]["10%"]["values"]) == 2
    # the two classes share no content words: bag of words separates them perfectly
    assert saved["baselines"]["bow"]["linear"]["100%"]["mean"] == 1.0
    assert "linear" in saved["baselines"]["word2vec"] and (out / "word2vec.npz").is_file()
    assert res["settings"]["word2vec_engine"]
    assert (out / "report.md").read_text().startswith("# mlm")


def test_evaluate_needs_task_and_rejects_bad_input(tmp_path, corpus, capsys):
    out = tmp_path / "run"
    assert main(["pretrain", "nsp", "--data", f"text:{corpus}", "--out", str(out), "--epochs", "1", "--no-progress",
                 "--batch-size", "16", "--set", "vocab_size=200", "--set", "dim=16", "--set", "depth=1",
                 "--set", "heads=2", "--set", "seg_tokens=8", "--set", "threads=1", "--set", "max_rows=64"]) == 0
    assert json.loads((out / "run.json").read_text())["heldout"]["nsp_chance"] == 0.5
    capsys.readouterr()
    assert main(["evaluate", str(out)]) == 2
    assert "--task" in capsys.readouterr().err
    assert main(["evaluate", str(out), "--task", "fortunez"]) == 2
    assert "did you mean 'fortunes'" in capsys.readouterr().err
    assert main(["pretrain", "mlm", "--data", f"text:{corpus}", "--out", str(tmp_path / "r2"),
                 "--set", "vocab_sise=100"]) == 2
    assert "vocab_size" in capsys.readouterr().err


def test_utterance_order_needs_long_enough_documents(tmp_path):
    p = tmp_path / "long.txt"
    p.write_text(" ".join(["word"] * 30) + "\n")  # one long line: one document of 2 chunks, K=3 needs 3
    assert main(["pretrain", "utterance-order", "--data", f"text:{p}", "--out", str(tmp_path / "r"),
                 "--set", "seg_words=15"]) == 2


def test_csv_task_loader(tmp_path, csv_task):
    from selfsup.data.text_tasks import load_text_task

    t = load_text_task(f"csv:{csv_task}")
    assert len(t.train_texts) + len(t.test_texts) == 80 and t.classes == ["pets", "weather"]
    assert abs(len(t.test_texts) - 24) <= 1 and set(t.y_test.tolist()) == {0, 1}
    split = tmp_path / "split.csv"
    split.write_text("text,label,split\na,x,train\nb,y,train\nc,x,test\nd,y,test\n")
    t = load_text_task(f"csv:{split}")
    assert t.train_texts == ["a", "b"] and t.test_texts == ["c", "d"]
    bad = tmp_path / "bad.csv"
    bad.write_text("sentence,category\na,b\n")
    with pytest.raises(UserError, match="'text' and 'label'"):
        load_text_task(f"csv:{bad}")
    with pytest.raises(UserError, match="not found"):
        load_text_task(f"csv:{tmp_path / 'missing.csv'}")


def test_polarity_and_chatterbot_sources():
    pytest.importorskip("gensim")
    from selfsup.data.text_tasks import load_documents, load_text_task

    t = load_text_task("polarity")
    assert len(t.train_texts) == 100 and len(t.test_texts) == 100 and t.classes == ["neg", "pos"]
    assert sorted(np.bincount(t.y_test).tolist()) == [50, 50]
    pytest.importorskip("chatterbot_corpus")
    docs = load_documents("chatterbot")
    assert len(docs) > 1000 and all(len(d) >= 2 for d in docs)


@pytest.mark.skipif(shutil.which("bible") is None, reason="Debian bible-kjv not installed")
def test_kjv_testament_task():
    from selfsup.data.text_tasks import kjv_verses, load_text_task

    verses = kjv_verses()
    assert len(verses) == 31102 and verses[0].book_index == 0 and verses[-1].book_index == 65
    assert verses[0].text.startswith("In the beginning")
    t = load_text_task("kjv-testament")
    assert t.classes == ["old", "new"] and len(t.test_texts) + len(t.train_texts) == 31102


def test_tokenizer_file_makes_two_runs_match_to_the_bit(tmp_path, corpus, capsys):
    """Training a WordPiece vocabulary is not reproducible run to run (huggingface/tokenizers#1794), so
    `tokenizer_file` lets a run take another run's tokenizer: the two then train the same weights."""
    from safetensors.torch import load_file

    def run(name, *extra):
        out = tmp_path / name
        assert main(["pretrain", "mlm", "--data", f"text:{corpus}", "--out", str(out), "--epochs", "1",
                     "--no-progress", "--batch-size", "32", "--set", "vocab_size=200", "--set", "dim=16",
                     "--set", "depth=1", "--set", "heads=2", "--set", "seg_tokens=10", "--set", "threads=1",
                     *extra]) == 0
        return out

    first = run("a")
    sets = ["--set", f"tokenizer_file={first / 'tokenizer.json'}"]
    b, c = run("b", *sets), run("c", *sets)
    assert (b / "tokenizer.json").read_text() == (first / "tokenizer.json").read_text()
    wb, wc = load_file(b / "model.safetensors"), load_file(c / "model.safetensors")
    assert wb.keys() == wc.keys() and all(torch.equal(wb[k], wc[k]) for k in wb)
    wa = load_file(first / "model.safetensors")
    assert all(torch.equal(wa[k], wb[k]) for k in wa)  # the same tokenizer: the first run's weights too
    assert main(["pretrain", "mlm", "--data", f"text:{corpus}", "--out", str(tmp_path / "d"), "--epochs", "1",
                 "--no-progress", "--set", f"tokenizer_file={tmp_path / 'missing.json'}"]) != 0
    assert "tokenizer_file" in capsys.readouterr().err and not (tmp_path / "d" / "encoder.safetensors").exists()
