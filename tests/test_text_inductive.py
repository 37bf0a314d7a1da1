"""Text pretraining is inductive by default (issue 18): the test texts of the downstream tasks
defined on a corpus are left out of it, ``--transductive`` keeps them and says so in run.json and
results.json, and evaluation checks what the pretraining saw. On small stand-ins for Debian's
fortunes and bible-kjv ($SELFSUP_FORTUNES, $SELFSUP_KJV), so the tests need neither package."""

import json

import pytest

from selfsup.cli.main import main
from selfsup.errors import UserError

pytestmark = pytest.mark.usefixtures("one_thread")

WORDS = ["apple", "river", "stone", "cloud", "lamp", "tiger", "violin", "garden", "candle", "market", "winter", "silver", "orange", "forest", "pepper", "rocket", "saddle", "anchor", "marble", "desert"]
CATEGORIES = {"wisdom": 60, "jokes": 60, "tiny": 12}  # "tiny" has < 50 fortunes: not a class of the task


def _fortune(cat: str, i: int) -> str:
    w = [WORDS[(i * 7 + j * 3 + len(cat)) % len(WORDS)] for j in range(6)]
    return f"{cat} says {' '.join(w)} number {i}."


@pytest.fixture
def fortunes(tmp_path, monkeypatch):
    """A fortunes folder of 3 category files; the order of the entries in each file is kept."""
    d = tmp_path / "fortunes"
    d.mkdir()
    for cat, n in CATEGORIES.items():
        (d / cat).write_text("\n%\n".join(_fortune(cat, i) for i in range(n)) + "\n%\n")
        (d / f"{cat}.dat").write_bytes(b"\x00\x01")  # index files are skipped
    monkeypatch.setenv("SELFSUP_FORTUNES", str(d))
    return {cat: [_fortune(cat, i) for i in range(n)] for cat, n in CATEGORIES.items()}


@pytest.fixture
def kjv(tmp_path, monkeypatch):
    """A 40-book Bible (39 'old', 1 'new'), 2 chapters of 8 verses each: the kjv tasks' format."""
    lines = []
    for b in range(40):
        book = "B" + "abcdefghijklmnopqrstuvwxyz"[b // 26] + "abcdefghijklmnopqrstuvwxyz"[b % 26]
        for ch in (1, 2):
            for v in range(1, 9):
                w = " ".join(WORDS[(b * 5 + ch * 3 + v * 7 + j) % len(WORDS)] for j in range(5))
                lines.append(f"{book}{ch}:{v} verse {v} of {book} {ch} tells of {w}.")
    p = tmp_path / "kjv.txt"
    p.write_text("\n".join(lines) + "\n")
    monkeypatch.setenv("SELFSUP_KJV", str(p))
    return p


SEG = 48  # tokens kept per segment: every text here fits whole (no two collide once truncated)


def _segments(td) -> set[str]:
    return {s for d in td["train_docs"] + td["heldout_docs"] for s in d}


def _data(corpus, **kw):
    from selfsup.pipelines.text_corpus import TextDataConfig, make_text_data

    return make_text_data(corpus, "nsp", 2, TextDataConfig(vocab_size=120, seg_tokens=SEG, **kw), seed=0)


def test_inductive_corpus_holds_no_test_text_and_transductive_holds_all(fortunes):
    from selfsup.data.text_tasks import load_text_task

    task = load_text_task("fortunes")
    assert task.classes == ["jokes", "wisdom"] and len(task.test_texts) == 36
    td = _data("fortunes")
    # what the model trains on: no row holds the token ids of a test text
    tok = td["tokenizer"]
    enc = tok.encode(task.test_texts, SEG)
    assert (enc[:, -1] == 0).all()  # not truncated
    test_ids = {tuple(r.tolist()) for r in enc}
    row_ids = {tuple(seg.tolist()) for x in (td["train"], td["heldout"]) for row in x for seg in row}
    assert not test_ids & row_ids
    # the documents the rows were made of, by exact string membership
    segs = _segments(td)
    assert not [t for t in task.test_texts if t in segs]
    assert set(task.train_texts) <= segs and set(fortunes["tiny"]) <= segs  # the rest of the corpus stays
    rec = td["corpus"]
    assert rec["transductive"] is False and rec["excluded_tasks"] == ["fortunes"]
    assert rec["test_texts"] == {"fortunes": 36} and rec["test_texts_found"] == {"fortunes": 36}
    assert rec["removed_segments"] == 36

    tdt = _data("fortunes", transductive=True)
    assert set(task.test_texts) <= _segments(tdt)  # today's behaviour: the whole corpus
    assert tdt["corpus"]["transductive"] is True and tdt["corpus"]["test_texts_in_corpus"] == {"fortunes": 36}
    assert len(tdt["train"]) + len(tdt["heldout"]) > len(td["train"]) + len(td["heldout"])


def test_rows_never_pair_across_a_removed_text(fortunes):
    """A fortune file keeps its order; a piece between removed texts is a run of neighbours."""
    from selfsup.data.text_tasks import load_text_task

    test = set(load_text_task("fortunes").test_texts)
    position = {t: (cat, i) for cat, ts in fortunes.items() for i, t in enumerate(ts)}
    td = _data("fortunes", heldout_fraction=0.0)
    pieces = td["train_docs"]
    assert len(pieces) > len(CATEGORIES)  # the files were cut where test texts were
    for piece in pieces:
        where = [position[s] for s in piece]
        assert len({c for c, _ in where}) == 1
        idx = [i for _, i in where]
        assert idx == list(range(idx[0], idx[0] + len(idx)))  # consecutive in the file: nothing removed between
        cat = where[0][0]
        before, after = idx[0] - 1, idx[-1] + 1  # a piece ends at a removed text or at the file's ends
        assert before < 0 or fortunes[cat][before] in test
        assert after >= len(fortunes[cat]) or fortunes[cat][after] in test


def test_kjv_leaves_out_both_tasks_or_the_named_one(kjv):
    from selfsup.config import to_dict
    from selfsup.data.text_tasks import load_text_task
    from selfsup.pipelines.text_corpus import TextDataConfig, check_pretraining_corpus

    testament, book = load_text_task("kjv-testament"), load_text_task("kjv-book")
    assert set(testament.test_texts) != set(book.test_texts)
    segs = _segments(_data("kjv"))
    assert not (set(testament.test_texts) | set(book.test_texts)) & segs
    only = _data("kjv", exclude_tasks=("kjv-testament",))
    segs = _segments(only)
    assert not set(testament.test_texts) & segs
    missing = set(book.test_texts) - set(testament.test_texts)
    assert missing and missing <= segs  # kjv-book's other test verses are pretrained on
    meta = {"dataset": "kjv", "text": {"data": to_dict(TextDataConfig(exclude_tasks=("kjv-testament",))),
                                       "heldout_test_texts": only["corpus"]}}
    rec, _ = check_pretraining_corpus(meta, testament)
    assert rec["transductive"] is False and rec["test_texts_in_corpus"] == 0
    with pytest.raises(UserError, match=f"holds {len(missing)} of the {len(book.test_texts)} test texts of kjv-book"):
        check_pretraining_corpus(meta, book)
    rec, _ = check_pretraining_corpus(meta, book, allow_transductive=True)
    assert rec["transductive"] is True and rec["test_texts_in_corpus"] == len(missing)


def test_a_run_without_the_record_was_transductive(fortunes):
    """A run.json from before test texts were left out: its corpus was whole, evaluation says so."""
    from selfsup.data.text_tasks import load_text_task
    from selfsup.pipelines.text_corpus import check_pretraining_corpus

    task = load_text_task("fortunes")
    rec, docs = check_pretraining_corpus({"dataset": "fortunes", "text": {"data": {"seg_words": 24}}}, task)
    assert rec["transductive"] is True and rec["test_texts_in_corpus"] == 36
    assert set(task.test_texts) <= {s for d in docs for s in d}


TINY = ["--epochs", "1", "--no-progress", "--batch-size", "16", "--set", "vocab_size=150", "--set", "dim=16",
        "--set", "depth=1", "--set", "heads=2", "--set", "seg_tokens=12", "--set", "threads=1"]
EVAL = ["--task", "fortunes", "--protocols", "linear", "--labels", "100%", "--seeds", "0", "--baselines", "word2vec"]


def test_cli_runs_and_results_say_whether_transductive(tmp_path, fortunes, capsys):
    from selfsup.data.text_tasks import load_text_task

    task = load_text_task("fortunes")
    ind, tra = tmp_path / "inductive", tmp_path / "transductive"
    assert main(["pretrain", "mlm", "--data", "fortunes", "--out", str(ind), *TINY]) == 0
    assert "inductive: left out the test texts of fortunes 36/36" in capsys.readouterr().out
    assert main(["pretrain", "mlm", "--data", "fortunes", "--out", str(tra), "--transductive", *TINY]) == 0
    assert "transductive: pretrained on the whole corpus" in capsys.readouterr().out
    mi, mt = (json.loads((d / "run.json").read_text()) for d in (ind, tra))
    assert mi["transductive"] is False and mt["transductive"] is True
    assert mi["text"]["heldout_test_texts"]["excluded_tasks"] == ["fortunes"]
    assert mi["text"]["data"]["transductive"] is False and mt["text"]["data"]["transductive"] is True
    assert mi["text"]["rows"] < mt["text"]["rows"]

    assert main(["evaluate", str(ind), *EVAL]) == 0
    ri = json.loads((ind / "results.json").read_text())
    assert ri["transductive"] is False and ri["pretraining_corpus"]["test_texts_in_corpus"] == 0
    assert "same digest" in ri["pretraining_corpus"]["checked"]
    assert "Inductive" in (ind / "report.md").read_text()
    assert main(["evaluate", str(tra), *EVAL]) == 0
    rt = json.loads((tra / "results.json").read_text())
    assert rt["transductive"] is True and rt["pretraining_corpus"]["test_texts_in_corpus"] == len(task.test_texts)
    assert "**Transductive**" in (tra / "report.md").read_text()
    # the word2vec baseline is trained on the run's own corpus: the inductive one never saw a test-only word
    from selfsup.pipelines.text_corpus import run_documents
    docs, _ = run_documents(mi)
    assert not {t for t in task.test_texts} & {s for d in docs for s in d}


def test_inductive_run_refuses_a_task_whose_test_texts_it_saw(tmp_path, fortunes, capsys):
    """A csv task made of fortunes the run did not exclude: refused, or reported transductive."""
    rows = ["text,label"] + [f"\"{t}\",{cat}" for cat in ("wisdom", "jokes") for t in fortunes[cat][:20]]
    csv = tmp_path / "task.csv"
    csv.write_text("\n".join(rows) + "\n")
    run = tmp_path / "run"
    assert main(["pretrain", "mlm", "--data", "fortunes", "--out", str(run), *TINY]) == 0
    capsys.readouterr()
    args = ["evaluate", str(run), "--task", f"csv:{csv}", "--protocols", "linear", "--labels", "100%",
            "--seeds", "0", "--baselines", "none"]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "a score on it would be transductive" in err and "exclude_tasks=csv:" in err and "--transductive" in err
    assert not (run / "results.json").exists()
    assert main([*args, "--transductive"]) == 0
    res = json.loads((run / "results.json").read_text())
    assert res["transductive"] is True and res["pretraining_corpus"]["accepted_by"] == "--transductive"
    # named at pretraining, its test texts are left out and the run is inductive on it
    run2 = tmp_path / "run2"
    assert main(["pretrain", "mlm", "--data", "fortunes", "--out", str(run2), "--set", f"exclude_tasks=csv:{csv}",
                 *TINY]) == 0
    assert main(["evaluate", str(run2), *args[2:]]) == 0
    assert json.loads((run2 / "results.json").read_text())["transductive"] is False


def test_transductive_flag_is_for_text_only(tmp_path, fortunes, capsys):
    assert main(["pretrain", "simclr", "--data", "digits", "--out", str(tmp_path / "r"), "--transductive"]) == 2
    assert "--transductive applies to text methods" in capsys.readouterr().err
    assert main(["pretrain", "mlm", "--data", "fortunes", "--out", str(tmp_path / "t"), "--transductive",
                 "--set", "exclude_tasks=fortunes", *TINY]) == 2
    assert "cannot also exclude" in capsys.readouterr().err


def test_resume_rebuilds_the_same_inductive_rows(tmp_path, fortunes):
    from selfsup.pipelines.text_corpus import make_text_data, run_text_config

    run = tmp_path / "run"
    assert main(["pretrain", "mlm", "--data", "fortunes", "--out", str(run), *TINY]) == 0
    meta = json.loads((run / "run.json").read_text())
    tcfg = run_text_config(meta)
    assert tcfg.transductive is False
    td = make_text_data("fortunes", "mlm", 2, tcfg, meta["config"]["train"]["seed"])
    assert len(td["train"]) == meta["text"]["rows"]
    legacy = {"text": {"data": {k: v for k, v in meta["text"]["data"].items() if k != "transductive"}}}
    assert run_text_config(legacy).transductive is True  # old runs trained on the whole corpus
