"""Intrinsic evaluation of word vectors: word-pair similarity, analogies, nearest neighbours.

* Similarity: Spearman correlation between human scores and cosine similarities on
  WordSim353 or SimLex-999; pairs with an out-of-vocabulary word are left out and counted
  (``oov``), as gensim's ``evaluate_word_pairs`` does by default.
* Analogies: "a is to b as c is to ?" on the Google analogy set, by 3CosAdd (Mikolov et al.,
  2013): the answer is the word, other than a, b and c, whose unit vector is nearest to
  ``unit(b) - unit(a) + unit(c)``. Questions with an out-of-vocabulary word are skipped and
  counted; accuracy is over the questions answered, per section and overall.

Benchmarks are read from the files gensim ships as test data (``wordsim353.tsv``,
``simlex999.txt``, ``questions-words.txt``) or from a user path in the same format.
Word vectors are any object with ``words`` (or gensim's ``index_to_key``) and ``vectors``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from selfsup.errors import UserError, unknown_name

BENCHMARK_FILES = {"wordsim353": "wordsim353.tsv", "simlex999": "simlex999.txt", "analogy": "questions-words.txt"}


def benchmark_path(name: str, path: str | os.PathLike | None = None) -> Path:
    """The file of benchmark ``name`` (``path`` if given, else gensim's copy)."""
    if path is not None:
        p = Path(path).expanduser()
        if not p.is_file():
            raise UserError(f"{name} file {p} not found")
        return p
    if name not in BENCHMARK_FILES:
        raise unknown_name("word benchmark", name, BENCHMARK_FILES)
    try:
        from gensim.test.utils import datapath
    except ImportError as e:
        raise UserError(f"the {name} file ships with gensim's test data, and gensim is not installed",
                        hint="pip install 'selfsup[text]', or pass the file's path") from e
    p = Path(datapath(BENCHMARK_FILES[name]))
    if not p.is_file():
        raise UserError(f"{p} not found in gensim's test data", hint="pass the benchmark file's path")
    return p


def _words_vectors(kv: Any) -> tuple[list[str], np.ndarray]:
    words = getattr(kv, "words", None)
    if words is None:
        words = getattr(kv, "index_to_key", None)
    if words is None or not hasattr(kv, "vectors"):
        raise TypeError("word vectors need .words (or .index_to_key) and .vectors")
    return list(words), np.asarray(kv.vectors, dtype=np.float32)


def _unit(vectors: np.ndarray) -> np.ndarray:
    return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)


def read_pairs(path: str | os.PathLike) -> list[tuple[str, str, float]]:
    """``word1 word2 score`` lines (tab or space separated; ``#`` comments), words lowercased."""
    pairs = []
    with open(path, encoding="utf-8", errors="replace") as f:
        for n, line in enumerate(f, 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            parts = line.split("\t") if "\t" in line else line.split()
            try:
                pairs.append((parts[0].strip().lower(), parts[1].strip().lower(), float(parts[2])))
            except (IndexError, ValueError):
                raise UserError(f"{path} line {n}: expected 'word1<TAB>word2<TAB>score', got {line[:60]!r}") from None
    if not pairs:
        raise UserError(f"{path} holds no word pairs")
    return pairs


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman rank correlation (average ranks for ties)."""
    from scipy.stats import rankdata

    ra, rb = rankdata(a), rankdata(b)
    ra, rb = ra - ra.mean(), rb - rb.mean()
    den = float(np.sqrt((ra * ra).sum() * (rb * rb).sum()))
    return float((ra * rb).sum() / den) if den > 0 else float("nan")


def word_similarity(kv: Any, path: str | os.PathLike) -> dict[str, Any]:
    """Spearman correlation of cosine similarities with human scores on the in-vocabulary pairs.

    Returns:
        ``{"spearman", "pearson", "pairs", "evaluated", "oov"}``; ``oov`` counts pairs left out.
    """
    words, vectors = _words_vectors(kv)
    index = {w.lower(): i for i, w in reversed(list(enumerate(words)))}  # first (most frequent) spelling wins
    unit = _unit(vectors)
    pairs = read_pairs(path)
    ours, human = [], []
    for a, b, s in pairs:
        if a in index and b in index:
            ours.append(float(unit[index[a]] @ unit[index[b]]))
            human.append(s)
    oov = len(pairs) - len(ours)
    if len(ours) < 3:
        return {"spearman": float("nan"), "pearson": float("nan"), "pairs": len(pairs), "evaluated": len(ours),
                "oov": oov}
    o, h = np.asarray(ours), np.asarray(human)
    return {"spearman": spearman(o, h), "pearson": float(np.corrcoef(o, h)[0, 1]), "pairs": len(pairs),
            "evaluated": len(ours), "oov": oov}


def read_analogies(path: str | os.PathLike) -> dict[str, list[tuple[str, str, str, str]]]:
    """Sections (``: name`` lines) of ``a b c d`` questions, words lowercased."""
    sections: dict[str, list[tuple[str, str, str, str]]] = {}
    current = None
    with open(path, encoding="utf-8", errors="replace") as f:
        for n, line in enumerate(f, 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            if line.startswith(":"):
                current = line[1:].strip()
                sections.setdefault(current, [])
                continue
            parts = line.lower().split()
            if current is None or len(parts) != 4:
                raise UserError(f"{path} line {n}: expected ': section' or four words, got {line[:60]!r}")
            sections[current].append((parts[0], parts[1], parts[2], parts[3]))
    if not any(sections.values()):
        raise UserError(f"{path} holds no analogy questions")
    return sections


def analogy(kv: Any, path: str | os.PathLike, restrict_vocab: int = 300000, chunk: int = 2048) -> dict[str, Any]:
    """3CosAdd analogy accuracy over the ``restrict_vocab`` most frequent words, per section and overall.

    Returns:
        ``{"accuracy", "correct", "evaluated", "questions", "oov", "semantic", "syntactic", "sections"}``;
        sections are ``{name: {"accuracy", "correct", "evaluated", "oov"}}``; "syntactic" pools
        the ``gram*`` sections and "semantic" the others (the split of Mikolov et al.).
    """
    words, vectors = _words_vectors(kv)
    words, vectors = words[:restrict_vocab], vectors[:restrict_vocab]
    index = {w.lower(): i for i, w in reversed(list(enumerate(words)))}
    unit = _unit(vectors)  # (V, D)
    sections = read_analogies(path)
    out_sections: dict[str, dict[str, Any]] = {}
    groups = {"semantic": [0, 0, 0], "syntactic": [0, 0, 0]}  # correct, evaluated, oov
    for name, qs in sections.items():
        ids = np.array([[index.get(w, -1) for w in q] for q in qs], dtype=np.int64).reshape(-1, 4)
        ok = (ids >= 0).all(axis=1)
        ids = ids[ok]
        correct = 0
        for s in range(0, len(ids), chunk):
            a, b, c, d = ids[s : s + chunk].T
            target = _unit(unit[b] - unit[a] + unit[c])  # (n, D)
            sims = target @ unit.T  # (n, V)
            rows = np.arange(len(a))
            for excl in (a, b, c):
                sims[rows, excl] = -np.inf
            correct += int((sims.argmax(axis=1) == d).sum())
        ev, oov = len(ids), int((~ok).sum())
        out_sections[name] = {"accuracy": correct / ev if ev else float("nan"), "correct": correct, "evaluated": ev,
                              "oov": oov}
        g = groups["syntactic" if name.startswith("gram") else "semantic"]
        g[0], g[1], g[2] = g[0] + correct, g[1] + ev, g[2] + oov
    correct = sum(s["correct"] for s in out_sections.values())
    ev = sum(s["evaluated"] for s in out_sections.values())
    oov = sum(s["oov"] for s in out_sections.values())
    res: dict[str, Any] = {"accuracy": correct / ev if ev else float("nan"), "correct": correct, "evaluated": ev,
                           "questions": ev + oov, "oov": oov}
    for k, (c, e, o) in groups.items():
        res[k] = {"accuracy": c / e if e else float("nan"), "correct": c, "evaluated": e, "oov": o}
    res["sections"] = out_sections
    return res


def nearest_neighbours(kv: Any, word: str, topn: int = 10) -> list[tuple[str, float]]:
    """The ``topn`` words nearest to ``word`` by cosine similarity (``word`` itself left out)."""
    words, vectors = _words_vectors(kv)
    index = {w: i for i, w in reversed(list(enumerate(words)))}
    if word not in index:
        raise UserError(f"'{word}' is not in the vocabulary ({len(words)} words)")
    unit = _unit(vectors)
    sims = unit @ unit[index[word]]
    sims[index[word]] = -np.inf
    top = np.argsort(-sims, kind="stable")[:topn]
    return [(words[i], float(sims[i])) for i in top]


# Word vectors are scored without labels: one number per protocol. Each protocol's entry also holds that number as
# the label cell ``NO_LABELS`` ({"mean": v, "std": 0, "values": [v]}), so that word vectors rank and print like the
# labeled protocols (``selfsup compare``, its page).
SCORE_KEYS = {"wordsim353": "spearman", "simlex999": "spearman", "analogy": "accuracy"}
NO_LABELS = "all"


def add_score_cells(protocols: dict[str, Any]) -> dict[str, Any]:
    """Add the ``NO_LABELS`` cell to each word protocol's entry of ``protocols`` that lacks one (in place; returned)."""
    for name, key in SCORE_KEYS.items():
        entry = protocols.get(name)
        if isinstance(entry, dict) and isinstance(entry.get(key), (int, float)) and NO_LABELS not in entry:
            entry[NO_LABELS] = {"mean": float(entry[key]), "std": 0.0, "values": [float(entry[key])]}
    return protocols


def word_protocols(kv: Any, protocols: tuple[str, ...] = ("wordsim353", "simlex999", "analogy"),
                   paths: dict[str, str] | None = None) -> dict[str, Any]:
    """Run the named word protocols; ``paths`` maps a protocol to a user file (default: gensim's). Each entry
    carries its score also as the ``NO_LABELS`` cell."""
    paths = paths or {}
    out: dict[str, Any] = {}
    for name in protocols:
        if name not in BENCHMARK_FILES:
            raise unknown_name("word protocol", name, BENCHMARK_FILES)
        p = benchmark_path(name, paths.get(name))
        out[name] = analogy(kv, p) if name == "analogy" else word_similarity(kv, p)
    return add_score_cells(out)
