"""The fast paths of the word2vec command: vocabulary counting and id encoding (equal to plain
Python references), the vectorised text writer (exact float32 round trip, gensim reads it), and a
start-up that imports neither torch nor lightning (methods and modalities imported on first use)."""

import os
import random
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("numba")

from selfsup.word2vec import KeyedVectors, build_vocab
from selfsup.word2vec import vocab as vocab_mod
from selfsup.word2vec.keyed import format_rows
from selfsup.word2vec.vocab import encode_corpus

SRC = Path(__file__).resolve().parents[1] / "src"


def random_corpus(seed: int, n: int = 300) -> list[list[str]]:
    rng = random.Random(seed)
    words = [f"w{i}" for i in range(60)]
    sents = [[rng.choice(words[: rng.randint(1, 60)]) for _ in range(rng.randint(0, 40))] for _ in range(n)]
    sents.append(["rare1", "rare2"])  # a sentence left without a known word
    return sents


def reference_encode(sents, index, max_len):
    """The plain per-token loop the fast encoder replaced."""
    chunks, lengths, raw = [], [], 0
    for sent in sents:
        raw += len(sent)
        ids = [index[w] for w in sent if w in index]
        for start in range(0, len(ids), max_len):
            piece = ids[start : start + max_len]
            chunks.extend(piece)
            lengths.append(len(piece))
    return chunks, np.concatenate([[0], np.cumsum(lengths)]).tolist(), raw


@pytest.mark.parametrize("seed", [0, 1])
def test_vocab_counts_equal_collections_counter(seed):
    sents = random_corpus(seed)
    counts = Counter(w for s in sents for w in s)
    v = build_vocab(iter(sents), min_count=3)  # a one-shot iterator is enough
    assert dict(zip(v.words, v.counts.tolist())) == {w: c for w, c in counts.items() if c >= 3}
    assert v.raw_tokens == sum(counts.values())
    # descending counts; ties in first-seen order
    first_seen = {w: i for i, w in reversed(list(enumerate(w for s in sents for w in s)))}
    assert v.words == sorted(v.words, key=lambda w: (-counts[w], first_seen[w]))
    assert v.index == {w: i for i, w in enumerate(v.words)}


@pytest.mark.parametrize("max_len", [7, 10000])
def test_encode_equals_the_plain_loop(monkeypatch, max_len):
    monkeypatch.setattr(vocab_mod, "MAX_SENTENCE_LEN", max_len)  # 7: long sentences are cut into pieces
    sents = random_corpus(2)
    v = build_vocab(sents, min_count=4)
    ids, offsets, raw = encode_corpus(iter(sents), v)
    ref_ids, ref_offsets, ref_raw = reference_encode(sents, v.index, max_len)
    assert ids.dtype == np.int32 and offsets.dtype == np.int64
    assert ids.tolist() == ref_ids and offsets.tolist() == ref_offsets and raw == ref_raw
    assert np.diff(offsets).min() >= 1 and np.diff(offsets).max() <= max_len
    empty = encode_corpus([], v)
    assert empty[0].size == 0 and empty[1].tolist() == [0] and empty[2] == 0


def test_text_vectors_round_trip_exactly(tmp_path):
    rng = np.random.default_rng(0)
    vecs = (rng.standard_normal((40, 6)) * 10.0 ** rng.integers(-40, 38, (40, 6))).astype(np.float32)
    vecs[0] = [0.0, -0.0, 1e-45, 3.4e38, -1.0, 9.9999999e-3]  # zeros, the smallest denormal, the largest, 10**k edges
    vecs[1] = np.nextafter(np.float32(1.0), np.float32(2.0)) * np.array([1, -1, 10, 100, 0.1, 1e-5], np.float32)
    words = [f"w{i}" for i in range(40)]
    KeyedVectors(words, vecs).save_word2vec_format(tmp_path / "v.txt")
    back = KeyedVectors.load_word2vec_format(tmp_path / "v.txt", binary=False)
    assert back.words == words
    assert np.array_equal(back.vectors, vecs)  # bit for bit: 9 significant digits
    assert np.array_equal(np.signbit(back.vectors), np.signbit(vecs))
    line = (tmp_path / "v.txt").read_text().splitlines()[1]
    assert line.split(" ")[:3] == ["w0", "+0.00000000e+00", "-0.00000000e+00"]
    # values that are not finite fall back to printf formatting
    odd = np.array([[np.nan, np.inf, -1.5]], np.float32)
    assert format_rows(odd) == [b"nan inf -1.5"]


def test_gensim_reads_our_text_vectors(tmp_path):
    gensim_kv = pytest.importorskip("gensim.models").KeyedVectors
    vecs = np.random.default_rng(1).standard_normal((5, 4)).astype(np.float32)
    KeyedVectors(["a", "b", "c", "d", "e"], vecs).save_word2vec_format(tmp_path / "v.txt")
    g = gensim_kv.load_word2vec_format(str(tmp_path / "v.txt"), binary=False)
    assert list(g.index_to_key) == ["a", "b", "c", "d", "e"] and np.array_equal(g.vectors, vecs)


def _fresh_python(code: str, tmp_path: Path, **env: str) -> str:
    e = {**os.environ, "PYTHONPATH": str(SRC) + os.pathsep + os.environ.get("PYTHONPATH", ""), **env}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=e, cwd=tmp_path,
                         timeout=900)
    assert out.returncode == 0, out.stdout + out.stderr
    return out.stdout


def test_word2vec_command_imports_no_torch(tmp_path):
    """The whole `selfsup pretrain word2vec --data text:FILE` (numba off: a tiny corpus in plain Python)."""
    (tmp_path / "c.txt").write_text("the cat sat on the mat\nthe dog sat on the log\n" * 5)
    code = (
        "import sys\n"
        "from selfsup.cli.main import main\n"
        "rc = main(['pretrain', 'word2vec', '--data', 'text:c.txt', '--preset', 'skipgram', '--out', 'run',"
        " '--no-progress', '--set', 'epochs=1', '--set', 'min_count=1', '--set', 'vector_size=4',"
        " '--set', 'workers=1'])\n"
        "heavy = sorted(m for m in ('torch', 'lightning', 'sklearn', 'pandas') if m in sys.modules)\n"
        "print('RC', rc, 'HEAVY', heavy)\n")
    out = _fresh_python(code, tmp_path, NUMBA_DISABLE_JIT="1")
    assert "RC 0 HEAVY []" in out, out
    kv = KeyedVectors.load_word2vec_format(tmp_path / "run" / "vectors.txt")
    assert set(kv.words) == {"the", "cat", "sat", "on", "mat", "dog", "log"} and kv.vector_size == 4


def test_methods_registry_loads_on_first_use(tmp_path):
    code = (
        "import sys\n"
        "from selfsup.methods import get_method\n"
        "from selfsup.pipelines.modality import get_modality\n"
        "assert get_method('word2vec').name == 'word2vec' and get_modality('words').name == 'words'\n"
        "print('TORCH', 'torch' in sys.modules, 'IMAGE', 'selfsup.pipelines.image' in sys.modules)\n")
    out = _fresh_python(code, tmp_path)
    assert "TORCH False IMAGE False" in out, out
    from selfsup.methods import METHODS, get_method  # the whole registry, on access

    assert len(METHODS) >= 29 and get_method("moco-v2").name == "moco-v2"  # a method named unlike its module


def test_every_method_module_is_listed():
    from selfsup.methods import BUILTIN_MODULES

    registering = {p.stem for p in (SRC / "selfsup" / "methods").glob("*.py") if "register_method(" in p.read_text()
                   and p.stem != "base"}
    assert registering == set(BUILTIN_MODULES)


def test_install_step_compiles_both_kernels_into_the_cache(tmp_path):
    # `make install` runs `python -m selfsup.word2vec`; afterwards the cache holds the training loop and the walks, so
    # the first word2vec / DeepWalk command loads them instead of compiling (a cold cache cost ~2-3 s a process).
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path), "PYTHONPATH": str(SRC)}
    first = subprocess.run([sys.executable, "-m", "selfsup.word2vec"], env=env, capture_output=True, text=True,
                           check=True)
    assert "compiled and cached" in first.stdout
    index = sorted(p.name.split("-")[0] for p in tmp_path.rglob("*.nbi"))
    assert index == ["engine._train_job", "walks._walks"]
    assert len(list(tmp_path.rglob("*.nbc"))) == 2  # one compiled signature each: the types of the real calls
    stamp = {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*.nb*")}
    subprocess.run([sys.executable, "-m", "selfsup.word2vec"], env=env, capture_output=True, check=True)
    assert {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*.nb*")} == stamp  # the second run only loads
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n".join(" ".join(s) for s in random_corpus(0)) + "\n")
    for preset in ("cbow", "skipgram"):  # a real command finds the kernel it needs in the cache: nothing new compiled
        subprocess.run([sys.executable, "-m", "selfsup.cli.main", "pretrain", "word2vec", "--data", f"text:{corpus}",
                        "--preset", preset, "--no-progress", "--out", str(tmp_path / preset), "--set", "min_count=1"],
                       env=env, capture_output=True, check=True)
        assert {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*.nb*")} == stamp
