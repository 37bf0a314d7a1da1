"""The pretraining corpus of a text run: documents of segments, the downstream test texts an
inductive run leaves out (:func:`pretraining_sources`), the row tensors of K consecutive segments
(:func:`make_text_data`), and the check of a run's corpus against a task's test split
(:func:`check_pretraining_corpus`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from selfsup.config import apply_overrides
from selfsup.errors import UserError


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
        tokenizer_file: a ``tokenizer.json`` (another run's) to use instead of training one; the
            vocabulary size is then the file's. Training a WordPiece/BPE vocabulary is not
            reproducible run to run (huggingface/tokenizers#1794: ties broken in hash-map order), so
            two runs meant to match to the bit share one tokenizer this way.
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
    tokenizer_file: str = ""


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
    if tokenizer is None and tcfg.tokenizer_file:
        path = Path(tcfg.tokenizer_file).expanduser()
        if not path.is_file():
            raise UserError(f"tokenizer_file {path} does not exist",
                            hint="give the tokenizer.json of a text run (RUN/tokenizer.json), or leave tokenizer_file "
                                 "empty to train one")
        tokenizer = TextTokenizer.load(path)
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
