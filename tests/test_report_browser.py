"""report.html in a real browser: headless Chromium (Debian package `chromium`) opens the page from a temp
folder with every host name unresolvable; the DOM holds the leaderboard's rows and the inline plots, the
page requested nothing outside its file (Chromium's own network log), and the screenshot is not blank.

The comparison folder is built directly (runs with run.json / results.json / metrics.csv, no training),
then written by the same code as `selfsup compare` (leaderboard.json, leaderboard.md, report.html)."""

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from conftest import NEED_FMNIST, NEED_KJV, NEED_PLANETOID
from selfsup.cli.main import main
from selfsup.pipelines.compare import Ops, new_plan, write_outputs

CHROMIUM = shutil.which("chromium") or (Path("/usr/bin/chromium").is_file() and "/usr/bin/chromium") or None
pytestmark = pytest.mark.skipif(not CHROMIUM, reason="headless Chromium not found: `apt-get install chromium` "
                                "(what `make test` does where apt exists)")

ACC = {"simclr": (0.82, 0.84), "byol": (0.80, 0.81), "vicreg": (0.70, 0.71)}  # linear 10%, seeds 0 and 1


def _run(d: Path, method: str, seed: int, baselines: bool) -> None:
    d.mkdir(parents=True)
    acc = ACC[method][seed]
    (d / "run.json").write_text(json.dumps({"method": method, "dataset": "digits", "modality": "image",
                                            "status": "finished", "epochs": 1.0, "train_seconds": 3.5,
                                            "config": {"train": {"seed": seed}}}))
    protos = {"knn": {"10%": {"mean": acc - 0.02, "std": 0.0}, "100%": {"mean": acc + 0.1, "std": 0.0}},
              "linear": {"10%": {"mean": acc, "std": 0.0}, "100%": {"mean": acc + 0.12, "std": 0.0}}}
    base = {"raw": {"knn": {"10%": {"mean": 0.75}, "100%": {"mean": 0.9}},
                    "linear": {"10%": {"mean": 0.74}, "100%": {"mean": 0.92}}}} if baselines else {}
    (d / "results.json").write_text(json.dumps({"method": method, "dataset": "digits", "protocols": protos,
                                                "baselines": base, "eval_seconds": 1.0,
                                                "settings": {"labels": ["10%", "100%"], "seeds": [0]}}))
    steps = np.arange(1, 30)
    rows = [f"{s},0,{2.0 / s + 0.1 * seed:.4f},0.001,{s * 0.1:.2f},{1000 + s}" for s in steps]
    (d / "metrics.csv").write_text("step,epoch,loss,lr,elapsed_s,samples_per_s\n" + "\n".join(rows) + "\n")


@pytest.fixture(scope="module")
def comparison(tmp_path_factory):
    out = tmp_path_factory.mktemp("browser") / "cmp"
    plan = new_plan("digits", methods="simclr,byol,vicreg", epochs_per_method=1, seeds=(0, 1),
                    protocols=("knn", "linear"), labels=("10%", "100%"))
    plan["baselines_from"] = plan["runs"][0]["id"]
    for r in plan["runs"]:
        _run(out / r["dir"], r["method"], r["seed"], r["id"] == plan["baselines_from"])
        r["status"] = "evaluated"
    out.mkdir(exist_ok=True)
    (out / "compare.json").write_text(json.dumps(plan))

    def embed(run_dir, x, log=None):  # stands in for the API's embed: pixels plus a method-specific rotation
        z = np.asarray(x, dtype=np.float32).reshape(len(x), -1)
        return z @ np.random.default_rng(len(str(run_dir))).normal(size=(z.shape[1], 16)).astype(np.float32)

    board = write_outputs(out, plan, Ops(pretrain=None, resume=None, evaluate=None, embed=embed), wall_seconds=12.0)
    return out, board


def chromium(page: Path, tmp: Path, *args: str) -> tuple[str, list[str]]:
    """Run headless Chromium on ``page`` (a file:// URL) with no reachable host; returns (stdout, the URLs the
    page itself requested besides its own file, from Chromium's network log)."""
    netlog = tmp / "net.json"
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
           "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={tmp / 'profile'}",
           "--host-resolver-rules=MAP * ~NOTFOUND", "--proxy-server=127.0.0.1:9", f"--log-net-log={netlog}",
           *args, page.resolve().as_uri()]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr[-2000:]
    requested = []
    for e in json.loads(netlog.read_text())["events"] if netlog.is_file() else []:
        params = e.get("params") or {}
        url, nik = params.get("url"), str(params.get("network_isolation_key", ""))
        # the page's requests carry its file:// origin; Chromium's own background ones (updates) do not
        if url and nik.startswith("file://") and not url.startswith(("file:", "data:")):
            requested.append(url)
    return p.stdout, requested


def test_the_page_renders_its_rows_and_plots_offline(comparison, tmp_path):
    out, board = comparison
    page = tmp_path / "report.html"
    shutil.copy(out / "report.html", page)  # alone in a folder: nothing beside it to load
    dom, requested = chromium(page, tmp_path, "--dump-dom")
    assert requested == []
    rows = re.findall(r'<tr class="method[^"]*">(.*?)</tr>', dom, re.S)
    assert [re.findall(r'<td class="name">([^<]*)</td>', r)[0] for r in rows] == ["simclr", "byol", "vicreg"]
    assert "91.3" not in rows[0] and "83.0 ± 1.4" in rows[0]  # simclr: linear 10% = mean of 0.82 and 0.84
    assert re.search(r'<tr class="baseline">.*?baseline: raw', dom, re.S)
    imgs = re.findall(r'<img src="([^"]*)"', dom)
    # accuracy vs labels for knn and linear, a loss curve and an embedding map per method
    assert len(imgs) == 2 + 3 + 3 and all(s.startswith("data:image/png;base64,") for s in imgs)
    assert "selfsup compare --data digits" in dom and "selfsup pretrain byol --data digits" in dom


def test_the_file_references_nothing_outside_itself(comparison):
    text = (comparison[0] / "report.html").read_text()
    assert not re.search(r'(?:src|href)\s*=\s*["\']?\s*(?:https?:)?//', text, re.I)
    assert "<script" not in text.lower() and "<link" not in text.lower() and "@import" not in text
    assert not re.search(r"url\(", text)


def test_the_network_check_can_fail(tmp_path):
    bad = tmp_path / "bad.html"
    bad.write_text('<html><body><p>x</p><img src="http://selfsup-test.invalid/a.png"></body></html>')
    _, requested = chromium(bad, tmp_path, "--dump-dom")
    assert "http://selfsup-test.invalid/a.png" in requested  # so an empty list above means nothing was asked for


def test_the_screenshot_is_not_blank(comparison, tmp_path):
    from PIL import Image

    shot = tmp_path / "shot.png"
    chromium(comparison[0] / "report.html", tmp_path, f"--screenshot={shot}", "--window-size=1200,2000")
    img = np.asarray(Image.open(shot).convert("RGB"))
    assert img.shape[:2] == (2000, 1200)
    assert len(np.unique(img.reshape(-1, 3), axis=0)) > 50  # text, table shading, plot colours
    assert (img.min(axis=2) < 235).mean() > 0.05  # more than 5% of the pixels are not (near) white


def test_selfsup_report_writes_the_page_of_one_run(tmp_path, capsys):
    run = tmp_path / "run"
    _run(run, "simclr", 0, baselines=True)
    assert main(["report", str(run)]) == 0
    assert str(run / "report.html") in capsys.readouterr().out
    text = (run / "report.html").read_text()
    assert '<td class="name">simclr</td>' in text and "baseline: raw" in text
    assert text.count("data:image/png;base64,") >= 3  # knn + linear accuracy plots, the loss curve
    dom, requested = chromium(run / "report.html", tmp_path, "--dump-dom")
    assert requested == [] and "simclr: training loss" in dom
    assert main(["report", str(tmp_path)]) == 2  # neither a run nor a comparison


# ---------------------------------------------------------------- real comparisons, one per modality
# Tiny budgets (one method, one seed, a few epochs): what is checked is that a comparison of each kind of data,
# trained and evaluated for real, ends with a page that opens offline with its row, baselines and inline plots.
# The full-size comparisons of BENCHMARKS.md ("selfsup compare") are checked the same way by pointing
# SELFSUP_COMPARE_DIRS at their folders (os.pathsep-separated).


def _have_fmnist() -> bool:
    from selfsup.data.fashion_mnist import FILES, _find, candidate_dirs

    return all(_find(f, candidate_dirs(None)) for f, _ in FILES.values())


def _have_cora() -> bool:
    root = Path(os.environ.get("SELFSUP_DATA_DIR", "")) / "planetoid" / "Cora" / "raw"
    return root.is_dir() and any(root.iterdir())


def _have_fortunes() -> bool:
    return Path(os.environ.get("SELFSUP_FORTUNES", "/usr/share/games/fortunes")).is_dir()


REAL = {  # name: (compare arguments, the method's row name, what the machine needs, why it is missing)
    "series": (["--data", "ucr:GunPoint", "--methods", "cpc", "--epochs-per-method", "2"], "cpc", None, None),
    "graph": (["--data", "cora", "--methods", "dgi", "--epochs-per-method", "3", "--protocols", "linear"], "dgi",
              _have_cora, NEED_PLANETOID),
    "video": (["--data", "moving-fashion-mnist", "--methods", "time-contrastive", "--epochs-per-method", "1",
               "--set", "train_clips=64", "--set", "test_clips=48", "--set", "frames=10", "--set", "encoder_width=4",
               "--protocols", "linear", "--labels", "100%", "--label-seeds", "0"], "time-contrastive",
              _have_fmnist, NEED_FMNIST),
    "text": (["--data", "fortunes", "--methods", "mlm", "--epochs-per-method", "0.05", "--protocols", "linear",
              "--labels", "100%", "--label-seeds", "0", "--baselines", "none"], "mlm", _have_fortunes,
             "fortunes not found: `apt-get install fortunes` (what `make test` does where apt exists)"),
    "words": (["--data", "kjv", "--methods", "word2vec:skipgram", "--epochs-per-method", "1"], "word2vec:skipgram",
              lambda: shutil.which("bible") is not None, NEED_KJV),
}


def _check_page(cmp_dir: Path, tmp: Path, plots: bool = True) -> dict:
    """The comparison's report.html, alone in a folder, in headless Chromium: every ranked row of its
    leaderboard.json is in the DOM, the plots are inline, the page asked for nothing, the screenshot is not blank."""
    from PIL import Image

    board = json.loads((cmp_dir / "leaderboard.json").read_text())
    page = tmp / "report.html"
    shutil.copy(cmp_dir / "report.html", page)
    dom, requested = chromium(page, tmp, "--dump-dom")
    assert requested == []
    names = re.findall(r'<tr class="method[^"]*">.*?<td class="name">([^<]*)</td>', dom, re.S)
    assert names and names == [r["method"] for r in board["rows"]]  # the row's name: method[:preset]
    imgs = re.findall(r'<img src="([^"]*)"', dom)
    assert all(s.startswith("data:image/png;base64,") for s in imgs) and (imgs or not plots)
    shot = tmp / "shot.png"
    chromium(page, tmp, f"--screenshot={shot}", "--window-size=1200,1600")
    img = np.asarray(Image.open(shot).convert("RGB"))
    assert (img.min(axis=2) < 235).mean() > 0.02
    return board


@pytest.mark.slow
@pytest.mark.parametrize("kind", list(REAL))
def test_a_real_comparison_of_each_kind_of_data_ends_with_a_page_that_opens(kind, tmp_path):
    args, row, have, why = REAL[kind]
    if have is not None and not have():
        pytest.skip(why)
    out = tmp_path / "cmp"
    assert main(["compare", *args, "--seeds", "0", "--out", str(out), "--no-progress"]) == 0
    board = _check_page(out, tmp_path, plots=kind != "words")  # word vectors: no loss curve, no labeled items to map
    assert [r["method"] for r in board["rows"]] == [row] and not board.get("failed")


COMPARE_DIRS = [Path(p) for p in os.environ.get("SELFSUP_COMPARE_DIRS", "").split(os.pathsep) if p]


@pytest.mark.skipif(not COMPARE_DIRS, reason="set SELFSUP_COMPARE_DIRS to folders written by `selfsup compare` "
                    "(BENCHMARKS.md, 'selfsup compare') to open their pages")
@pytest.mark.parametrize("cmp_dir", COMPARE_DIRS or [None], ids=str)
def test_the_pages_of_full_size_comparisons_open(cmp_dir, tmp_path):
    words = json.loads((cmp_dir / "leaderboard.json").read_text())["metric"]["labels"] == "all"  # word vectors
    _check_page(cmp_dir, tmp_path, plots=not words)
