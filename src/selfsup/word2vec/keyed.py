"""Word vectors: lookup, cosine similarity, nearest neighbours, and the word2vec file formats.

The formats are those of word2vec.c, which gensim's ``KeyedVectors.load_word2vec_format`` reads:

* text: a header line ``"<count> <dim>"``, then one line per word: ``word v1 v2 ... vdim``;
* binary: the same header line, then per word ``word`` + a space + ``dim`` little-endian
  float32 values + ``"\\n"`` (word2vec.c's layout; readers skip the newline).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from selfsup.errors import UserError


class KeyedVectors:
    """Words and their vectors (row ``i`` of ``vectors`` belongs to ``words[i]``)."""

    def __init__(self, words: Sequence[str], vectors: np.ndarray) -> None:
        self.words = list(words)
        self.vectors = np.ascontiguousarray(vectors, dtype=np.float32)  # (V, D)
        if self.vectors.ndim != 2 or self.vectors.shape[0] != len(self.words):
            raise ValueError(f"{len(self.words)} words for vectors of shape {self.vectors.shape}")
        self.index = {w: i for i, w in enumerate(self.words)}
        self._unit: np.ndarray | None = None

    def __contains__(self, word: str) -> bool:
        return word in self.index

    def __getitem__(self, word: str) -> np.ndarray:
        if word not in self.index:
            raise KeyError(f"'{word}' is not in the vocabulary")
        return self.vectors[self.index[word]]

    def __len__(self) -> int:
        return len(self.words)

    @property
    def vector_size(self) -> int:
        return int(self.vectors.shape[1])

    @property
    def unit(self) -> np.ndarray:
        """Rows scaled to unit length (zero rows stay zero), computed once."""
        if self._unit is None:
            norm = np.linalg.norm(self.vectors, axis=1, keepdims=True)
            self._unit = self.vectors / np.maximum(norm, 1e-12)
        return self._unit

    def _require(self, word: str) -> int:
        if word not in self.index:
            raise UserError(f"'{word}' is not in the vocabulary ({len(self)} words)",
                            hint="words are lowercased when the corpus is read; rare words fall below min_count")
        return self.index[word]

    def similarity(self, a: str, b: str) -> float:
        """Cosine similarity of two words."""
        return float(self.unit[self._require(a)] @ self.unit[self._require(b)])

    def most_similar(self, word: str | np.ndarray, topn: int = 10) -> list[tuple[str, float]]:
        """The ``topn`` nearest words by cosine similarity (a query word itself is left out)."""
        if isinstance(word, str):
            i = self._require(word)
            sims = self.unit @ self.unit[i]  # (V,)
            sims[i] = -np.inf
        else:
            q = np.asarray(word, dtype=np.float32)
            sims = self.unit @ (q / max(float(np.linalg.norm(q)), 1e-12))
        topn = min(topn, len(sims))
        top = np.argpartition(-sims, topn - 1)[:topn] if topn < len(sims) else np.arange(len(sims))
        top = top[np.argsort(-sims[top], kind="stable")]
        return [(self.words[i], float(sims[i])) for i in top if np.isfinite(sims[i])]

    def vectors_for(self, words: Iterable[str]) -> tuple[np.ndarray, list[str]]:
        """Vectors of ``words`` (zero rows for unknown words) and the list of unknown words."""
        words = list(words)
        out = np.zeros((len(words), self.vector_size), dtype=np.float32)
        oov = []
        for r, w in enumerate(words):
            i = self.index.get(w)
            if i is None:
                oov.append(w)
            else:
                out[r] = self.vectors[i]
        return out, oov

    # ------------------------------------------------------------------ word2vec formats
    def save_word2vec_format(self, path: str | os.PathLike, binary: bool = False) -> None:
        """Write the word2vec text (default) or binary format, atomically."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        for w in self.words:
            if not w or any(c.isspace() for c in w):
                raise UserError(f"cannot save the word {w!r}: word2vec files separate words by whitespace")
        tmp = path.with_name(f".{path.name}.tmp")
        v, d = self.vectors.shape
        with open(tmp, "wb") as f:
            f.write(f"{v} {d}\n".encode())
            if binary:
                vec = self.vectors.astype("<f4")
                for w, row in zip(self.words, vec):
                    f.write(w.encode("utf-8") + b" " + row.tobytes() + b"\n")
            else:
                for w, row in zip(self.words, self.vectors):
                    f.write((w + " " + " ".join(repr(float(x)) for x in row) + "\n").encode("utf-8"))
        os.replace(tmp, path)

    @classmethod
    def load_word2vec_format(cls, path: str | os.PathLike, binary: bool | None = None) -> KeyedVectors:
        """Read the word2vec text or binary format (``binary=None``: guess from the bytes)."""
        path = Path(path)
        if not path.is_file():
            raise UserError(f"word vectors file {path} not found")
        data = path.read_bytes()
        nl = data.find(b"\n")
        try:
            v, d = (int(t) for t in data[:nl].split())
        except ValueError:
            raise UserError(f"{path} is not in word2vec format: the first line must be '<count> <dim>'") from None
        body = data[nl + 1 :]
        if binary is None:
            binary = _looks_binary(body, d)
        words: list[str] = []
        vecs = np.zeros((v, d), dtype=np.float32)
        if binary:
            pos = 0
            for i in range(v):
                while pos < len(body) and body[pos : pos + 1] == b"\n":
                    pos += 1
                sp = body.find(b" ", pos)
                if sp < 0 or sp + 1 + 4 * d > len(body):
                    raise UserError(f"{path} is truncated: {i} of {v} vectors read")
                words.append(body[pos:sp].decode("utf-8", errors="replace"))
                vecs[i] = np.frombuffer(body, dtype="<f4", count=d, offset=sp + 1)
                pos = sp + 1 + 4 * d
        else:
            lines = body.decode("utf-8", errors="replace").splitlines()
            lines = [ln for ln in lines if ln.strip()]
            if len(lines) < v:
                raise UserError(f"{path} is truncated: header says {v} words, found {len(lines)} lines")
            for i, ln in enumerate(lines[:v]):
                parts = ln.rstrip().split(" ")
                if len(parts) != d + 1:
                    raise UserError(f"{path} line {i + 2}: expected a word and {d} numbers, found {len(parts) - 1}")
                words.append(parts[0])
                vecs[i] = np.asarray(parts[1:], dtype=np.float32)
        return cls(words, vecs)


def _looks_binary(body: bytes, dim: int) -> bool:
    """Text files decode as UTF-8 and their first line has ``dim + 1`` fields."""
    first = body[: body.find(b"\n") if b"\n" in body else len(body)]
    try:
        return len(first.decode("utf-8").split()) != dim + 1
    except UnicodeDecodeError:
        return True
