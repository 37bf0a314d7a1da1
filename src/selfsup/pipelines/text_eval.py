"""Evaluation of a text run on a labeled task: linear probe and fine-tuning of the pretrained
Transformer against the same Transformer from scratch, its random init, bag-of-words logistic
regression and averaged word2vec vectors trained on the run's own pretraining corpus."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from selfsup.errors import UserError
from selfsup.eval.finetune import TextFinetuneConfig
from selfsup.pipelines.text_corpus import check_pretraining_corpus, run_documents


def load_text_encoder(run_dir: Path, meta: dict[str, Any]) -> tuple[torch.nn.Module, Any]:
    """The trained Transformer and tokenizer of a text run directory."""
    from selfsup.data.tokenize import TextTokenizer
    from selfsup.encoders.transformer import TextTransformer, TransformerConfig
    from selfsup.train.checkpoint import load_safetensors

    if "text" not in meta:
        raise UserError(f"{run_dir} is not a text run (no 'text' section in run.json)")
    enc = TextTransformer(TransformerConfig(**meta["text"]["transformer"]))
    try:
        enc.load_state_dict(load_safetensors(Path(run_dir) / "encoder.safetensors"))
    except RuntimeError as e:
        raise UserError(f"encoder.safetensors of {run_dir} does not match its run.json: {e}") from None
    return enc.eval(), TextTokenizer.load(Path(run_dir) / meta["text"]["tokenizer"])


def word2vec_lookup(run_dir: Path, meta: dict[str, Any], dim: int, seed: int = 0,
                    log=print, documents: list[list[str]] | None = None) -> tuple[Any, str]:
    """Word vectors trained on the run's pretraining corpus (cached in ``word2vec.npz``): the
    same documents the run pretrained on (``documents`` when already rebuilt), so an inductive run's
    baseline does not see the test texts either.

    Trained by selfsup's own word2vec engine. There is no fallback: an error of the engine stops
    the evaluation (a ``UserError``, such as a corpus too small for a vocabulary, names the
    baseline and how to leave it out; anything else is a bug and keeps its traceback)."""
    from selfsup.data.text import word_tokens
    from selfsup.word2vec import Word2Vec

    cache = Path(run_dir) / "word2vec.npz"
    if cache.is_file():
        z = np.load(cache, allow_pickle=False)
        words, vecs, engine = list(z["words"]), z["vectors"], str(z["engine"])
    else:
        docs = documents if documents is not None else run_documents(meta)[0]
        sents = [t for d in docs for s in d if (t := word_tokens(s))]
        t0 = time.monotonic()
        try:
            m = Word2Vec(sents, vector_size=dim, window=5, min_count=2, sg=1, negative=5, epochs=5, seed=seed,
                         workers=1)
        except UserError as e:
            raise UserError(f"the word2vec baseline cannot be trained on {meta['dataset']}: {e.message}",
                            hint="leave it out with --baselines bow,supervised,random_init") from e
        kv = m.wv
        words, vecs = list(kv.words), np.asarray(kv.vectors, dtype=np.float32)  # (V, dim)
        engine = "selfsup.word2vec (skip-gram, negative sampling)"
        log(f"word2vec baseline: {len(words)} words in {time.monotonic() - t0:.1f} s ({engine})")
        np.savez(cache, words=np.array(words), vectors=vecs, engine=np.array(engine))
    index = {w: i for i, w in enumerate(words)}
    return (lambda w: vecs[index[w]] if w in index else None), engine


_FT = TextFinetuneConfig()

# sentence features of the Transformer are per-sample with labels: every fixed-feature protocol, and fine-tuning
TEXT_PROTOCOLS = ("linear", "finetune", "knn", "svm", "1nn", "fewshot", "cluster")


@dataclass
class TextEvalConfig:
    """Settings of the text evaluation (the label protocol and the fine-tuning recipe).

    The fine-tuning recipe (:class:`selfsup.eval.finetune.TextFinetuneConfig`, the text preset of
    the one recipe that image fine-tuning uses too) is the same for the
    pretrained encoder (``protocols.finetune``) and the Transformer from scratch
    (``baselines.supervised``): ``finetune_steps`` (0 = ``finetune_epochs`` passes over the fit
    part of the labeled subset, at least ``finetune_min_steps``), AdamW, the encoder lr picked
    from ``lr_grid`` and the checkpoint picked on ``val_fraction`` of the labeled subset."""

    labels: tuple[str, ...] = ("10%", "100%")
    seeds: tuple[int, ...] = (0, 1, 2)
    protocols: tuple[str, ...] = ("linear", "finetune")
    baselines: tuple[str, ...] = ("bow", "supervised", "word2vec", "random_init")
    # the recipe's defaults live once, in TextFinetuneConfig; these flat names are the CLI/--set keys
    finetune_steps: int = _FT.steps
    finetune_epochs: float = _FT.epochs
    finetune_min_steps: int = _FT.min_steps
    finetune_batch_size: int = _FT.batch_size
    lr_grid: tuple[float, ...] = _FT.lr_grid
    lr_head: float = _FT.lr_head
    weight_decay: float = _FT.weight_decay
    val_fraction: float = _FT.val_fraction

    def finetune_config(self) -> Any:
        return TextFinetuneConfig(epochs=self.finetune_epochs, min_steps=self.finetune_min_steps,
                                  steps=self.finetune_steps, batch_size=self.finetune_batch_size,
                                  lr_grid=tuple(self.lr_grid), lr_head=self.lr_head, weight_decay=self.weight_decay,
                                  val_fraction=self.val_fraction)


def run_text_evaluation(run_dir: Path, meta: dict[str, Any], task: str | None, labels: Any = None,
                        seeds: Any = None, protocols: Any = None, baselines: Any = None,
                        ecfg: TextEvalConfig | None = None, log=print, transductive: bool = False) -> dict[str, Any]:
    """Evaluate a text run on ``task``; writes results.json, report.md, accuracy_vs_labels.png.

    First :func:`check_pretraining_corpus`: results.json says ``"transductive": true`` when the run's
    pretraining corpus held test texts of the task (a ``--transductive`` run); an inductive run whose
    corpus holds them is refused unless ``transductive`` (``evaluate --transductive``) accepts that."""
    from selfsup.data.base import ArrayDataset
    from selfsup.data.text_tasks import TASKS, load_text_task
    from selfsup.eval.features import Featurizer
    from selfsup.eval.harness import EvalConfig, evaluate, protocols_on_features
    from selfsup.eval.report import plot_accuracy_vs_labels, write_results
    from selfsup.eval.finetune import finetune_or_scratch
    from selfsup.eval.text import average_word_vectors, bow_protocol

    if not task:
        raise UserError("text runs are evaluated on a labeled task: pass --task", hint=f"one of {', '.join(TASKS)}")
    e = ecfg or TextEvalConfig()
    from selfsup.pipelines.requests import as_tuple as csv
    if labels:
        e.labels = csv(labels)
    if seeds:
        e.seeds = tuple(int(s) for s in csv(seeds))
    if protocols:
        e.protocols = csv(protocols)
        from selfsup.eval.protocols import check_protocols

        check_protocols(e.protocols, TEXT_PROTOCOLS, "text runs")
    if baselines is not None:
        e.baselines = tuple(b for b in csv(baselines) if b != "none")
        bad = [b for b in e.baselines if b not in ("bow", "supervised", "word2vec", "random_init")]
        if bad:
            raise UserError(f"unknown text baseline(s) {bad}", hint="choose from bow, supervised, word2vec, random_init")
    t0 = time.monotonic()
    tt = load_text_task(task)
    log(tt.summary())
    corpus_check, run_docs = check_pretraining_corpus(meta, tt, allow_transductive=transductive)
    log(f"pretraining corpus: {'TRANSDUCTIVE' if corpus_check['transductive'] else 'inductive'} on {tt.name} "
        f"({corpus_check['checked']}; {corpus_check.get('test_texts_in_corpus', '?')} of its "
        f"{len(tt.test_texts)} test texts in it)")
    enc, tok = load_text_encoder(run_dir, meta)
    max_len = enc.cfg.max_len
    xtr = tok.encode_for_classification(tt.train_texts, max_len)
    xte = tok.encode_for_classification(tt.test_texts, max_len)
    ytr, yte = torch.from_numpy(tt.y_train), torch.from_numpy(tt.y_test)
    data = ArrayDataset(tt.name, xtr, ytr, xte, yte, classes=tt.classes, modality="text")
    # frozen protocols and the random-init baseline through the harness; fine-tuning and the scratch
    # baseline through one shared recipe (same steps, optimiser, lr grid and validation split)
    harness_base = tuple(b for b in e.baselines if b == "random_init")
    cfg = EvalConfig(protocols=tuple(p for p in e.protocols if p != "finetune"), labels=e.labels, seeds=e.seeds,
                     baselines=harness_base, knn_k=20)
    res = evaluate(Featurizer(enc, channels_last=False), data, cfg, log=log)
    ftc = e.finetune_config()
    if "finetune" in e.protocols:
        res["protocols"]["finetune"] = finetune_or_scratch(enc, xtr, ytr, xte, yte, len(tt.classes), e.labels,
                                                           e.seeds, ftc, reinit=False, log=log)
    base = res["baselines"]
    if "supervised" in e.baselines:
        log("baseline supervised from scratch (the same fine-tuning recipe):")
        base["supervised"] = {"finetune": finetune_or_scratch(enc, xtr, ytr, xte, yte, len(tt.classes), e.labels,
                                                              e.seeds, ftc, reinit=True, log=log)}
    if "bow" in e.baselines:
        log("baseline bag-of-words logistic regression:")
        base["bow"] = {"linear": bow_protocol(tt.train_texts, tt.y_train, tt.test_texts, tt.y_test, e.labels, e.seeds,
                                              log)}
    if "word2vec" in e.baselines:
        dim = int(meta["text"]["data"].get("w2v_dim", 100))
        lookup, engine = word2vec_lookup(run_dir, meta, dim, log=log, documents=run_docs)
        log("baseline averaged word2vec vectors:")
        ftr, fte = average_word_vectors(tt.train_texts, lookup, dim), average_word_vectors(tt.test_texts, lookup, dim)
        frozen = EvalConfig(protocols=("linear",), labels=e.labels, seeds=e.seeds)
        base["word2vec"] = protocols_on_features(ftr, ytr, fte, yte, frozen, len(tt.classes), log)
        base["word2vec"]["engine"] = engine
    results = {
        "method": meta["method"], "dataset": meta["dataset"], "task": tt.name, "encoder": meta.get("encoder"),
        "transductive": bool(corpus_check["transductive"]), "pretraining_corpus": corpus_check,
        "epochs": meta.get("epochs"), "steps": meta.get("steps"), "train_seconds": meta.get("train_seconds"),
        "heldout": meta.get("heldout", {}), "classes": len(tt.classes),
        "train_size": len(tt.train_texts), "test_size": len(tt.test_texts),
        "protocols": res["protocols"], "baselines": base,
        "settings": {**asdict(e), "max_len": max_len},
        "eval_seconds": round(time.monotonic() - t0, 1),
    }
    if "word2vec" in base:  # keep the protocol table free of the engine string
        results["settings"]["word2vec_engine"] = base["word2vec"].pop("engine")
    write_results(run_dir, results)
    _note_in_report(run_dir, corpus_check)
    plot_accuracy_vs_labels(results, run_dir / "accuracy_vs_labels.png")
    return results


def _note_in_report(run_dir: Path, check: dict[str, Any]) -> None:
    """Say in report.md whether the pretraining saw the task's test texts."""
    from selfsup.train.checkpoint import atomic_write_text

    path = Path(run_dir) / "report.md"
    lines = path.read_text().split("\n")
    found = check.get("test_texts_in_corpus")
    if check["transductive"]:
        note = (f"**Transductive**: the pretraining corpus held {found if found is not None else 'an unknown share'} of "
                f"the {check['task_test_texts']} test texts of {check['task']} (the fine-tuning from scratch and "
                "bag-of-words arms saw none of them).")
    else:
        note = (f"Inductive: the pretraining corpus held none of the {check['task_test_texts']} test texts of "
                f"{check['task']} ({check['checked']}).")
    at = min(len(lines), 2)
    atomic_write_text(path, "\n".join(lines[:at] + [note, ""] + lines[at:]))
