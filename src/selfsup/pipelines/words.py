"""word2vec runs (modality "words") and DeepWalk / node2vec runs
(modality "graph-walks").

word2vec run directory: ``run.json`` (config, corpus and vocabulary sizes, timings, words/s)
and ``vectors.txt`` (word2vec text format, loadable by gensim's ``KeyedVectors``).
``evaluate`` writes ``results.json`` with ``protocols.wordsim353`` / ``protocols.simlex999``
(``spearman``, ``oov``, ...), ``protocols.analogy`` (``accuracy``, ``oov``, per section) and
the nearest neighbours of a few probe words; ``embed`` writes the vectors of a word list.

DeepWalk run directory: ``run.json`` and ``embeddings.pt`` (node vectors ``z`` with labels and
split masks); ``evaluate`` runs the node protocols of :mod:`selfsup.eval.graph` (linear probe
on the public split, ``protocols.linear.public``; ``--labels 1%,10%`` adds the low-label
protocol), on the embeddings and on the raw node features.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from selfsup.config import preset_of, route_settings
from selfsup.errors import UserError
from selfsup.pipelines.modality import (
    NEW_RUN_HINT,
    Modality,
    refuse_resume,
    register_modality,
)
from selfsup.pipelines.requests import EvalRequest, PretrainRequest
from selfsup.runfiles import atomic_write_text

PROBE_WORDS = ("king", "france", "computer", "war", "music", "water", "god", "three")


def _config(spec: Any, req: PretrainRequest, overrides: dict[str, Any]) -> Any:
    ov = dict(overrides)
    for key, flag in (("batch_size", "--batch-size"), ("max_minutes", "--max-minutes")):
        if ov.get(key) is not None:
            raise UserError(f"{spec.name} does not take {flag}: it trains by passes over the corpus",
                            hint="set the passes with --epochs N or --set epochs=N")
        ov.pop(key, None)
    if "epochs" in ov:
        e = float(ov["epochs"])
        if e != int(e) or e < 1:
            raise UserError(f"--epochs must be a whole number >= 1 for {spec.name}, got {ov['epochs']}")
        ov["epochs"] = int(e)
    return route_settings({"method": spec.config_cls()}, preset_of(spec, req.preset), ov)["method"]


# ------------------------------------------------------------------------------------ words
def pretrain_words(req: PretrainRequest, spec: Any, overrides: dict[str, Any]) -> dict[str, Any]:
    from selfsup.data.text import load_text_corpus
    from selfsup.word2vec import Word2Vec

    cfg = _config(spec, req, overrides)
    corpus = load_text_corpus(req.data, skip_bad_files=req.skip_bad_files)
    out = Path(req.out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    sentences = list(corpus)
    read_s = time.perf_counter() - t0
    model = Word2Vec(None, **cfg.model_kwargs())
    model.build_vocab(sentences)
    encoded = model.encode(sentences)
    raw = encoded[2]
    print(f"{req.data}: {len(sentences)} lines, {raw} tokens; vocabulary {len(model.vocab)} words "
          f"(min_count={cfg.min_count}); training {'skip-gram' if cfg.sg else 'CBOW'} for {cfg.epochs} epochs "
          f"on {cfg.workers} threads")
    stats = model.train(encoded=encoded,
                        callback=lambda e: print(f"  epoch {e + 1}/{cfg.epochs}", flush=True)
                        if req.progress else None)
    model.wv.save_word2vec_format(out / "vectors.txt")
    meta = {"method": spec.name, "dataset": req.data, "modality": "words", "status": "finished", "config": asdict(cfg),
            "corpus_lines": len(sentences), "corpus_tokens": int(raw), "vocab_size": len(model.vocab),
            "read_seconds": round(read_s, 3), "vocab_seconds": round(stats.vocab_seconds, 3),
            "encode_seconds": round(stats.encode_seconds, 3), "train_seconds": round(stats.train_seconds, 3),
            "epochs": cfg.epochs, "words_per_second": round(stats.words_per_second, 1),
            "effective_words": int(stats.effective_words), "vectors": "vectors.txt"}
    atomic_write_text(out / "run.json", json.dumps(meta, indent=2))
    print(f"trained in {stats.train_seconds:.1f} s ({stats.words_per_second:,.0f} words/s); wrote {out}/vectors.txt")
    print(f"next: selfsup evaluate {out}")
    return meta


def load_run_vectors(run_dir: Path) -> Any:
    from selfsup.word2vec import KeyedVectors

    path = Path(run_dir) / "vectors.txt"
    if not path.is_file():
        raise UserError(f"{run_dir} has no vectors.txt (the word2vec run did not finish)",
                        hint="run selfsup pretrain word2vec again")
    return KeyedVectors.load_word2vec_format(path, binary=False)


def _protocol_paths(spec: tuple[str, ...] | None) -> tuple[tuple[str, ...], dict[str, str]]:
    """``--protocols wordsim353,simlex999=/path/file,analogy`` -> (names, user paths)."""
    from selfsup.eval.wordsim import BENCHMARK_FILES

    if not spec:
        return tuple(BENCHMARK_FILES), {}
    names, paths = [], {}
    for item in spec:
        name, _, path = item.partition("=")
        names.append(name)
        if path:
            paths[name] = path
    return tuple(names), paths


def _word_report(results: dict[str, Any]) -> str:
    p = results["protocols"]
    lines = [f"# {results['method']} on {results['dataset']}", "",
             f"{results.get('vocab_size')} words, {results.get('epochs')} epochs, "
             f"{results.get('train_seconds')} s of training.", "",
             "| protocol | score | evaluated | out of vocabulary |", "|---|---|---|---|"]
    for name, r in p.items():
        key = "accuracy" if name == "analogy" else "spearman"
        lines.append(f"| {name} ({key}) | {r[key]:.4f} | {r['evaluated']} | {r['oov']} |")
    if "analogy" in p:
        lines += ["", "## analogy sections", "", "| section | accuracy | evaluated | oov |", "|---|---|---|---|"]
        for name, r in p["analogy"]["sections"].items():
            lines.append(f"| {name} | {r['accuracy']:.4f} | {r['evaluated']} | {r['oov']} |")
    if results.get("neighbours"):
        lines += ["", "## nearest neighbours", ""]
        for w, nn in results["neighbours"].items():
            lines.append(f"- **{w}**: " + ", ".join(f"{v} ({s:.2f})" for v, s in nn))
    return "\n".join(lines) + "\n"


def evaluate_words(req: EvalRequest, meta: dict[str, Any]) -> dict[str, Any]:
    from selfsup.eval.wordsim import nearest_neighbours, word_protocols

    run = Path(req.run_dir)
    kv = load_run_vectors(run)
    names, paths = _protocol_paths(req.protocols)
    t0 = time.perf_counter()
    protocols = word_protocols(kv, names, paths)
    neighbours = {w: [(v, round(s, 4)) for v, s in nearest_neighbours(kv, w, 8)] for w in PROBE_WORDS if w in kv}
    results = {"method": meta["method"], "dataset": meta["dataset"], "vocab_size": len(kv),
               "epochs": meta.get("epochs"), "train_seconds": meta.get("train_seconds"),
               "words_per_second": meta.get("words_per_second"), "protocols": protocols,
               "neighbours": neighbours, "eval_seconds": round(time.perf_counter() - t0, 2)}
    atomic_write_text(run / "results.json", json.dumps(results, indent=2))
    atomic_write_text(run / "report.md", _word_report(results))
    for name, r in protocols.items():
        key = "accuracy" if name == "analogy" else "spearman"
        print(f"{name:<11} {key} {r[key]:.4f}  ({r['evaluated']} evaluated, {r['oov']} out of vocabulary)")
    print(f"wrote {run}/results.json, report.md")
    return results


def embed_words(run_dir: Path, meta: dict[str, Any], inputs: Any, log: Any = print) -> np.ndarray:
    """Vectors (N, D) of words: a list of words, a file of words (whitespace-separated, e.g. one a line)
    or a comma-separated list; words out of the vocabulary get zero vectors (and a note)."""
    kv = load_run_vectors(Path(run_dir))
    src = Path(str(inputs))
    if isinstance(inputs, (list, tuple)):
        words = [str(w).strip().lower() for w in inputs if str(w).strip()]
    elif src.is_file():
        words = src.read_text(encoding="utf-8", errors="replace").lower().split()
    elif "," in str(inputs) or not src.suffix:
        words = [w.strip().lower() for w in str(inputs).split(",") if w.strip()]
    else:
        raise UserError(f"word list {src} not found", hint="pass a file of words or a comma list like king,queen")
    if not words:
        raise UserError("no words to embed")
    vecs, oov = kv.vectors_for(words)
    log(f"{len(words)} x {kv.vector_size} word vectors")
    if oov:
        shown = ", ".join(oov[:10]) + (" ..." if len(oov) > 10 else "")
        log(f"note: {len(oov)} words are not in the vocabulary and got zero vectors: {shown}")
    return vecs


# ------------------------------------------------------------------------------- graph walks
def pretrain_deepwalk(req: PretrainRequest, spec: Any, overrides: dict[str, Any]) -> dict[str, Any]:
    import torch

    from selfsup.data.registry import load_dataset
    from selfsup.word2vec.walks import node_embeddings

    cfg = _config(spec, req, overrides)
    data = load_dataset(req.data, data_dir=req.data_dir, download_ok=req.download)
    if not hasattr(data, "edge_index"):
        raise UserError(f"dataset '{req.data}' is not a graph",
                        hint="use cora, citeseer, pubmed, planetoid:NAME:ROOT or edgelist:EDGES[,FEATURES[,LABELS]]")
    out = Path(req.out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    kw = cfg.model_kwargs()
    z, model = node_embeddings(data, num_walks=cfg.num_walks, walk_length=cfg.walk_length, p=cfg.p, q=cfg.q, **kw)
    total = time.perf_counter() - t0
    torch.save({"z": torch.from_numpy(z), "y": data.y, "train_mask": data.train_mask, "val_mask": data.val_mask,
                "test_mask": data.test_mask, "x": data.x, "classes": getattr(data, "classes", None)},
               out / "embeddings.pt")
    st = model.stats
    meta = {"method": spec.name, "dataset": req.data, "modality": "graph-walks", "status": "finished",
            "config": asdict(cfg),
            "num_nodes": int(data.num_nodes), "walk_tokens": int(st.raw_words // max(cfg.epochs, 1)),
            "epochs": cfg.epochs, "train_seconds": round(st.train_seconds, 3),
            "walk_and_train_seconds": round(total, 3), "words_per_second": round(st.words_per_second, 1)}
    atomic_write_text(out / "run.json", json.dumps(meta, indent=2))
    print(f"{spec.name} on {req.data}: {data.num_nodes} nodes, {meta['walk_tokens']} walk tokens, "
          f"{total:.1f} s (walks + training)")
    print(f"next: selfsup evaluate {out}")
    return meta


def evaluate_deepwalk(req: EvalRequest, meta: dict[str, Any]) -> dict[str, Any]:
    import torch

    from selfsup.eval.graph import node_eval_config, node_protocols, node_split
    from selfsup.eval.report import write_results

    run = Path(req.run_dir)
    path = run / "embeddings.pt"
    if not path.is_file():
        raise UserError(f"{run} has no embeddings.pt (the run did not finish)")
    blob = torch.load(path, map_location="cpu", weights_only=True)
    z, y = blob["z"].float(), blob["y"]
    if y is None:
        raise UserError(f"the graph of {run} has no node labels; node classification needs them",
                        hint="use edgelist:EDGES,FEATURES,LABELS")
    seeds = tuple(int(s) for s in req.seeds) if req.seeds else (0, 1, 2, 3, 4)
    # the public split is the protocol; low-label fractions only when asked for (--labels 1%,10%)
    labels = tuple(req.labels) if req.labels else ()
    split = node_split(y, blob.get("train_mask"), blob.get("test_mask"), val_mask=blob.get("val_mask"))
    cfg = node_eval_config(labels=labels, seeds=seeds)
    results = {"method": meta["method"], "dataset": meta["dataset"], "encoder": f"{meta['method']}-embedding",
               "epochs": meta.get("epochs"), "train_seconds": meta.get("train_seconds"),
               "protocols": node_protocols(z, y, split, cfg),
               "baselines": {"raw": node_protocols(blob["x"].float(), y, split, cfg)}}
    write_results(run, results)
    pub = results["protocols"]["linear"][split.name]
    raw = results["baselines"]["raw"]["linear"][split.name]
    print(f"{meta['method']} on {meta['dataset']}: linear probe ({split.name} split) {pub['mean']:.4f} ± "
          f"{pub['std']:.4f} (raw features {raw['mean']:.4f})")
    print(f"wrote {run}/results.json, report.md")
    return results


def embed_deepwalk(run_dir: Path, meta: dict[str, Any], inputs: Any, log: Any = print) -> np.ndarray:
    """The node vectors (N, D) of the run's graph (``inputs``: the run's dataset name, or ``-``)."""
    import torch

    if str(inputs) not in (meta["dataset"], "-"):
        raise UserError(f"DeepWalk embeds the nodes of the graph it was trained on ({meta['dataset']})",
                        hint=f"selfsup embed {run_dir} {meta['dataset']} -o OUT.npy")
    z = torch.load(Path(run_dir) / "embeddings.pt", map_location="cpu", weights_only=True)["z"].numpy()
    log(f"{z.shape[0]} x {z.shape[1]} node vectors")
    return z


register_modality(Modality(
    "words", pretrain_words, evaluate_words, embed=embed_words,
    resume=refuse_resume("word2vec trains in one go in its own engine (not the checkpointing Lightning engine) and "
                         "keeps no checkpoints; vectors.txt is its final result", NEW_RUN_HINT),
    protocols=("wordsim353", "simlex999", "analogy"), artifacts=("run.json", "vectors.txt"),
    inputs="a list of words, a file of words, or a comma list (king,queen)"))
register_modality(Modality(
    "graph-walks", pretrain_deepwalk, evaluate_deepwalk, embed=embed_deepwalk,
    resume=refuse_resume("DeepWalk trains in one go in the word2vec engine and keeps no checkpoints; embeddings.pt "
                         "is its final result", NEW_RUN_HINT),
    protocols=("linear",), artifacts=("run.json", "embeddings.pt"), inputs="the run's dataset name, or '-'"))
