"""`selfsup compare`: the plan, the outputs and their keys, the ranking and its noise mark, resume after an
interruption (finished runs reused, the unfinished one continued from its checkpoint, the same leaderboard
as an uninterrupted comparison), and refusing a folder that is not a comparison's."""

import json
import os
import signal
import time

import pytest

import selfsup
from selfsup import api
from selfsup.cli.main import main
from selfsup.errors import UserError
from selfsup.pipelines.compare import (
    LEADERBOARD_KEYS,
    ROW_KEYS,
    auto_methods,
    build_leaderboard,
    new_plan,
)

pytestmark = pytest.mark.usefixtures("one_thread")

# a tiny comparison: digits (1,347 training images), an MLP encoder, one epoch (5 steps) per run
TINY = dict(methods="simclr,byol", epochs_per_method=1, seeds=(0,), protocols=("linear",), labels=("10%", "100%"),
            label_seeds=(0,), baselines=("raw",), encoder="mlp", progress=False, log_every_steps=1)


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    out = tmp_path_factory.mktemp("cmp") / "a"
    n = __import__("torch").get_num_threads()
    __import__("torch").set_num_threads(1)
    try:
        board = selfsup.compare("digits", out, **TINY)
    finally:
        __import__("torch").set_num_threads(n)
    return out, board


def test_outputs_and_their_documented_keys(uninterrupted):
    out, board = uninterrupted
    for name in ("compare.json", "leaderboard.json", "leaderboard.md", "report.html"):
        assert (out / name).is_file(), name
    saved = json.loads((out / "leaderboard.json").read_text())
    assert tuple(saved) == LEADERBOARD_KEYS
    assert [tuple(r) for r in saved["rows"]] == [ROW_KEYS, ROW_KEYS]
    assert {r["method"] for r in saved["rows"]} == {"simclr", "byol"}
    assert saved["metric"] == {"protocol": "linear", "labels": "10%", "default": True}  # the smallest fraction
    assert list(saved["baselines"]) == ["raw"] and saved["best_baseline"]["name"] == "raw"
    top = saved["rows"][0]
    assert top["rank"] == 1 and top["metric"]["mean"] >= saved["rows"][1]["metric"]["mean"]
    res = json.loads((out / "runs" / f"{top['method']}-s0" / "results.json").read_text())
    assert top["metric"]["per_seed"] == {"0": round(res["protocols"]["linear"]["10%"]["mean"], 4)}
    assert top["margin_over_best_baseline"] == pytest.approx(top["metric"]["mean"] - saved["best_baseline"]["value"],
                                                             abs=1e-4)
    assert top["tie_with_next"] is None  # one seed: the noise is not measured
    assert top["epochs"] == 1.0 and top["seconds"] > 0
    assert any(c.startswith(f"selfsup pretrain {top['method']} --data digits") for c in top["commands"])
    plan = json.loads((out / "compare.json").read_text())
    assert plan["status"] == "finished" and [r["status"] for r in plan["runs"]] == ["evaluated", "evaluated"]
    # the baselines are evaluated once, with the first run
    assert plan["baselines_from"] == "simclr-s0"
    assert json.loads((out / "runs" / "byol-s0" / "results.json").read_text())["baselines"] == {}
    md = (out / "leaderboard.md").read_text()
    assert "| 1 | " + top["method"] in md and "baseline: raw" in md


def test_report_on_a_comparison_counts_run_folders_copied_in(uninterrupted, tmp_path):
    # docs/compare.md: runs made elsewhere are copied into DIR/runs; `selfsup report DIR` ranks them (and takes the
    # baselines from the one that has them) without running anything and without rewriting compare.json
    import shutil

    out, board = uninterrupted
    other = tmp_path / "other"
    shutil.copytree(out, other)
    plan = json.loads((other / "compare.json").read_text())
    for r in plan["runs"]:
        r["status"] = "planned"
    plan["baselines_from"] = None
    (other / "compare.json").write_text(json.dumps(plan))
    for name in ("leaderboard.json", "leaderboard.md", "report.html"):
        (other / name).unlink()
    before = (other / "compare.json").read_text()
    assert main(["report", str(other)]) == 0
    again = json.loads((other / "leaderboard.json").read_text())
    assert [(r["method"], r["metric"]["mean"]) for r in again["rows"]] == [
        (r["method"], r["metric"]["mean"]) for r in board["rows"]]
    assert again["baselines"] == board["baselines"] and again["best_baseline"] == board["best_baseline"]
    assert (other / "compare.json").read_text() == before


def _fake_comparison(tmp_path, values, baseline=0.75):
    """A comparison folder with evaluated runs whose results hold the given linear-10% accuracies."""
    out = tmp_path / "fake"
    methods = list(values)
    seeds = list(range(max(len(v) for v in values.values())))
    plan = new_plan("digits", methods=",".join(methods), epochs_per_method=1, seeds=seeds, labels=("10%",))
    plan["runs"] = [r for r in plan["runs"] if r["seed"] < len(values[r["name"]])]
    plan["baselines_from"] = plan["runs"][0]["id"]
    for r in plan["runs"]:
        d = out / r["dir"]
        d.mkdir(parents=True)
        r["status"] = "evaluated"
        acc = values[r["name"]][r["seed"]]
        (d / "run.json").write_text(json.dumps({"method": r["method"], "status": "finished", "epochs": 1.0,
                                                "train_seconds": 2.0}))
        base = {"raw": {"linear": {"10%": {"mean": baseline, "std": 0.0}}}} if r["id"] == plan["baselines_from"] else {}
        (d / "results.json").write_text(json.dumps({"protocols": {"linear": {"10%": {"mean": acc, "std": 0.0}}},
                                                    "baselines": base}))
    return out, plan


def test_ranking_tie_mark_and_margins_on_a_constructed_leaderboard(tmp_path):
    # simclr 0.80 ± 0.014, byol 0.79 ± 0.014 (gap 0.01 < std: a tie), vicreg 0.70 ± 0.007 (gap 0.09: none),
    # barlow-twins one seed (noise not measured)
    out, plan = _fake_comparison(tmp_path, {"byol": [0.78, 0.80], "vicreg": [0.695, 0.705], "simclr": [0.79, 0.81],
                                            "barlow-twins": [0.60]})
    board = build_leaderboard(out, plan)
    assert [r["method"] for r in board["rows"]] == ["simclr", "byol", "vicreg", "barlow-twins"]
    assert [r["tie_with_next"] for r in board["rows"]] == [True, False, None, None]
    assert [r["margin_over_best_baseline"] for r in board["rows"]] == pytest.approx([0.05, 0.04, -0.05, -0.15])
    assert board["rows"][0]["metric"]["std"] == pytest.approx(0.0141, abs=1e-4)
    assert board["rows"][0]["metric"]["per_seed"] == {"0": 0.79, "1": 0.81}
    # a gap just outside the noise is not a tie
    out2, plan2 = _fake_comparison(tmp_path / "b", {"simclr": [0.79, 0.81], "byol": [0.77, 0.79]})
    assert [r["tie_with_next"] for r in build_leaderboard(out2, plan2)["rows"]] == [False, None]


def test_resume_after_an_interruption_reuses_finished_runs_and_ends_with_the_same_leaderboard(
        uninterrupted, tmp_path, monkeypatch):
    import selfsup.methods.byol as byol_module

    ref_out, ref = uninterrupted
    out = tmp_path / "b"
    # interrupt the second run (byol) after its 2nd optimizer step, as SIGTERM / Ctrl-C would
    steps = {"n": 0}
    original = byol_module.BYOL.on_after_optimizer_step

    def stop_at_step_2(self, step):
        original(self, step)
        steps["n"] += 1
        if steps["n"] == 1:
            time.sleep(4.5)  # a first segment the bounds below tell apart from none, however fast the machine
        if steps["n"] == 2:
            os.kill(os.getpid(), signal.SIGTERM)  # the engine stops after this step, with a checkpoint

    monkeypatch.setattr(byol_module.BYOL, "on_after_optimizer_step", stop_at_step_2)
    with pytest.raises(KeyboardInterrupt):
        selfsup.compare("digits", out, **TINY)
    monkeypatch.setattr(byol_module.BYOL, "on_after_optimizer_step", original)
    plan = json.loads((out / "compare.json").read_text())
    assert [r["status"] for r in plan["runs"]] == ["evaluated", "interrupted"]
    first_segment = plan["wall_seconds_done"]
    assert first_segment > 4.5  # a whole run and part of another: longer than the page's writing (below)
    assert json.loads((out / "runs/byol-s0/run.json").read_text())["status"] == "interrupted"
    assert list((out / "runs/byol-s0/checkpoints").glob("step-*.ckpt"))
    first = out / "runs/simclr-s0/results.json"
    before = (first.read_bytes(), first.stat().st_mtime_ns)

    calls = []
    real_pretrain, real_resume = api.pretrain, api.resume
    monkeypatch.setattr(api, "pretrain", lambda *a, **k: calls.append("pretrain") or real_pretrain(*a, **k))
    monkeypatch.setattr(api, "resume", lambda *a, **k: calls.append("resume") or real_resume(*a, **k))
    import selfsup.pipelines.compare as compare_module

    writing = []  # the page's writing comes after the wall time is taken: its length, however loaded the machine
    real_write = compare_module.write_outputs

    def timed_write(*a, **k):
        t = time.monotonic()
        try:
            return real_write(*a, **k)
        finally:
            writing.append(time.monotonic() - t)

    monkeypatch.setattr(compare_module, "write_outputs", timed_write)
    t0 = time.monotonic()
    board = selfsup.compare(resume=out, progress=False)
    resumed_s = time.monotonic() - t0
    assert calls == ["resume"]  # nothing started again: the finished run reused, the stopped one continued
    assert (first.read_bytes(), first.stat().st_mtime_ns) == before
    key = lambda b: [(r["method"], r["metric"], r["protocols"]) for r in b["rows"]]  # noqa: E731
    assert key(board) == key(ref)
    assert board["baselines"] == ref["baselines"]
    assert json.loads((out / "runs/byol-s0/run.json").read_text())["steps"] == 5
    # the wall time of both segments (less the writing of the page), not of the resumed one only
    lower = first_segment + resumed_s - sum(writing) - 1.0
    assert lower <= board["wall_seconds"] <= first_segment + resumed_s, (first_segment, resumed_s, writing)


def test_a_foreign_folder_is_refused_and_left_alone(tmp_path, capsys):
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep me")
    with pytest.raises(UserError, match="not a comparison folder"):
        selfsup.compare("digits", foreign, **TINY)
    assert sorted(p.name for p in foreign.iterdir()) == ["notes.txt"]
    assert (foreign / "notes.txt").read_text() == "keep me"
    # through the command line: status 2, one message; a comparison folder points to --resume
    assert main(["compare", "--data", "digits", "--out", str(foreign), "--methods", "simclr"]) == 2
    assert "not a comparison folder" in capsys.readouterr().err
    (tmp_path / "cmp").mkdir()
    (tmp_path / "cmp" / "compare.json").write_text("{}")
    assert main(["compare", "--data", "digits", "--out", str(tmp_path / "cmp")]) == 2
    assert "--resume" in capsys.readouterr().err
    assert main(["compare", "--resume", str(foreign)]) == 2


def test_plan_checks_and_what_auto_picks():
    picked = auto_methods("digits")
    assert {"simclr", "moco-v2", "memory-bank", "split-brain", "masked-ae", "autoencoder"} <= set(picked)
    assert not {"pca", "gmm", "kmeans", "cpc", "dgi"} & set(picked)
    assert auto_methods("ucr:GunPoint") == ["cpc", "split-brain", "temporal-contrast", "ts2vec"]
    assert new_plan("ucr:GunPoint", methods="cpc")["metric"]["protocol"] == "svm"  # series: the SVM protocol
    assert new_plan("ucr:GunPoint", methods="cpc", protocols="linear")["metric"]["protocol"] == "linear"
    with pytest.raises(UserError, match="not both"):
        new_plan("digits", minutes_per_method=1, epochs_per_method=1)
    with pytest.raises(UserError, match="PROTOCOL:LABELS"):
        new_plan("digits", metric="linear")
    with pytest.raises(UserError):
        new_plan("digits", methods="simclr,no-such-method")
    plan = new_plan("digits", methods="simclr,moco-v2:fast", seeds="0,1", metric="knn:100%")
    assert [r["id"] for r in plan["runs"]] == ["simclr-s0", "moco-v2-fast-s0", "simclr-s1", "moco-v2-fast-s1"]
    assert plan["budget"] == {"minutes_per_method": 3.0, "epochs_per_method": None}
    assert plan["metric"]["protocol"] == "knn" and plan["metric"]["labels"] == "100%"


def test_text_comparisons_are_scored_on_a_task_and_word_vectors_on_word_similarity(tmp_path):
    from selfsup.eval.wordsim import NO_LABELS as ALL
    from selfsup.pipelines.compare import metric_value, read_results

    assert new_plan("fortunes", methods="mlm")["task"] == "fortunes"  # the corpus's own task
    assert new_plan("kjv", methods="mlm,nsp")["task"] == "kjv-testament"
    assert new_plan("kjv", methods="mlm", task="kjv-book")["task"] == "kjv-book"
    from selfsup.pipelines.compare import run_commands

    text = new_plan("fortunes", methods="mlm", seeds="0", labels="1%,10%")
    _, evaluate = run_commands(tmp_path, text, text["runs"][0], with_baselines=False)
    assert "--task fortunes " in evaluate and "--labels 1%,10%" in evaluate  # the task is one name, not letters
    with pytest.raises(UserError, match="--task"):
        new_plan("digits", methods="simclr", task="fortunes")
    words = new_plan("kjv", methods="word2vec:skipgram,word2vec:cbow")
    assert words["task"] is None and words["metric"]["protocol"] == "wordsim353" and words["metric"]["labels"] == ALL
    # word2vec / DeepWalk train by passes, without a clock: a minutes budget leaves them at their default epochs
    from selfsup.pipelines.compare import run_settings

    assert "max_minutes" not in run_settings(words, words["runs"][0])
    graph = new_plan("cora", methods="dgi,deepwalk", minutes_per_method=2)
    assert [run_settings(graph, r).get("max_minutes") for r in graph["runs"][:2]] == [2.0, None]
    p = tmp_path / "results.json"
    p.write_text(json.dumps({"protocols": {"wordsim353": {"spearman": 0.31, "evaluated": 48},
                                           "analogy": {"accuracy": 0.02}}}))
    res = read_results(p)
    assert metric_value(res, words["metric"]) == pytest.approx(0.31)
    assert res["protocols"]["analogy"][ALL]["mean"] == pytest.approx(0.02)
    assert "all" not in json.loads(p.read_text())["protocols"]["wordsim353"]  # nothing written back
    from selfsup.pipelines.compare import resolve_metric_labels

    graph_res = {"protocols": {"linear": {"public": {"mean": 0.8}, "1%": {"mean": 0.6}, "100%": {"mean": 0.85}}}}
    default = {"protocol": "linear", "labels": None, "default": True}
    assert resolve_metric_labels(default, [graph_res])["labels"] == "public"  # a graph's standard split
    del graph_res["protocols"]["linear"]["public"]
    assert resolve_metric_labels(default, [graph_res])["labels"] == "1%"


def test_a_comparison_whose_every_run_fails_exits_non_zero(tmp_path, capsys):
    # a temperature below zero is refused by SimCLR's config: the only run fails with a user error
    out = tmp_path / "cmp"
    rc = main(["compare", "--data", "digits", "--methods", "simclr", "--epochs-per-method", "1", "--seeds", "0",
               "--encoder", "mlp", "--set", "temperature=-1", "--out", str(out), "--no-progress"])
    assert rc == 1 and "every run failed" in capsys.readouterr().err
    assert json.loads((out / "leaderboard.json").read_text())["failed"]
