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
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from selfsup.config import apply_overrides, to_dict
from selfsup.errors import UserError
from selfsup.eval.text import TextFinetuneConfig
from selfsup.pipelines.modality import Modality, register_modality
from selfsup.pipelines.requests import EvalRequest, PretrainRequest

PAIR_METHODS = ("mlm", "nsp", "bert")


@dataclass
class TextDataConfig:
    """Run-level text settings (``--set key=value``).

    Attributes:
        tokenizer: "wordpiece" or "bpe".
        vocab_size: tokenizer vocabulary size.
        seg_tokens: S, subword tokens kept per segment (sentence, verse, utterance).
        seg_words: long lines of plain corpora are cut into segments of this many words.
        heldout_fraction: share of documents held out for the pretext scores.
        max_rows: cap on training rows (0 = all), drawn at random.
        w2v_dim: size of the word2vec baseline's vectors.
        transductive: pretrain on the whole corpus, the test texts of downstream tasks included
            (``--transductive``; run.json and every results.json then say so). Default: inductive,
            the test texts of ``exclude_tasks`` are left out of the corpus.
        exclude_tasks: tasks whose test texts are left out (e.g. ``kjv-testament``,
            ``csv:PATH``); empty = the built-in tasks defined on the corpus
            (:data:`selfsup.data.text_tasks.CORPUS_TASKS`: fortunes -> fortunes, kjv ->
            kjv-testament and kjv-book, polarity -> polarity; none for other corpora).
    """

    tokenizer: str = "wordpiece"
    vocab_size: int = 8000
    seg_tokens: int = 30
    seg_words: int = 24
    heldout_fraction: float = 0.05
    max_rows: int = 0
    w2v_dim: int = 100
    transductive: bool = False
    exclude_tasks: tuple[str, ...] = ()


def _split_overrides(overrides: dict[str, Any]) -> tuple[dict, dict, dict]:
    from selfsup.encoders.transformer import TransformerConfig

    text_keys = set(TextDataConfig.__dataclass_fields__)
    enc_keys = set(TransformerConfig.__dataclass_fields__) - {"vocab_size", "max_len", "segments", "pad_id"}
    t, e, rest = {}, {}, {}
    for k, v in overrides.items():
        (t if k in text_keys else e if k in enc_keys else rest)[k] = v
    return t, e, rest


def _check_keys(rest: dict[str, Any], spec: Any) -> None:
    """Unknown keys: name the closest valid one among every section, the text ones included."""
    from selfsup.augment import ImageAugConfig
    from selfsup.config import valid_keys
    from selfsup.encoders.transformer import TransformerConfig
    from selfsup.errors import closest
    from selfsup.train.config import TrainConfig
    from selfsup.train.optim import OptimConfig

    keys = set(valid_keys(spec.config_cls(), ImageAugConfig(), OptimConfig(), TrainConfig()))
    keys |= set(TextDataConfig.__dataclass_fields__) | set(TransformerConfig.__dataclass_fields__)
    for k in rest:
        if k not in keys:
            guess = closest(k, keys)
            raise UserError(f"unknown config key '{k}'", hint=f"did you mean '{guess}'?" if guess else None)


def build_rows(docs: list[list[str]], k: int, method: str) -> list[tuple[int, ...]]:
    """Indices (into the flat segment list) of K consecutive segments of one document.

    mlm also keeps single-segment documents (paired with an empty segment, index -1)."""
    rows, base = [], 0
    for d in docs:
        n = len(d)
        if n >= k:
            rows += [tuple(base + i + j for j in range(k)) for i in range(n - k + 1)]
        elif method == "mlm" and n == 1 and k == 2:
            rows.append((base, -1))
        base += n
    return rows


def rows_tensor(seg_ids: torch.Tensor, rows: list[tuple[int, ...]]) -> torch.Tensor:
    """(N, K, S) ids; index -1 is an empty (all-padding) segment."""
    padded = torch.cat([seg_ids, torch.zeros_like(seg_ids[:1])])  # row -1 -> zeros
    idx = torch.tensor(rows, dtype=torch.long)
    idx[idx < 0] = len(seg_ids)
    return padded[idx]


def excluded_texts(corpus: str, tcfg: TextDataConfig) -> Any:
    """The :class:`~selfsup.data.text_tasks.HeldOutTexts` an inductive run leaves out of
    ``corpus`` (``tcfg.exclude_tasks``, else the tasks defined on the corpus), None when transductive."""
    from selfsup.data.text_tasks import HeldOutTexts, corpus_tasks

    if tcfg.transductive:
        return None
    return HeldOutTexts.of_tasks(tcfg.exclude_tasks or corpus_tasks(corpus))


def pretraining_sources(corpus: str, tcfg: TextDataConfig, skip_bad_files: bool = False,
                        held: Any = None, probe: Any = None) -> tuple[list[list[list[str]]], dict[str, Any]]:
    """The source documents (as pieces of segments) that a run pretrains on, and a record of what
    was left out.

    Inductive (``held`` given): every segment (a line of a plain corpus) that is a test text of
    a held-out task is left out, wherever it occurs, and ends its piece, so no row of consecutive
    segments runs across a removed text. The document is kept, not dropped: a KJV chapter or a
    fortune file holds test texts almost always, and dropping them would leave nearly nothing.
    What stays grouped is the source's own structure over the remaining texts (chapters, fortune
    files), which for fortunes is the category: pretraining may learn that two *training* texts
    share a file, never anything about a test text. ``probe``: tasks whose test texts are counted
    among the segments that stay (``record["test_texts_in_corpus"]``), not removed."""
    from selfsup.data.text_tasks import load_sources

    matched: set[str] = set()
    probed: set[str] = set()
    removed = 0

    def drop(unit: str) -> bool:
        nonlocal removed
        if held is not None and (key := held.match(unit)) is not None:
            matched.add(key)
            removed += 1
            return True
        if probe is not None and (key := probe.match(unit)) is not None:
            probed.add(key)
        return False

    sources = load_sources(corpus, tcfg.seg_words, skip_bad_files, drop)
    sources = [[q for p in src if (q := [s for s in p if s.strip()])] for src in sources]
    sources = [src for src in sources if src]
    if held is not None:
        record: dict[str, Any] = {
            "transductive": False, "excluded_tasks": list(held.tasks), "test_texts": dict(held.test_texts),
            "digests": dict(held.digests), "removed_segments": removed,
            "test_texts_found": {t: held.found(matched, task) for t, task in held.loaded.items()},
            "documents": len(sources), "pieces": sum(len(src) for src in sources),
            "rule": "every segment equal to a test text of an excluded task (up to case, whitespace or punctuation) "
                    "is left out wherever it occurs, and ends its piece of the document; rows of consecutive "
                    "segments are formed within pieces"}
    else:
        record = {"transductive": True, "excluded_tasks": [], "documents": len(sources),
                  "rule": "the whole corpus: test texts of downstream tasks in it are pretrained on"}
    if probe is not None and probe.tasks:
        record["test_texts_in_corpus"] = {t: probe.found(probed, task) for t, task in probe.loaded.items()}
    return sources, record


def make_text_data(corpus: str, method: str, k: int, tcfg: TextDataConfig, seed: int,
                   skip_bad_files: bool = False, tokenizer: Any = None) -> dict[str, Any]:
    """Tokenizer + train/held-out row tensors of ``corpus`` for ``method``.

    Inductive by default: the test texts of the downstream tasks (``tcfg.exclude_tasks``, else the
    tasks defined on the corpus) are left out first (:func:`pretraining_sources`); the tokenizer,
    the rows and the pretext held-out documents are made from what remains. ``td["corpus"]``
    records what was left out; ``td["train_docs"]`` / ``td["heldout_docs"]`` are the documents (pieces)
    the rows were made of. ``tokenizer``: an already trained one (a resumed run's), else one is
    trained on the training documents. The document split and the row sample depend on ``seed`` only."""
    from selfsup.data.text_tasks import HeldOutTexts, corpus_tasks
    from selfsup.data.tokenize import TextTokenizer

    held = excluded_texts(corpus, tcfg)
    probe = HeldOutTexts.of_tasks(corpus_tasks(corpus)) if held is None else None
    sources, record = pretraining_sources(corpus, tcfg, skip_bad_files, held, probe)
    if not sources:
        raise UserError(f"corpus '{corpus}' has no text" + (" once the test texts of "
                        f"{', '.join(held.tasks)} are left out" if held is not None and held.tasks else ""))
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(sources))  # the pretext held-out split is over whole source documents
    n_held = int(round(tcfg.heldout_fraction * len(sources))) if len(sources) > 1 else 0
    if tcfg.heldout_fraction > 0 and len(sources) > 1:
        n_held = max(1, n_held)
    held_docs = [p for i in sorted(order[:n_held]) for p in sources[i]]
    train_docs = [p for i in sorted(order[n_held:]) for p in sources[i]]
    tok = tokenizer or TextTokenizer.train((s for d in train_docs for s in d), tcfg.vocab_size, tcfg.tokenizer)
    out: dict[str, Any] = {"tokenizer": tok, "documents": len(sources), "heldout_documents": n_held,
                           "corpus": record, "train_docs": train_docs, "heldout_docs": held_docs}
    for name, ds in (("train", train_docs), ("heldout", held_docs)):
        rows = build_rows(ds, k, method)
        flat = [s for d in ds for s in d]
        if not rows:
            out[name] = torch.zeros(0, k, tcfg.seg_tokens, dtype=torch.long)
            continue
        out[name] = rows_tensor(tok.encode(flat, tcfg.seg_tokens), rows)
    if len(out["train"]) == 0:
        need = f"documents with at least {k} segments" + (" (dialogues with >= K utterances)" if k > 2 else "")
        raise UserError(f"corpus '{corpus}' yields no training rows for {method}: it needs {need}",
                        hint="use a corpus with consecutive sentences (one sentence a line in text:PATH)")
    if tcfg.max_rows and len(out["train"]) > tcfg.max_rows:
        keep = torch.from_numpy(np.sort(rng.choice(len(out["train"]), tcfg.max_rows, replace=False)))
        out["train"] = out["train"][keep]
    return out


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
    from selfsup.encoders.transformer import TransformerConfig
    from selfsup.train.run import resolve_config

    t_over, e_over, rest = _split_overrides(overrides)
    _check_keys(rest, spec)
    if req.transductive:
        t_over["transductive"] = True
    tcfg = apply_overrides(TextDataConfig(), t_over)
    if tcfg.transductive and tcfg.exclude_tasks:
        raise UserError("--transductive pretrains on the whole corpus; it cannot also exclude tasks "
                        f"({', '.join(tcfg.exclude_tasks)})", hint="drop one of --transductive and exclude_tasks")
    rest = {"batch_size": 64, "epochs": 3, **rest}
    if req.encoder not in (None, "small-cnn", "transformer"):
        raise UserError(f"text methods use the Transformer encoder, not '{req.encoder}'",
                        hint="drop --encoder; set its size with --set dim=... depth=...")
    cfg = resolve_config(spec.name, req.data, encoder="transformer", overrides=rest, preset=req.preset)
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
    ecfg = apply_overrides(TransformerConfig(vocab_size=tok.vocab_size, max_len=1 + k * (tcfg.seg_tokens + 1),
                                             segments=max(2, k)), e_over)
    if cfg.train.batch_size > len(x):
        cfg.train.batch_size = max(2, len(x))
    return train_text(spec, cfg, out, td, tcfg, ecfg, k, resume=False, progress=req.progress)


def corpus_note(record: dict[str, Any]) -> str:
    """One line on what a run's pretraining corpus left out (or that it is transductive)."""
    if record.get("transductive"):
        inside = record.get("test_texts_in_corpus") or {}
        held = "; ".join(f"{n} test texts of {t}" for t, n in inside.items())
        return ("transductive: pretrained on the whole corpus" + (f", which holds {held}" if held else "")
                + " (results on those tasks are marked transductive)")
    tasks = record.get("excluded_tasks") or []
    if not tasks:
        return "inductive: no downstream task is defined on this corpus, nothing left out (evaluate checks the task's test texts)"
    found = record.get("test_texts_found", {})
    parts = ", ".join(f"{t} {found.get(t, '?')}/{record['test_texts'].get(t, '?')}" for t in tasks)
    return (f"inductive: left out the test texts of {parts} (found/all), {record['removed_segments']} segments in all; "
            f"{record['pieces']} pieces of {record['documents']} documents remain (pass --transductive to keep them)")


def run_text_config(meta: dict[str, Any]) -> TextDataConfig:
    """A run's text settings; runs from before ``transductive`` existed pretrained on the whole corpus."""
    data = dict(meta["text"]["data"])
    data.setdefault("transductive", True)
    return apply_overrides(TextDataConfig(), data)


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
                        None, cfg.train.seed)
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


def run_held_out(meta: dict[str, Any]) -> Any:
    """What the run left out of its corpus, rebuilt from run.json (None: the whole corpus)."""
    from selfsup.data.text_tasks import HeldOutTexts

    tcfg = run_text_config(meta)
    rec = meta["text"].get("heldout_test_texts")
    if tcfg.transductive or rec is None:
        return None
    return HeldOutTexts.of_tasks(rec.get("excluded_tasks", []))


def run_documents(meta: dict[str, Any], held: Any = None, probe: Any = None) -> tuple[list[list[str]], dict[str, Any]]:
    """The documents (pieces) a text run pretrained on, and the record of :func:`pretraining_sources`.

    ``held``: the run's :func:`run_held_out` when already loaded."""
    held = run_held_out(meta) if held is None else held
    sources, record = pretraining_sources(meta["dataset"], run_text_config(meta), held=held, probe=probe)
    return [p for src in sources for p in src], record


def check_pretraining_corpus(meta: dict[str, Any], tt: Any, allow_transductive: bool = False
                             ) -> tuple[dict[str, Any], list[list[str]] | None]:
    """Did the run's pretraining see the test texts of ``tt``? The ``pretraining_corpus`` record of
    results.json (its ``transductive`` is the answer) and the run's documents when they were rebuilt.

    An inductive run that left out ``tt``'s test split (the same digest as now) is inductive on it.
    Otherwise the run's corpus is rebuilt as it was trained on and searched for the test texts: none
    found -> inductive; found in a transductive run (``--transductive``, or a run from before test
    texts were left out) -> transductive; found in an inductive run (a task it did not exclude) ->
    a ``UserError``, unless ``allow_transductive`` (``evaluate --transductive``) accepts a transductive result."""
    from selfsup.data.text_tasks import HeldOutTexts, test_split_digest

    rec = meta["text"].get("heldout_test_texts")
    run_trans = run_text_config(meta).transductive
    digest = test_split_digest(tt)
    out: dict[str, Any] = {"run_transductive": run_trans, "excluded_tasks": list((rec or {}).get("excluded_tasks", [])),
                           "task": tt.name, "task_test_texts": len(tt.test_texts), "task_digest": digest}
    if rec is None:
        out["note"] = "run.json records no left-out test texts (a run from before they were left out): whole corpus"
    redo = f"pretrain again (inductive is the default; --set exclude_tasks={tt.name} names the task)"
    held = None
    if not run_trans:
        held = run_held_out(meta)
        changed = [t for t in held.tasks if held.digests[t] != rec.get("digests", {}).get(t)]
        if changed:
            msg = (f"the test split of {', '.join(changed)} is not the one this run left out of its corpus "
                   "(the task's data changed since pretraining), so what the run saw cannot be checked")
            if not allow_transductive:
                raise UserError(msg, hint=f"{redo}, or pass --transductive to evaluate to report a transductive result")
            return {**out, "transductive": True, "checked": msg, "accepted_by": "--transductive"}, None
        if tt.name in held.tasks:
            return {**out, "transductive": False, "test_texts_in_corpus": 0,
                    "checked": "the run left out this task's test split (same digest)"}, None
    docs, crec = run_documents(meta, held, HeldOutTexts.of([tt]))
    found = crec["test_texts_in_corpus"][tt.name]
    out.update(test_texts_in_corpus=found, transductive=found > 0,
               checked="the run's pretraining corpus, rebuilt, searched for the task's test texts")
    if found and not run_trans:
        msg = (f"the pretraining corpus of this run ({meta['dataset']}) holds {found} of the {len(tt.test_texts)} test "
               f"texts of {tt.name}: a score on it would be transductive")
        if not allow_transductive:
            raise UserError(msg, hint=f"{redo}, or pass --transductive to evaluate to report a transductive result")
        out["accepted_by"] = "--transductive"
    return out, docs


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


_FT = TextFinetuneConfig()


@dataclass
class TextEvalConfig:
    """Settings of the text evaluation (the label protocol and the fine-tuning recipe).

    The fine-tuning recipe (:class:`selfsup.eval.text.TextFinetuneConfig`) is the same for the
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
    from selfsup.eval.text import average_word_vectors, bow_protocol, finetune_or_scratch

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
        bad = [p for p in e.protocols if p not in ("linear", "finetune", "knn")]
        if bad:
            raise UserError(f"text runs support the protocols linear, finetune, knn; got {bad}")
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


register_modality(Modality(
    "text", pretrain_text, evaluate_text, embed=embed_text, load_encoder=load_text_run_encoder, resume=resume_text,
    default_encoder="transformer", protocols=("linear", "finetune", "knn"),
    artifacts=("run.json", "config.yaml", "metrics.csv", "checkpoints/", "encoder.safetensors", "model.safetensors",
               "tokenizer.json", "word2vec.npz"),
    inputs="a text file (one text a line) or a list of strings"))
