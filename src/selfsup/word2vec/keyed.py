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
                rows = format_rows(self.vectors)
                for w, row in zip(self.words, rows):
                    f.write(w.encode("utf-8") + b" " + row + b"\n")
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


TEXT_DIGITS = 9  # significant digits of a value in the text format: enough to read every float32 back exactly


def format_rows(vectors: np.ndarray) -> list[bytes]:
    """Each row of a float32 matrix as ASCII ``"v1 v2 ... vD"``, every value with :data:`TEXT_DIGITS`
    significant digits (``-1.23456789e-02``), so that reading it back gives the same float32 values.

    Vectorised with numpy (a Python ``repr`` per value took seconds for a 15k-word vocabulary); values
    that are not finite are written by ``%.9g`` (``nan``, ``inf``).
    """
    x = np.asarray(vectors, dtype=np.float32).astype(np.float64)
    if x.size == 0:
        return [b""] * x.shape[0]
    if not np.isfinite(x).all():
        fmt = " ".join(["%.9g"] * x.shape[1])
        return [(fmt % tuple(row)).encode() for row in x.tolist()]
    a = np.abs(x)
    with np.errstate(divide="ignore"):
        e = np.floor(np.log10(a))
    e[a == 0] = 0
    top = TEXT_DIGITS - 1
    m = np.rint(a * 10.0 ** (top - e))  # the digits as an integer in [10**8, 10**9)
    over = m >= 10.0**TEXT_DIGITS  # log10 rounded down or the digits rounded up to 10**9: one exponent more
    e[over] += 1
    m[over] = np.rint(a[over] * 10.0 ** (top - e[over]))
    under = (a > 0) & (m < 10.0**top)  # log10 rounded up: one exponent less
    e[under] -= 1
    m[under] = np.rint(a[under] * 10.0 ** (top - e[under]))
    m = m.astype(np.int64)
    e = e.astype(np.int64)
    v, d = x.shape
    width = TEXT_DIGITS + 7  # sign, digit, '.', 8 digits, 'e', sign, 2 exponent digits, ' '
    out = np.empty((v, d, width), dtype=np.uint8)
    out[..., 0] = np.where(np.signbit(x), ord("-"), ord("+"))
    for k in range(TEXT_DIGITS + 1, 0, -1):  # digits right to left; column 2 is the decimal point
        if k == 2:
            continue
        q = m // 10
        out[..., k] = m - q * 10 + ord("0")
        m = q
    out[..., 2] = ord(".")
    out[..., TEXT_DIGITS + 2] = ord("e")
    out[..., TEXT_DIGITS + 3] = np.where(e < 0, ord("-"), ord("+"))
    ae = np.abs(e)  # float32: at most 45
    out[..., TEXT_DIGITS + 4] = ae // 10 + ord("0")
    out[..., TEXT_DIGITS + 5] = ae % 10 + ord("0")
    out[..., width - 1] = ord(" ")
    flat = out.reshape(v, d * width)
    return [row[:-1].tobytes() for row in flat]
