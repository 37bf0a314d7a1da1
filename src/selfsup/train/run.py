"""Pretraining runs: build a method from the registry, train it with Lightning,
and write a self-describing run directory.

Run directory::

    run.json             what was run (method, data, encoder, all configs, timings)
    config.yaml          the resolved configuration (editable, reusable with --config)
    metrics.csv          step, epoch, loss, lr, elapsed_s, samples_per_s
    checkpoints/         step-XXXXXXXX.ckpt (atomic, resumable, loaded weights_only)
    encoder.safetensors  the encoder's weights (what downstream use needs)
    model.safetensors    the whole method (encoder, heads, queues, ...)
    loss.png             the training loss curve
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import signal
import sys
import threading
import time
import warnings
from dataclasses import dataclass, field, replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import torch
import yaml

from selfsup import __version__
from selfsup.augment import ImageAugConfig
from selfsup.config import apply_overrides, preset_of, route_settings, to_dict
from selfsup.data.cache import data_options, select_rows
from selfsup.encoders import build_encoder
from selfsup.errors import UserError
from selfsup.methods import DataInfo, MethodSpec, get_method
from selfsup.runfiles import load_run  # noqa: F401  (re-exported: it lives in a torch-free module)
from selfsup.train.callbacks import AtomicCheckpoint, MetricsCSV, RunProgressBar
from selfsup.train.checkpoint import (
    TMP_RE,
    atomic_save_safetensors,
    atomic_write_text,
    latest_valid_checkpoint,
    list_checkpoints,
    remove_partial_files,
)
from selfsup.train.config import TrainConfig, TrainingPlan, plan_training
from selfsup.train.hooks import RegimeHooks
from selfsup.train.loader import BatchLoader
from selfsup.train.module import SelfSupModule
from selfsup.train.optim import OptimConfig
from selfsup.train.precision import resolve_precision


@dataclass
class RunConfig:
    """Everything that defines a pretraining run."""

    method: str
    data: str
    encoder: str
    encoder_width: float | None
    method_cfg: Any
    aug: ImageAugConfig
    optim: OptimConfig
    train: TrainConfig
    image_size: int | None = None
    data_dir: str | None = None
    encoder_options: dict[str, Any] = field(default_factory=dict)  # the ViTs' patch / pool (encoders.registry)

    def to_dict(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "data": self.data,
            "encoder": self.encoder,
            "encoder_width": self.encoder_width,
            **({"encoder_options": dict(self.encoder_options)} if self.encoder_options else {}),
            "image_size": self.image_size,
            "data_dir": self.data_dir,
            "method_config": to_dict(self.method_cfg),
            "augment": to_dict(self.aug),
            "optim": to_dict(self.optim),
            "train": to_dict(self.train),
        }


def resolve_config(
    method: str,
    data: str,
    *,
    encoder: str = "small-cnn",
    encoder_width: float | None = None,
    encoder_options: dict[str, Any] | None = None,
    overrides: dict[str, Any] | None = None,
    preset: str | None = None,
    image_size: int | None = None,
    data_dir: str | None = None,
    data_sections: dict[str, Any] | None = None,
    defaults: dict[str, Any] | None = None,
) -> RunConfig | tuple[RunConfig, dict[str, Any]]:
    """The run's typed configs, through the one settings router (:func:`selfsup.config.route_settings`),
    each key checked strictly.

    Sections, in the order that decides a key two of them own: ``data_sections`` (the modality's data
    settings, e.g. ``{"series": SeriesDataConfig()}``), then method, augment, optim, train. Layers, in
    order: the method's ``aug_defaults``/``optim_defaults``/``train_defaults``, the modality's ``defaults``, the preset,
    then ``overrides`` (the ``--config`` file under ``--set``).

    Returns:
        The :class:`RunConfig`; with ``data_sections``, ``(RunConfig, {name: routed data config})``.
    """
    spec = get_method(method)
    sections = {**(data_sections or {}), "method": spec.config_cls(), "augment": ImageAugConfig(),
                "optim": OptimConfig(), "train": TrainConfig()}
    method_defaults = {**{f"augment.{k}": v for k, v in spec.aug_defaults.items()},
                       **{f"optim.{k}": v for k, v in spec.optim_defaults.items()},
                       **{f"train.{k}": v for k, v in spec.train_defaults.items()}}
    routed = route_settings(sections, method_defaults, defaults, preset_of(spec, preset), overrides)
    cfg = RunConfig(method, data, encoder, encoder_width, routed["method"], routed["augment"], routed["optim"],
                    routed["train"], image_size, data_dir, dict(encoder_options or {}))
    if data_sections is None:
        return cfg
    return cfg, {name: routed[name] for name in data_sections}


# prefixes that send a --set key to one config: ``optim.momentum`` is the optimiser's momentum even for
# MoCo / BYOL, whose plain ``momentum`` is the EMA momentum of the method config (the first to have it)
SECTIONS = ("method", "augment", "optim", "train")


def _apply_routed(overrides: dict[str, Any] | None, mcfg: Any, aug: Any, optim: Any, train: Any) -> tuple[Any, ...]:
    """Copies of the four configs with ``overrides`` applied (:func:`selfsup.config.route_settings`)."""
    routed = route_settings(dict(zip(SECTIONS, (mcfg, aug, optim, train))), overrides)
    return tuple(routed[name] for name in SECTIONS)


def _validate(*configs: Any) -> None:
    for c in configs:
        if hasattr(c, "validate"):
            c.validate()


# settings a resumed run may change (``pretrain --resume RUN_DIR --set KEY=VALUE``): none of them
# changes the model's shape, the data order or what a checkpoint holds. (The batch size and the stopping
# rule a resumed run uses are its first segment's, from run.json's training_plan; max_minutes then changes
# the budget, never the rule.)
RESUME_KEYS = ("on_nonfinite", "lr", "temperature", "precision", "max_minutes", "ckpt_every_steps",
               "ckpt_every_minutes", "keep_checkpoints", "threads", "log_every_steps", "data_cache", "cache_dir")


def config_from_dict(d: dict[str, Any], changes: dict[str, Any] | None = None) -> RunConfig:
    """Rebuild a :class:`RunConfig` from ``run.json``'s ``config``, with ``changes`` (only
    :data:`RESUME_KEYS`) applied on top.

    Each stored section goes back into its own config: a key that two configs share (MoCo's EMA
    ``momentum`` and the optimiser's ``momentum``) must not be routed by name. A method key the
    stored config lacks takes the method's ``former_defaults`` value (the behaviour the run had)."""
    for key in changes or {}:
        if key not in RESUME_KEYS:
            raise UserError(f"'{key}' cannot change when a run is resumed (it would change the model, the data "
                            "order or the checkpoint's content)",
                            hint=f"start a new run instead; a resume can change: {', '.join(RESUME_KEYS)}")
    base = resolve_config(d["method"], d["data"], encoder=d["encoder"], encoder_width=d.get("encoder_width"),
                          image_size=d.get("image_size"), data_dir=d.get("data_dir"))
    stored_method = d.get("method_config", {})
    former = {k: v for k, v in get_method(d["method"]).former_defaults.items() if k not in stored_method}
    mcfg = apply_overrides(base.method_cfg, {**former, **stored_method})
    aug = apply_overrides(base.aug, d.get("augment", {}))
    optim = apply_overrides(base.optim, d.get("optim", {}))
    stored_train = dict(d.get("train", {}))
    if stored_train.get("precision", "auto") == "auto":
        # written before runs stored the precision they resolved to (or before a method's own default, e.g.
        # SimCLR's "auto"): "auto" then meant bf16 on GPUs only
        stored_train["precision"] = "auto-gpu"
    train = apply_overrides(base.train, stored_train)
    mcfg, aug, optim, train = _apply_routed(changes, mcfg, aug, optim, train)
    _validate(mcfg, aug, optim, train)
    return RunConfig(d["method"], d["data"], d["encoder"], d.get("encoder_width"), mcfg, aug, optim, train,
                     d.get("image_size"), d.get("data_dir"), dict(d.get("encoder_options") or {}))


def build_method(cfg: RunConfig, spec: MethodSpec, info: DataInfo) -> torch.nn.Module:
    """Encoder + method from the registry, seeded."""
    torch.manual_seed(cfg.train.seed)
    encoder = build_encoder(cfg.encoder, info.input_shape, cfg.encoder_width, **cfg.encoder_options)
    return spec.build(cfg.method_cfg, encoder, info, aug=cfg.aug, seed=cfg.train.seed)


def write_loss_plot(run_dir: Path) -> None:
    """``loss.png`` from ``metrics.csv``."""
    import csv

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = run_dir / "metrics.csv"
    if not path.exists():
        return
    with open(path) as f:
        rows = list(csv.DictReader(f))
    if not rows:
        return
    steps = [int(r["step"]) for r in rows]
    loss = [float(r["loss"]) for r in rows]
    fig, ax = plt.subplots(figsize=(5, 3.2))
    ax.plot(steps, loss, lw=1.2)
    ax.set_xlabel("step")
    ax.set_ylabel("training loss")
    ax.set_title(run_dir.name)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(run_dir / "loss.png", dpi=120)
    plt.close(fig)


def pretrain(cfg: RunConfig, run_dir: Path, *, data: Any = None, resume: bool = False, progress: bool = True,
             schedule_by_time: bool | None = None, method: torch.nn.Module | None = None,
             extra_meta: dict[str, Any] | None = None, files: dict[str, Any] | None = None,
             hooks: RegimeHooks | None = None) -> dict[str, Any]:
    """Pretrain ``cfg.method`` on ``cfg.data`` into ``run_dir``.

    Args:
        cfg: the resolved run configuration.
        run_dir: output directory (created; must be empty or absent unless ``resume``).
        data: an already loaded dataset (else loaded from the registry).
        resume: continue from the newest valid checkpoint in ``run_dir``.
        progress: show a progress bar.
        schedule_by_time: anneal the lr by the wall-clock budget when it binds first (default:
            whenever the run has a budget, ``max_minutes > 0``, so a budgeted run ends annealed).
        method: an already built method (modalities whose encoder depends on the data, e.g.
            text with a trained tokenizer); else built from the registry.
        extra_meta: more keys for ``run.json``.
        files: more files (name -> text) written with ``run.json`` when a new run starts, before any
            training: what a resume needs besides the checkpoints (e.g. a text run's tokenizer); a
            value that is a function is called with the file's path to write it (binary files).
        hooks: the loader, plan, optimiser and callbacks of a regime that brings its own (a full-batch
            graph); with its ``loader``, ``method`` must be given.

    Returns:
        The content of ``run.json``.
    """
    import lightning as L

    from selfsup.data import load_dataset

    run_dir = Path(run_dir)
    spec = get_method(cfg.method)
    # Under torchrun / SLURM / Lightning's own launch of the other ranks, every process runs this
    # function; only the first owns the run directory (checks it, cleans it, writes run.json).
    secondary = _launched_rank() != 0
    if cfg.train.sync_batchnorm and (cfg.train.accelerator == "cpu"
                                     or (cfg.train.accelerator == "auto" and not torch.cuda.is_available())):
        raise UserError("sync_batchnorm needs GPUs (torch's SyncBatchNorm has no CPU implementation)",
                        hint="drop --set sync_batchnorm=true on CPU; MoCo keeps query and key BN statistics apart "
                        "across processes with shuffle-BN anyway")
    # a run killed before it wrote anything leaves at most a temporary file: still "empty"
    if (not resume and not secondary and run_dir.exists()
            and any(not TMP_RE.match(p.name) for p in run_dir.iterdir())):
        raise UserError(
            f"run directory {run_dir} already exists and is not empty",
            hint=f"choose another --out, delete it, or continue it with: selfsup pretrain --resume {run_dir}",
        )
    ckpt_path = None
    if run_dir.exists() and not secondary:
        remove_partial_files(run_dir)  # what a killed writer left: never taken for a good file
    if resume:
        ckpt_path = latest_valid_checkpoint(run_dir / "checkpoints", method=cfg.method)
        found = list_checkpoints(run_dir / "checkpoints")
        if ckpt_path is None and found:
            raise UserError(f"none of the {len(found)} checkpoints in {run_dir}/checkpoints can be used (see the warnings)",
                            hint="restore a good checkpoint, or start the run again in a new directory")
        if ckpt_path is None:
            warnings.warn(f"no complete checkpoint in {run_dir}/checkpoints; starting from scratch", stacklevel=2)
    if cfg.train.threads > 0:
        torch.set_num_threads(cfg.train.threads)
    hooks = hooks or RegimeHooks()
    hooks.check(method)
    loader, plan, info = hooks.loader, hooks.plan, hooks.info
    if loader is not None:
        mean, std = info.mean, info.std
    else:
        if data is None:
            data = load_dataset(cfg.data, data_dir=cfg.data_dir, image_size=cfg.image_size, **data_options(cfg.train))
        if (spec.modality == "image" and data.modality != "image" and data.modality not in spec.modalities
                and cfg.encoder != "mlp"):
            raise UserError(f"{cfg.method} with encoder {cfg.encoder} needs images; {cfg.data} holds vectors",
                            hint="use --encoder mlp")
        mean, std = data.channel_stats()
        info = DataInfo(tuple(data.input_shape), mean, std, len(data.x_train))
    if method is None:
        method = build_method(cfg, spec, info)
    if getattr(cfg.method_cfg, "channels_last", False):
        method = method.to(memory_format=torch.channels_last)
    # the precision this machine gives the requested one, stored in the config: a resume keeps it anywhere
    requested_precision = cfg.train.precision
    if resume and (run_dir / "run.json").is_file():  # what the first segment was asked for
        with contextlib.suppress(OSError, ValueError):
            requested_precision = json.loads((run_dir / "run.json").read_text()).get("precision_requested",
                                                                                   requested_precision)
    precision = resolve_precision(cfg.train.precision, cfg.train.accelerator, warn=not secondary)
    cfg = replace(cfg, train=replace(cfg.train, precision=precision))
    if loader is not None:
        stored = _read_plan(run_dir) if resume else None
        plan = stored or plan
    else:
        x_train = (select_rows(data.x_train, slice(0, cfg.train.train_samples)) if cfg.train.train_samples > 0
                   else data.x_train)
        plan = _stored_plan(run_dir, len(x_train), cfg) if resume else None
        if plan is None:
            plan = plan_training(cfg.train, len(x_train), _planned_world(cfg.train))
        loader = BatchLoader(x_train, plan.batch_size, seed=cfg.train.seed)
    if not secondary:
        if plan.batch_note:
            print(f"batch size: {plan.batch_note}")
        print(f"training: {plan.stop_note}")
    max_seconds = cfg.train.max_minutes * 60
    if schedule_by_time is None or plan.stop_rule == "budget":  # the clock alone ends a budget run
        schedule_by_time = max_seconds > 0
    module = SelfSupModule(method, cfg.optim, loader, plan.schedule_epochs(), max_seconds, schedule_by_time,
                           on_nonfinite=cfg.train.on_nonfinite, tag={"method": cfg.method},
                           make_optimizer=hooks.make_optimizer)
    run_dir.mkdir(parents=True, exist_ok=True)
    meta = {
        "selfsup_version": __version__,
        "torch_version": torch.__version__,
        "method": cfg.method,
        "family": spec.family,
        "modality": spec.pipeline,
        "dataset": cfg.data,
        # composite encoders (split-brain) record the registry name that rebuilds them
        "encoder": getattr(method.encoder, "registry_name", None) or cfg.encoder,
        "encoder_width": cfg.encoder_width,
        **({"encoder_options": dict(cfg.encoder_options)} if cfg.encoder_options else {}),
        "input_shape": list(info.input_shape),
        "mean": list(mean),
        "std": list(std),
        "config": cfg.to_dict(),
        # the batch size used and the stopping rule, and why (a resumed run keeps them)
        "training_plan": plan.to_dict(),
        "precision": precision,
        "precision_requested": requested_precision,
        "status": "running",
        "command": "pretrain",  # the command that wrote this run (quickstart's --fresh replaces only its own)
        **(extra_meta or {}),
    }
    if not secondary and (not resume or not (run_dir / "run.json").exists()):
        atomic_write_text(run_dir / "run.json", json.dumps(meta, indent=2))
        atomic_write_text(run_dir / "config.yaml", yaml.safe_dump(cfg.to_dict(), sort_keys=False))
    for name, text in (files or {}).items():
        if not secondary and (not resume or not (run_dir / name).exists()):
            text(run_dir / name) if callable(text) else atomic_write_text(run_dir / name, text)
    ckpt_cb = AtomicCheckpoint(run_dir / "checkpoints", cfg.train.keep_checkpoints, cfg.train.ckpt_every_minutes,
                               cfg.train.ckpt_every_steps, epoch_end=hooks.checkpoint_epoch_ends)
    by_budget = plan.stop_rule == "budget"
    trainer = L.Trainer(
        accelerator=cfg.train.accelerator,
        devices=cfg.train.devices if cfg.train.devices == "auto" else _devices(cfg.train.devices),
        num_nodes=cfg.train.num_nodes,
        strategy=cfg.train.strategy,
        sync_batchnorm=cfg.train.sync_batchnorm,
        precision=precision,
        max_epochs=-1 if by_budget else math.ceil(plan.epochs),
        max_steps=-1 if by_budget else plan.max_steps,
        max_time=timedelta(seconds=max_seconds) if max_seconds > 0 else None,
        callbacks=[*hooks.callbacks, ckpt_cb, MetricsCSV(run_dir / "metrics.csv", cfg.train.log_every_steps),
                   *([RunProgressBar(max_seconds if by_budget else 0.0)] if progress else [])],
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=progress,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        use_distributed_sampler=False,
        deterministic=False,
        default_root_dir=str(run_dir),
    )
    t0 = time.monotonic()
    interrupted = False
    with _stop_on_sigterm(module):
        try:
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", message=".*does not have many workers.*")
                warnings.filterwarnings("ignore", message=".*`max_epochs` was not set.*")
                # our module restores the data position itself (SelfSupModule.on_load_checkpoint)
                warnings.filterwarnings("ignore", message=".*your dataloader is not resumable.*")
                # on_nonfinite=skip: a skipped step returns None (reported by our own warning)
                warnings.filterwarnings("ignore", message=".*training_step. returned .None.*")
                trainer.fit(module, ckpt_path=str(ckpt_path) if ckpt_path else None, weights_only=True)
        except KeyboardInterrupt:
            interrupted = True
        except SystemExit:
            # Lightning turns Ctrl-C into sys.exit(1) after its on_exception hooks (our
            # checkpoint) ran; finish the segment's bookkeeping below instead of exiting here.
            if not trainer.interrupted:
                raise
            interrupted = True
        except Exception as e:
            # a training fault, a full disk, out of memory: record it; weights are not written,
            # the newest checkpoint stays the last good state
            err = _out_of_memory_error(e, int(trainer.global_step), cfg, plan.batch_size) if _is_oom(e) else e
            if trainer.is_global_zero:
                meta.update(status="failed", error=str(err), steps=int(trainer.global_step))
                with contextlib.suppress(Exception):
                    atomic_write_text(run_dir / "run.json", json.dumps(meta, indent=2))
            if err is not e:
                raise err from None
            raise
    if trainer.interrupted:
        interrupted = True
    train_seconds = module.elapsed()
    meta.update(  # every rank returns the summary; only the first writes files
        status="interrupted" if interrupted else "finished",
        train_seconds=round(train_seconds, 2),
        steps=int(trainer.global_step),
        epochs=round(trainer.global_step / max(1, len(loader)), 3),
        final_loss=final_loss(module.last_loss, run_dir if resume else None),
        skipped_steps=list(module.skipped_steps),
        wall_seconds_this_segment=round(time.monotonic() - t0, 2),
    )
    if trainer.is_global_zero:
        m = method
        atomic_save_safetensors(m.encoder.state_dict(), run_dir / "encoder.safetensors",
                                metadata={"encoder": cfg.encoder, "method": cfg.method})
        atomic_save_safetensors(m.state_dict(), run_dir / "model.safetensors", metadata={"method": cfg.method})
        atomic_write_text(run_dir / "run.json", json.dumps(meta, indent=2))
        write_loss_plot(run_dir)
    if interrupted:
        raise KeyboardInterrupt
    return meta


def final_loss(last: float, resumed_from: Path | None = None) -> float | None:
    """``run.json``'s ``final_loss``: the last step's loss; a resumed segment that trained no step (killed
    while writing the final weights) keeps the earlier segment's value; never NaN, which is not JSON."""
    if math.isfinite(last):
        return last
    if resumed_from is not None:
        with contextlib.suppress(OSError, ValueError):
            prev = json.loads((resumed_from / "run.json").read_text()).get("final_loss")
            if isinstance(prev, (int, float)) and math.isfinite(prev):
                return float(prev)
    return None


def _is_oom(e: BaseException) -> bool:
    return isinstance(e, (MemoryError, torch.OutOfMemoryError)) or (
        isinstance(e, RuntimeError) and "out of memory" in str(e).lower())


def _out_of_memory_error(e: BaseException, step: int, cfg: RunConfig, batch_size: int) -> UserError:
    where = "GPU" if isinstance(e, torch.OutOfMemoryError) or "cuda" in str(e).lower() else "host"
    return UserError(
        f"out of {where} memory at step {step} (batch size {batch_size}, encoder {cfg.encoder})",
        hint="start a new run with a smaller --batch-size, a smaller encoder (--set encoder_width=...) or "
        "--set precision=bf16-mixed; the checkpoints written so far are kept in the run directory",
    )


@contextlib.contextmanager
def _stop_on_sigterm(module: SelfSupModule):
    """SIGTERM (a scheduler's preemption) and the first Ctrl-C stop training at the next step
    boundary, after writing a checkpoint: the step in flight completes, so the checkpoint is an exact
    resume point (an interrupt raised inside a step would save the random draws of a step that never
    trained). A second Ctrl-C interrupts at once. Restores the previous SIGINT/SIGTERM handlers
    (Lightning leaves SIGINT ignored after an interrupt)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    old_int, old_term = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)

    def on_term(signum: int, frame: Any) -> None:
        module.stop_requested = True

    def on_int(signum: int, frame: Any) -> None:
        if module.stop_requested:  # asked twice: stop now
            signal.signal(signal.SIGINT, signal.default_int_handler)
            raise KeyboardInterrupt
        module.stop_requested = True
        print("\nstopping after this step (a checkpoint is written; Ctrl-C again to stop at once)",
              file=sys.stderr, flush=True)

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_int)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, old_int)
        signal.signal(signal.SIGTERM, old_term)


def _planned_world(train: TrainConfig) -> int:
    """The processes a run's data is sharded over, as Lightning will start them: a launcher's WORLD_SIZE
    (torchrun, SLURM), else ``devices`` x ``num_nodes`` ("auto" devices: every visible GPU when the run
    uses GPUs, else one process)."""
    env = os.environ.get("WORLD_SIZE", "").strip()
    if env.isdigit() and int(env) > 0:
        return int(env)
    devices = _devices(train.devices)
    gpus = train.accelerator in ("auto", "gpu", "cuda") and torch.cuda.is_available()
    if isinstance(devices, list):
        n = len(devices)
    elif isinstance(devices, int):
        n = torch.cuda.device_count() if devices == -1 and gpus else max(1, devices)
    else:  # "auto" (or a form Lightning parses itself)
        n = torch.cuda.device_count() if gpus else 1
    return max(1, n) * max(1, train.num_nodes)


def _stored_plan(run_dir: Path, samples: int, cfg: RunConfig) -> TrainingPlan | None:
    """The training plan of the run being resumed (None for a run written before plans were recorded:
    its config then holds the epochs and batch size it used). Checked against the data and the budget."""
    plan = _read_plan(run_dir)
    if plan is None:
        return None
    world = _planned_world(cfg.train)
    if samples // world != plan.samples:
        raise UserError(f"cannot resume {run_dir}: it trained on {plan.samples} samples per process, the data now "
                        f"gives {samples // world}", hint="resume with the same data, train_samples and devices, "
                        "or start a new run")
    if plan.stop_rule == "budget" and cfg.train.max_minutes <= 0:
        raise UserError(f"cannot resume {run_dir} without a budget: its stopping rule is its time budget "
                        "(it was started with --max-minutes and no --epochs)",
                        hint=f"keep the budget, or give a longer one: selfsup pretrain --resume {run_dir} "
                        "--set max_minutes=M")
    return plan


def _read_plan(run_dir: Path) -> TrainingPlan | None:
    """The training plan stored in a run's run.json (None: no run.json, or written before plans were recorded)."""
    path = run_dir / "run.json"
    if not path.is_file():
        return None
    try:
        stored = json.loads(path.read_text()).get("training_plan")
    except json.JSONDecodeError as e:
        raise UserError(f"{path} is corrupt: {e}") from None
    return TrainingPlan.from_dict(stored) if stored else None


def _launched_rank() -> int:
    """0 for the process that owns the run directory, nonzero for the others, read from what a launcher
    set before Lightning starts: torchrun's RANK or SLURM_PROCID (the rank itself), else Lightning's own
    subprocess launch of ranks 1..n-1 (LOCAL_RANK / NODE_RANK nonzero: 1). 0 when no launcher did."""
    for key in ("RANK", "SLURM_PROCID"):
        if os.environ.get(key, "").strip().isdigit():
            return int(os.environ[key])
    local = os.environ.get("LOCAL_RANK", "0").strip()
    node = os.environ.get("NODE_RANK", "0").strip()
    return int(local.isdigit() and int(local) != 0 or node.isdigit() and int(node) != 0)


def _devices(spec: str) -> Any:
    s = str(spec)
    if "," in s:
        return [int(v) for v in s.split(",") if v.strip()]
    try:
        return int(s)
    except ValueError:
        return s


def env_threads() -> int:
    return int(os.environ.get("SELFSUP_THREADS", "0"))
