"""Text runs (mlm, nsp, bert, utterance-order): pretrain, evaluate, embed, resume.

Pretraining: documents of segments from the corpus -> a WordPiece/BPE tokenizer trained on the
training documents -> rows of K consecutive segments (K=2 for mlm/nsp/bert, K utterances for
utterance-order) as an (N, K, S) id tensor -> the Lightning engine. A share of the documents
is held out, and the pretext scores on it (masked-token accuracy and perplexity, NSP accuracy,
order accuracy against chance) go into ``run.json``. ``tokenizer.json`` is saved in the run.
Inductive by default: the test texts of the downstream tasks defined on the corpus (or named by
``--set exclude_tasks=``) are left out before any of this, documents cut where they were
(:func:`pretraining_sources`); ``--transductive`` keeps the whole corpus, and run.json says which.

Evaluation (``--task fortunes|polarity|kjv-testament|kjv-book|csv:PATH``): fine-tune and
linear-probe the encoder on class-balanced label subsets, against the same Transformer trained
from scratch (``baselines.supervised``), its random init, bag-of-words logistic regression
(``baselines.bow``) and averaged word2vec vectors trained on the pretraining corpus
(``baselines.word2vec``). results.json says ``"transductive"``: whether the run's pretraining
corpus held test texts of the task (:func:`check_pretraining_corpus`).
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from selfsup.config import apply_overrides, to_dict
from selfsup.errors import UserError
from selfsup.pipelines.modality import Modality, register_modality
from selfsup.pipelines.requests import EvalRequest, PretrainRequest
from selfsup.pipelines.text_corpus import (
    TextDataConfig,
    corpus_note,
    make_text_data,
    run_text_config,
)
from selfsup.pipelines.text_eval import load_text_encoder, run_text_evaluation

PAIR_METHODS = ("mlm", "nsp", "bert")


# TransformerConfig fields the corpus and the method fix (the tokenizer's vocabulary, the row length)
FIXED_ENCODER_KEYS = ("vocab_size", "max_len", "segments", "pad_id")
TEXT_DEFAULTS = {"batch_size": 64, "epochs": 3}


def text_settings(spec: Any, data: str, overrides: dict[str, Any], preset: str | None,
                  transductive: bool = False) -> tuple[Any, TextDataConfig, Any]:
    """(engine configs, text data settings, Transformer settings before the corpus fixes
    :data:`FIXED_ENCODER_KEYS`) of a text run, through the one settings router. Sections in order:
    text, encoder, method, augment, optim, train; layers: :data:`TEXT_DEFAULTS`, the preset, ``overrides``."""
    from selfsup.encoders.transformer import TransformerConfig
    from selfsup.train.run import resolve_config

    ov = dict(overrides)
    for key in ov:
        name = key.removeprefix("encoder.")
        if name in FIXED_ENCODER_KEYS and (key.startswith("encoder.") or name != "vocab_size"):
            raise UserError(f"'{key}' of the text Transformer is fixed by the corpus and the method",
                            hint="set the tokenizer's vocabulary with --set vocab_size=N")
    if transductive:
        ov["text.transductive"] = True
    cfg, data_cfgs = resolve_config(spec.name, data, encoder="transformer", overrides=ov, preset=preset,
                                    data_sections={"text": TextDataConfig(), "encoder": TransformerConfig()},
                                    defaults=TEXT_DEFAULTS)
    return cfg, data_cfgs["text"], data_cfgs["encoder"]


@torch.no_grad()
def heldout_scores(method: torch.nn.Module, x: torch.Tensor, seed: int = 1234, batch_size: int = 256) -> dict[str, Any]:
    """Pretext scores on held-out rows (fixed masking/pairing/shuffling seed)."""
    if len(x) == 0 or not hasattr(method, "heldout_sums"):
        return {}
    was = method.training
    method.eval()
    dev = next(method.parameters()).device
    gen = torch.Generator(device=dev).manual_seed(seed)
    sums: dict[str, float] = {}
    for i in range(0, len(x), batch_size):
        for key, v in method.heldout_sums(x[i:i + batch_size].to(dev), gen).items():
            sums[key] = sums.get(key, 0.0) + v
    method.train(was)
    out: dict[str, Any] = {"rows": len(x)}
    if sums.get("mlm_count"):
        out["mlm_accuracy"] = sums["mlm_correct"] / sums["mlm_count"]
        out["mlm_perplexity"] = math.exp(sums["mlm_nll"] / sums["mlm_count"])
        out["mlm_masked_tokens"] = int(sums["mlm_count"])
    if sums.get("nsp_count"):
        out["nsp_accuracy"] = sums["nsp_correct"] / sums["nsp_count"]
        out["nsp_chance"] = 0.5
    if sums.get("order_count"):
        out["order_accuracy"] = sums["order_correct"] / sums["order_count"]
        out["order_chance"] = sums["order_majority"] / sums["order_count"]  # majority-class rate
        if "perm_correct" in sums:
            out["permutation_accuracy"] = sums["perm_correct"] / sums["order_count"]
    return out


def pretrain_text(req: PretrainRequest, spec: Any, overrides: dict[str, Any]) -> dict[str, Any]:
    if req.encoder not in (None, "small-cnn", "transformer"):
        raise UserError(f"text methods use the Transformer encoder, not '{req.encoder}'",
                        hint="drop --encoder; set its size with --set dim=... depth=...")
    cfg, tcfg, ecfg0 = text_settings(spec, req.data, overrides, req.preset, req.transductive)
    if tcfg.transductive and tcfg.exclude_tasks:
        raise UserError("--transductive pretrains on the whole corpus; it cannot also exclude tasks "
                        f"({', '.join(tcfg.exclude_tasks)})", hint="drop one of --transductive and exclude_tasks")
    k = cfg.method_cfg.utterances if spec.name == "utterance-order" else 2
    out = Path(req.out)
    if out.exists() and any(out.iterdir()):
        raise UserError(f"run directory {out} already exists and is not empty",
                        hint=f"choose another --out, or continue it with: selfsup pretrain --resume {out}")
    t0 = time.monotonic()
    td = make_text_data(req.data, spec.name, k, tcfg, cfg.train.seed, req.skip_bad_files)
    tok, x = td["tokenizer"], td["train"]
    print(f"{req.data}: {td['documents']} documents ({td['heldout_documents']} held out), "
          f"{len(x)} training rows of {k} x {tcfg.seg_tokens} tokens, vocabulary {tok.vocab_size}"
          f" ({time.monotonic() - t0:.1f} s)")
    print(corpus_note(td["corpus"]))
    ecfg = apply_overrides(ecfg0, {"vocab_size": tok.vocab_size, "max_len": 1 + k * (tcfg.seg_tokens + 1),
                                   "segments": max(2, k)})
    if cfg.train.batch_size > len(x):
        cfg.train.batch_size = max(2, len(x))
    return train_text(spec, cfg, out, td, tcfg, ecfg, k, resume=False, progress=req.progress)


def resume_text(req: PretrainRequest, meta: dict[str, Any]) -> dict[str, Any]:
    """``selfsup pretrain --resume RUN_DIR`` of a text run: the same rows (the run's tokenizer,
    corpus and seed) and the same Transformer, continued from the newest checkpoint."""
    from selfsup.data.tokenize import TextTokenizer
    from selfsup.encoders.transformer import TransformerConfig
    from selfsup.methods import get_method
    from selfsup.train.run import config_from_dict

    run_dir = Path(req.resume)
    text = meta.get("text")
    if not text:
        raise UserError(f"{run_dir} is not a text run (no 'text' section in run.json)")
    cfg = config_from_dict(meta["config"], req.changes)
    tcfg = run_text_config(meta)
    ecfg = TransformerConfig(**text["transformer"])
    k = int(text["utterances"])
    tok_path = run_dir / text["tokenizer"]
    if not tok_path.is_file():  # a tokenizer trained again could number the pieces differently
        raise UserError(f"cannot resume {run_dir}: its tokenizer ({tok_path.name}) is missing, and the checkpoints "
                        "only fit the token ids of that tokenizer", hint="restore the file, or start a new run")
    td = make_text_data(meta["dataset"], meta["method"], k, tcfg, cfg.train.seed,
                        req.skip_bad_files, tokenizer=TextTokenizer.load(tok_path))
    now, then = (len(td["train"]), td["tokenizer"].vocab_size), (int(text["rows"]), ecfg.vocab_size)
    if now != then:
        raise UserError(f"corpus '{meta['dataset']}' no longer gives the data {run_dir} was trained on "
                        f"({now[0]} rows, vocabulary {now[1]}; the run had {then[0]}, {then[1]})",
                        hint="restore the corpus as it was, or start a new run")
    print(f"resuming {meta['method']} in {run_dir}")
    return train_text(get_method(meta["method"]), cfg, run_dir, td, tcfg, ecfg, k, resume=True, progress=req.progress)


def train_text(spec: Any, cfg: Any, out: Path, td: dict[str, Any], tcfg: TextDataConfig, ecfg: Any, k: int, *,
               resume: bool, progress: bool) -> dict[str, Any]:
    """Build the method on ``td``'s rows and train it with the Lightning engine (``resume``: from
    the newest checkpoint in ``out``); then the tokenizer and the held-out pretext scores."""
    from selfsup.data.base import ArrayDataset
    from selfsup.encoders.transformer import TextTransformer
    from selfsup.methods.base import DataInfo
    from selfsup.train.checkpoint import atomic_write_text
    from selfsup.train.run import pretrain

    tok, x = td["tokenizer"], td["train"]
    torch.manual_seed(cfg.train.seed)
    method = spec.build(cfg.method_cfg, TextTransformer(ecfg), DataInfo(tuple(x.shape[1:]), num_samples=len(x)),
                        seed=cfg.train.seed)
    data = ArrayDataset(cfg.data, x, None, modality="text")
    text_meta = {"tokenizer": "tokenizer.json", "data": to_dict(tcfg), "transformer": to_dict(ecfg),
                 "rows": len(x), "utterances": k, "heldout_test_texts": td["corpus"]}
    # the tokenizer is written when the run starts: a resume rebuilds the same rows with it (training
    # a tokenizer again on the same corpus can number the pieces differently)
    # encoder_spec: what rebuilds encoder.safetensors without the text pipeline (TextTransformer(config))
    extra = {"text": text_meta, "transductive": bool(td["corpus"]["transductive"]),
             "encoder_spec": {"name": "transformer", "config": to_dict(ecfg)}}
    meta = pretrain(cfg, out, data=data, method=method, resume=resume, progress=progress, extra_meta=extra,
                    files={"tokenizer.json": tok.to_json()}, schedule_by_time=cfg.train.max_minutes > 0)
    meta["heldout"] = heldout_scores(method, td["heldout"])
    atomic_write_text(out / "run.json", json.dumps(meta, indent=2))
    h = meta["heldout"]
    summary = ", ".join(f"{key} {v:.4f}" for key, v in h.items() if isinstance(v, float))
    print(f"pretrained {spec.name} on {cfg.data}: {meta.get('steps')} steps, {meta.get('train_seconds')} s; "
          f"held-out {summary or '(none)'}")
    print(f"next: selfsup evaluate {out} --task fortunes|polarity|kjv-testament|csv:PATH")
    return meta


def evaluate_text(req: EvalRequest, meta: dict[str, Any]) -> dict[str, Any]:
    results = run_text_evaluation(Path(req.run_dir), meta, task=req.task, labels=req.labels, seeds=req.seeds,
                                  protocols=req.protocols, baselines=req.baselines, transductive=req.transductive)
    print((Path(req.run_dir) / "report.md").read_text())
    return results


def load_text_run_encoder(run_dir: Path, meta: dict[str, Any]) -> torch.nn.Module:
    return load_text_encoder(run_dir, meta)[0]


def embed_text(run_dir: Path, meta: dict[str, Any], inputs: Any, log: Any = print) -> np.ndarray:
    """(N, D) sentence representations of texts: a list of strings, or a text file (one text a line)."""
    from selfsup.eval.features import Featurizer

    if isinstance(inputs, (list, tuple)):
        texts = [str(t) for t in inputs]
    else:
        p = Path(str(inputs))
        if not p.is_file():
            raise UserError(f"text file {p} not found", hint="pass a file with one text a line (or, in Python, a list of strings)")
        texts = [t for t in p.read_text(encoding="utf-8", errors="replace").splitlines() if t.strip()]
    if not texts:
        raise UserError("no texts to embed")
    enc, tok = load_text_encoder(run_dir, meta)
    ids = tok.encode_for_classification(texts, enc.cfg.max_len)
    return Featurizer(enc, channels_last=False)(ids).numpy()


register_modality(Modality(
    "text", pretrain_text, evaluate_text, embed=embed_text, load_encoder=load_text_run_encoder, resume=resume_text,
    default_encoder="transformer", protocols=("linear", "finetune", "knn", "svm", "1nn", "fewshot", "cluster"),
    artifacts=("run.json", "config.yaml", "metrics.csv", "checkpoints/", "encoder.safetensors", "model.safetensors",
               "tokenizer.json", "word2vec.npz"),
    inputs="a text file (one text a line) or a list of strings"))
