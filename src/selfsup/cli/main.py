"""``selfsup`` command line.

    selfsup list
    selfsup pretrain METHOD --data NAME --out RUN_DIR [--encoder E] [--epochs N] [--max-minutes M]
                     [--batch-size B] [--seed S] [--precision 32|bf16-mixed|auto] [--config FILE.yaml]
                     [--set key=value ...]
    selfsup pretrain --resume RUN_DIR
    selfsup evaluate RUN_DIR [--protocols knn,linear,finetune,fewshot] [--labels 1%,10%,100%]
    selfsup embed RUN_DIR INPUT -o OUT.npy
    selfsup quickstart [--out DIR]
    selfsup compare --data NAME --out DIR [--methods auto|m1,m2] [--minutes-per-method M | --epochs-per-method E]
                    [--seeds 0,1,2] [--protocols ...] [--labels 1%,10%,100%] [--encoder E] [--metric PROTOCOL:LABELS]
    selfsup compare --resume DIR
    selfsup report RUN_DIR

User errors print one message (and a hint) and exit with status 2, without a traceback.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import warnings
from pathlib import Path
from typing import Any

from selfsup.errors import UserError

EXIT_USER_ERROR = 2
# EvalConfig.knn_k_grid, written out so that `--help` does not import torch (tests/test_cli.py checks they agree)
KNN_K_GRID_HELP = "1,5,10,20,50,100,200"


def _quiet_lightning() -> None:
    os.environ.setdefault("LITLOGGER_DISABLE_TIPS", "1")
    # lightning.pytorch resets its own level to INFO on import; its messages ("GPU available",
    # "Tip: ...") come from the rank_zero child loggers, whose level it leaves alone.
    for name in ("lightning.pytorch", "lightning.fabric", "lightning", "pytorch_lightning",
                 "lightning.pytorch.utilities.rank_zero", "lightning.fabric.utilities.rank_zero"):
        logging.getLogger(name).setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", message=".*LeafSpec.*")
    warnings.filterwarnings("ignore", message=".*litlogger.*")


def _csv(s: str) -> tuple[str, ...]:
    return tuple(v.strip() for v in s.split(",") if v.strip())


def _load_yaml(path: str) -> dict[str, Any]:
    import yaml

    p = Path(path)
    if not p.is_file():
        raise UserError(f"config file {p} not found")
    try:
        d = yaml.safe_load(p.read_text()) or {}
    except yaml.YAMLError as e:
        raise UserError(f"config file {p} is not valid YAML: {e}") from None
    if not isinstance(d, dict):
        raise UserError(f"config file {p} must hold a mapping of key: value")
    flat: dict[str, Any] = {}
    for k, v in d.items():  # accept flat files and the sections of a run's config.yaml
        if isinstance(v, dict) and k in ("method_config", "augment", "optim", "train"):
            # each section keeps its name (``optim.momentum`` is not MoCo's EMA ``momentum``)
            section = "method" if k == "method_config" else k
            flat.update({f"{section}.{key}": value for key, value in v.items()})
        elif k in ("method", "data", "encoder", "encoder_width", "encoder_options", "image_size", "data_dir"):
            continue
        else:
            flat[k] = v
    return flat


# --------------------------------------------------------------------------- list
def cmd_list(args: argparse.Namespace) -> int:
    from selfsup.data import DATASETS, dataset_names
    from selfsup.encoders import ENCODERS
    from selfsup.eval.harness import BASELINES
    from selfsup.methods import METHODS

    print("methods:")
    for fam in ("context", "temporal", "contrastive", "classical"):
        for name, spec in sorted(METHODS.items()):
            if spec.family == fam:
                presets = f" [presets: {', '.join(spec.presets)}]" if spec.presets else ""
                kind = "+".join(spec.modalities) + ("" if spec.regime == "engine" else f" ({spec.regime})")
                print(f"  {name:<18} {fam:<12} {kind:<19} {spec.description}{presets}")
    print("datasets:")
    for name in dataset_names():
        entry = DATASETS[name.split(":")[0]]
        print(f"  {name:<18} {entry.description}")
    print("encoders:")
    for name, (_, desc) in sorted(ENCODERS.items()):
        print(f"  {name:<18} {desc}")
    from selfsup.pipelines.modality import MODALITIES, load_modalities

    load_modalities()
    print("modalities (what a run holds; `selfsup embed` takes):")
    for name, m in MODALITIES.items():
        print(f"  {name:<18} {m.inputs}")
    from selfsup.eval.protocols import PROTOCOLS as REGISTRY

    print("protocols (label fractions via --labels, e.g. 1%,10%,100%):")
    for p in REGISTRY.values():
        print(f"  {p.name:<9} needs {p.needs:<9} chooses {p.selects}")
    print("protocols per modality:")
    for name, m in MODALITIES.items():
        print(f"  {name:<18} {', '.join(m.protocols)}")
    print(f"baselines:\n  {', '.join(BASELINES)}")
    return 0


# --------------------------------------------------------------------------- pretrain
def cmd_pretrain(args: argparse.Namespace) -> int:
    from selfsup import api
    from selfsup.config import parse_set

    progress = not args.no_progress
    if args.resume:
        changes = parse_set(args.set)
        if args.precision is not None:
            changes["precision"] = args.precision
        api.resume(args.resume, data_dir=args.data_dir, download=args.download, skip_bad_files=args.skip_bad_files,
                   progress=progress, **changes)
        return 0
    if not args.method:
        raise UserError("pretrain needs a METHOD (or --resume RUN_DIR)", hint="see `selfsup list`")
    if not args.data or not args.out:
        raise UserError("pretrain needs --data NAME and --out RUN_DIR", hint="e.g. selfsup pretrain simclr --data fashion-mnist --out runs/simclr")
    overrides: dict[str, Any] = {}
    if args.config:
        overrides.update(_load_yaml(args.config))
    overrides.update(parse_set(args.set))
    for key in ("epochs", "max_minutes", "batch_size", "seed", "precision"):
        if getattr(args, key) is not None:
            overrides[key] = getattr(args, key)
    api.pretrain(args.method, args.data, args.out, encoder=args.encoder, preset=args.preset, data_dir=args.data_dir,
                 image_size=args.image_size, download=args.download, skip_bad_files=args.skip_bad_files,
                 progress=progress, transductive=args.transductive, **overrides)
    return 0


# --------------------------------------------------------------------------- evaluate
def cmd_evaluate(args: argparse.Namespace) -> int:
    from selfsup import api

    api.evaluate(args.run_dir, protocols=_csv_or_none(args.protocols), labels=_csv_or_none(args.labels),
                 seeds=_csv_or_none(args.seeds), baselines=_csv_or_none(args.baselines), k=args.k, task=args.task,
                 transductive=args.transductive, split=args.split, data_dir=args.data_dir)
    return 0


def _csv_or_none(s: str | None) -> tuple[str, ...] | None:
    return None if s is None else _csv(s)


# --------------------------------------------------------------------------- embed
def cmd_embed(args: argparse.Namespace) -> int:
    import numpy as np

    from selfsup import api

    feats = api.embed(args.run_dir, args.input)
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp.npy")
    np.save(tmp, feats)
    os.replace(tmp, out)
    print(f"wrote {out}: {' x '.join(str(n) for n in feats.shape)} features")
    return 0


# --------------------------------------------------------------------------- quickstart
def cmd_quickstart(args: argparse.Namespace) -> int:
    from selfsup.pipelines.quickstart import QUICKSTART_MINUTES, run_quickstart

    minutes = QUICKSTART_MINUTES if args.minutes is None else args.minutes
    run_quickstart(Path(args.out), minutes=minutes, data_dir=args.data_dir, download=args.download,
                   fresh=args.fresh)
    return 0


# --------------------------------------------------------------------------- compare / report
def cmd_compare(args: argparse.Namespace) -> int:
    from selfsup import api
    from selfsup.config import parse_set

    progress = not args.no_progress
    try:
        if args.resume:
            board = api.compare(resume=args.resume, progress=progress)
            out = args.resume
        else:
            if not args.data or not args.out:
                raise UserError("compare needs --data NAME and --out DIR (or --resume DIR)",
                                hint="e.g. selfsup compare --data fashion-mnist --out cmp/fmnist --minutes-per-method 3")
            board = api.compare(args.data, args.out, methods=args.methods, minutes_per_method=args.minutes_per_method,
                                epochs_per_method=args.epochs_per_method, seeds=_csv(args.seeds),
                                protocols=_csv_or_none(args.protocols), labels=_csv_or_none(args.labels),
                                encoder=args.encoder, metric=args.metric, label_seeds=_csv_or_none(args.label_seeds),
                                baselines=_csv_or_none(args.baselines), data_dir=args.data_dir, progress=progress,
                                task=args.task, **parse_set(args.set))
            out = args.out
    except KeyboardInterrupt:
        return 130  # the comparison said how to continue
    print((Path(out) / "leaderboard.md").read_text())
    print(f"wrote {out}/leaderboard.json, leaderboard.md, report.html ({len(board['rows'])} methods ranked)")
    if not board["rows"] and board.get("failed"):
        print("selfsup compare: every run failed (the reasons are above and in leaderboard.json); nothing is ranked",
              file=sys.stderr)
        return 1
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from selfsup import api

    print(f"wrote {api.report(args.run_dir)}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="selfsup", description="Self-supervised representation learning: pretrain, evaluate, embed.")
    from selfsup import __version__

    p.add_argument("--version", action="version", version=f"selfsup {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    s = sub.add_parser("list", help="list methods, datasets, encoders and protocols")
    s.set_defaults(func=cmd_list)

    s = sub.add_parser("pretrain", help="pretrain a method without labels")
    s.add_argument("method", nargs="?", help="method name (see `selfsup list`)")
    s.add_argument("--data", help="dataset: fashion-mnist, digits, folder:PATH, npz:PATH, ...")
    s.add_argument("--out", help="run directory to create")
    s.add_argument("--encoder", help="encoder (default: the modality's own: small-cnn-2x2 for images, small-cnn for "
                   "video frames, the transformer for text, the GCN for graphs, conv1d for series; see `selfsup list`)")
    s.add_argument("--epochs", type=float, help="passes over the training data, always obeyed (default: with "
                   "--max-minutes the budget ends the run; without it 10 epochs, or more on small data to reach "
                   "min_steps optimizer steps)")
    s.add_argument("--max-minutes", type=float, help="wall-clock budget for training (without --epochs the run "
                   "trains until it ends)")
    s.add_argument("--batch-size", type=int, help="samples per step (default 256, or the whole training set when "
                   "it is smaller; a given size larger than the data is an error)")
    s.add_argument("--seed", type=int)
    s.add_argument("--precision", metavar="P", help="32, bf16-mixed (bf16 autocast of the forward pass, losses in "
                   "fp32), auto (bf16-mixed where the GPU or CPU does bf16 natively, else 32) or auto-gpu (bf16-mixed "
                   "on GPUs only); = --set precision=P. Default: DEFAULT_PRECISION of selfsup/train/precision.py; "
                   "run.json records what ran, and a resumed run keeps it unless given")
    s.add_argument("--config", help="YAML file of key: value settings")
    s.add_argument("--set", action="append", metavar="KEY=VALUE", help="override any method/optimizer/train setting (repeatable)")
    s.add_argument("--preset", help="a named preset of the method")
    s.add_argument("--resume", metavar="RUN_DIR", help="continue an interrupted run from its last checkpoint")
    s.add_argument("--data-dir", help="where dataset files are (else $SELFSUP_DATA_DIR, system locations)")
    s.add_argument("--image-size", type=int, help="side length for folder:PATH images (default 32)")
    s.add_argument("--download", action="store_true", help="allow downloading the dataset from its official source")
    s.add_argument("--skip-bad-files", action="store_true", help="skip unreadable files with a warning instead of stopping")
    s.add_argument("--no-progress", action="store_true", help="no progress bar (for logs and scripts)")
    s.add_argument("--transductive", action="store_true", help="text methods: pretrain on the whole corpus, the test "
                   "texts of the tasks defined on it included (default: they are left out); results say transductive")
    s.set_defaults(func=cmd_pretrain)

    s = sub.add_parser("evaluate", help="evaluate a run's encoder with few labels (writes results.json)")
    s.add_argument("run_dir")
    s.add_argument("--protocols", help="comma list of knn,linear,svm,1nn,finetune,fewshot,cluster (what the modality "
                   "offers; default knn,linear,fewshot)")
    s.add_argument("--labels", help="label fractions, e.g. 1%%,10%%,100%%")
    s.add_argument("--seeds", help="label-subset seeds, e.g. 0,1,2")
    s.add_argument("--baselines", help="comma list of raw,pca,random_init,supervised,gmm,kmeans or 'none'")
    s.add_argument("--k", type=int, help="neighbours of the kNN classifier (default: chosen on the validation split from "
                   f"{KNN_K_GRID_HELP})")
    s.add_argument("--task", help="downstream task for modalities with several (e.g. text: fortunes, polarity)")
    s.add_argument("--transductive", action="store_true", help="text runs: accept (and report as transductive) a "
                   "task whose test texts are in the run's pretraining corpus, instead of refusing it")
    s.add_argument("--split", choices=("test", "validation"), default="test",
                   help="score on the test set (default) or on the validation split carved from the training labels "
                        "(writes validation.json; for choosing settings, checkpoints or runs without reading the test set)")
    s.add_argument("--data-dir")
    s.set_defaults(func=cmd_evaluate)

    s = sub.add_parser("embed", help="write the representation of inputs to a .npy file")
    s.add_argument("run_dir")
    s.add_argument("input", help="a folder of images, a .npz/.npy file, or a dataset name; "
                   "for word2vec runs a file of words or a comma list (king,queen); "
                   "for graph runs (dgi, grace) - for the run's own graph, or a graph name; "
                   "for text runs a file of texts, one a line; for series runs a .npy of (N, C, T) or a dataset name")
    s.add_argument("-o", "--output", required=True, help="output .npy path")
    s.set_defaults(func=cmd_embed)

    s = sub.add_parser("quickstart", help="pretrain SimCLR on Fashion-MNIST and evaluate it against baselines")
    s.add_argument("--out", default="runs/quickstart", help="output directory (default runs/quickstart)")
    s.add_argument("--minutes", type=float, help="pretraining budget in minutes (default 4.5: the longest that keeps `make demo` "
                   "within 600 s; BENCHMARKS.md \"quickstart\")")
    s.add_argument("--data-dir")
    s.add_argument("--download", action="store_true")
    s.add_argument("--fresh", action="store_true", help="replace an earlier quickstart run in --out (only a folder that `selfsup quickstart` wrote; anything else is refused)")
    s.set_defaults(func=cmd_quickstart)

    s = sub.add_parser("compare", help="pretrain every applicable method on one dataset under one budget, rank them "
                       "(leaderboard.json, leaderboard.md, report.html)")
    s.add_argument("--data", help="dataset (see `selfsup list`)")
    s.add_argument("--out", help="comparison folder to create (absent or empty)")
    s.add_argument("--methods", default="auto", help="auto (every method that trains on the data's kind; PCA/GMM/"
                   "k-means are baselines already) or a comma list, name:preset for a preset (default auto)")
    budget = s.add_mutually_exclusive_group()
    budget.add_argument("--minutes-per-method", type=float, help="wall-clock minutes of pretraining per run "
                        "(default 3 when no --epochs-per-method)")
    budget.add_argument("--epochs-per-method", type=float, help="epochs of pretraining per run instead of minutes")
    s.add_argument("--seeds", default="0,1,2", help="pretraining seeds, one run each (default 0,1,2)")
    s.add_argument("--protocols", help="evaluation protocols (default: the modality's)")
    s.add_argument("--labels", help="label fractions, e.g. 1%%,10%%,100%% (default: the modality's)")
    s.add_argument("--label-seeds", help="label-subset seeds of the evaluation (default: the modality's)")
    s.add_argument("--baselines", help="baselines, evaluated once (default: the modality's; 'none' for none)")
    s.add_argument("--encoder", help="encoder of every method (default: the modality's)")
    s.add_argument("--metric", help="PROTOCOL:LABELS to rank on (default: linear at the smallest label fraction)")
    s.add_argument("--task", help="text: the labeled task every run is scored on (default: the corpus's own, e.g. "
                   "fortunes; kjv -> kjv-testament)")
    s.add_argument("--set", action="append", metavar="KEY=VALUE", help="a setting given to every run (repeatable)")
    s.add_argument("--resume", metavar="DIR", help="continue an interrupted comparison")
    s.add_argument("--data-dir")
    s.add_argument("--no-progress", action="store_true", help="no progress lines")
    s.set_defaults(func=cmd_compare)

    s = sub.add_parser("report", help="write RUN_DIR/report.html: one self-contained page for an evaluated run "
                       "(or a comparison folder)")
    s.add_argument("run_dir")
    s.set_defaults(func=cmd_report)
    return p


# optional package (top-level import name) -> the extra of pyproject.toml that installs it
OPTIONAL_PACKAGES = {
    "gensim": "text", "tokenizers": "text", "chatterbot_corpus": "text",
    "torch_geometric": "graph", "sktime": "series", "mnist1d": "series",
    "imageio": "video", "av": "video", "cv2": "video",
}


def main(argv: list[str] | None = None) -> int:
    _quiet_lightning()
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    try:
        return int(args.func(args) or 0)
    except UserError as e:
        print(f"selfsup: error: {e.message}", file=sys.stderr)
        if e.hint:
            print(f"  hint: {e.hint}", file=sys.stderr)
        return EXIT_USER_ERROR
    except ModuleNotFoundError as e:
        top = (e.name or "").split(".")[0]
        if top not in OPTIONAL_PACKAGES:
            raise
        extra = OPTIONAL_PACKAGES[top]
        print(f"selfsup: error: this needs the optional package '{top}', which is not installed", file=sys.stderr)
        print(f"  hint: pip install 'selfsup[{extra}]'  (from a checkout: make install EXTRAS=\"test,{extra}\")",
              file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print("selfsup: interrupted; the last checkpoint is kept (resume with selfsup pretrain --resume RUN_DIR)",
              file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
