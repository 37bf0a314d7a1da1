"""``selfsup quickstart``: SimCLR on Fashion-MNIST within a wall-clock budget, then the
evaluation harness against raw pixels, PCA and a random-init encoder."""

from __future__ import annotations

import time
from pathlib import Path

from selfsup.data import load_dataset
from selfsup.errors import UserError
from selfsup.eval.harness import EvalConfig
from selfsup.train.run import pretrain, resolve_config
from selfsup.train.rundir import clear_run_dir

# Defaults chosen on the validation split (BENCHMARKS.md, "quickstart"; benchmarks/sweep_quickstart.json): one epoch of
# SimCLR on Fashion-MNIST for each encoder x temperature, scored by kNN-100% on 6,000 held-out training labels:
# small-cnn-2x2 0.875 (T=0.1) / 0.866 (T=0.2), small-cnn 0.849 / 0.845. small-cnn-2x2 pools the last map to 2x2 cells
# instead of globally, at the same step cost.
# The stronger views (blur_p 0.5, solarize_p 0.2) were chosen by validation linear-1% at 3 epochs
# (benchmarks/sweep_quickstart_aug.json: 0.8201 without either, 0.8244 / 0.8245 with one, 0.8284 with both; validation
# kNN-100% within 0.003 of the recipe's, benchmarks/quickstart_linear1_factors.json). Colour jitter on every view
# (jitter_p 1.0 rather than 0.8) on top of both: 0.8316 (same file, row "bsj"), so it is in the recipe.
# The budget: validation linear-1% still rises with epochs (3 / 6 / 10: 0.819 / 0.828 / 0.830, same file), so the
# quickstart pretrains as long as `make demo` can within its 600 s on the slowest fresh-clone run measured here
# (565 s with 4 minutes, the evaluation then taking 271 s; BENCHMARKS.md "quickstart"): 4.5 minutes.
QUICKSTART_ENCODER = "small-cnn-2x2"
QUICKSTART_MINUTES = 4.5
QUICKSTART_SETTINGS = {
    "temperature": 0.1,
    "epochs": 8,
    "batch_size": 256,
    "blur_p": 0.5,
    "solarize_p": 0.2,
    "jitter_p": 1.0,
    "ckpt_every_minutes": 2.0,
}


def run_quickstart(out: Path, minutes: float = QUICKSTART_MINUTES, data_dir: str | None = None, download: bool = False,
                   fresh: bool = False) -> dict:
    """Pretrain SimCLR for at most ``minutes`` and evaluate it; returns results.json's content."""
    from selfsup.pipelines.image_eval import evaluate_run

    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        if not fresh:
            raise UserError(f"{out} already exists and is not empty",
                            hint="pass --fresh to replace an earlier quickstart run there, or --out DIR for a new one")
        clear_run_dir(out, "quickstart")  # refuses anything that is not a quickstart run of ours
    t0 = time.monotonic()
    data = load_dataset("fashion-mnist", data_dir=data_dir, download_ok=download)
    print(data.summary())
    print(f"[1/2] pretraining SimCLR ({QUICKSTART_ENCODER}) without labels for up to {minutes:g} minutes ...")
    cfg = resolve_config("simclr", "fashion-mnist", overrides={**QUICKSTART_SETTINGS, "max_minutes": minutes},
                         data_dir=data_dir, encoder=QUICKSTART_ENCODER)
    pretrain(cfg, out, data=data, schedule_by_time=True, extra_meta={"command": "quickstart"})
    print("[2/2] evaluating with 1% / 10% / 100% of the labels against baselines ...")
    results = evaluate_run(out, EvalConfig(), data=data)
    print((out / "report.md").read_text())
    print(f"quickstart finished in {time.monotonic() - t0:.0f} s; see {out}/report.md and the plots there")
    return results
