"""Property tests: every loader meets bad files with a valid load or one clear ``UserError``.

Each test generates bad inputs for one loader -- random bytes, truncations and byte mutations of a
valid file, empty files, arrays of the wrong dtype or shape, NaN/inf values, out-of-range or
mismatched labels -- and asserts that loading either succeeds with a well-formed result or raises
a :class:`~selfsup.errors.UserError` whose message names the offending file (or its folder). Any
other exception type is a bug in the loader.

``SELFSUP_FUZZ_EXAMPLES`` sets the examples per test (CI default: 100, fewer for the slow decoders,
derandomized; the reliability run in BENCHMARKS.md uses 1000). The last tests drive ``selfsup
pretrain`` itself: a failed command exits 2, shows no traceback and leaves no run directory behind.
"""

from __future__ import annotations

import bz2
import contextlib
import gzip
import io
import os
import shutil
import tempfile
import warnings
from pathlib import Path

import numpy as np
import pytest
from conftest import NEED_PLANETOID
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from selfsup.errors import UserError

EXAMPLES_ENV = os.environ.get("SELFSUP_FUZZ_EXAMPLES")


def fuzz(ci_examples: int = 100) -> settings:
    """Hypothesis settings: ``SELFSUP_FUZZ_EXAMPLES`` examples if set, else ``ci_examples`` (derandomized)."""
    n = int(EXAMPLES_ENV) if EXAMPLES_ENV else ci_examples
    return settings(
        max_examples=n, deadline=None, database=None, derandomize=not EXAMPLES_ENV,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much,
                               HealthCheck.function_scoped_fixture],
    )


FUZZ = fuzz()
SHARED = Path(os.environ["SELFSUP_DATA_DIR"])  # set by conftest (default ../shared/data), or by the caller


# ----------------------------------------------------------------------------- helpers
def bad_bytes(valid: bytes, max_random: int = 512) -> st.SearchStrategy[bytes]:
    """Random bytes, an empty file, a truncation of ``valid`` or ``valid`` with a few bytes changed."""
    n = len(valid)
    truncated = st.integers(0, max(0, n - 1)).map(lambda k: valid[:k])
    mutated = st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, 255)), min_size=1, max_size=8).map(
        lambda edits: _mutate(valid, edits))
    head_mutated = st.lists(st.tuples(st.integers(0, min(n, 64) - 1), st.integers(0, 255)), min_size=1,
                            max_size=4).map(lambda edits: _mutate(valid, edits))
    tail_mutated = st.lists(st.tuples(st.integers(max(0, n - 128), n - 1), st.integers(0, 255)), min_size=1,
                            max_size=4).map(lambda edits: _mutate(valid, edits))  # e.g. a zip's central directory
    return st.one_of(st.just(b""), st.binary(max_size=max_random), truncated, mutated, head_mutated, tail_mutated)


def _mutate(data: bytes, edits: list[tuple[int, int]]) -> bytes:
    b = bytearray(data)
    for pos, val in edits:
        b[pos] = val
    return bytes(b)


def expect_clean(load, *names: Path | str):
    """Run ``load()``; a ``UserError`` must name one of ``names``. Returns the result or ``None``."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return load()
    except UserError as e:
        text = str(e)
        assert any(str(n) in text for n in names), f"error does not name {[str(n) for n in names]}: {text}"
        assert "Traceback" not in text
        return None


@contextlib.contextmanager
def tmpdir():
    with tempfile.TemporaryDirectory(prefix="selfsup-fuzz-") as d:
        yield Path(d)


def check_array_dataset(ds) -> None:
    """A loaded ArrayDataset is well-formed: uint8 images or finite float32, labels in range."""
    import torch

    for x in (ds.x_train, ds.x_test):
        if x is None or not len(x):
            continue
        assert x.dtype in (torch.uint8, torch.float32), x.dtype
        if x.dtype == torch.float32:
            assert torch.isfinite(x).all()
    assert len(ds.x_train) >= 1
    for x, y in ((ds.x_train, ds.y_train), (ds.x_test, ds.y_test)):
        if y is not None:
            assert y.dtype == torch.int64 and y.shape == (len(x),)
            if len(y):
                assert int(y.min()) >= 0


def _png(arr: np.ndarray, fmt: str = "PNG", mode: str | None = None) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(arr, mode=mode).save(buf, format=fmt) if mode else Image.fromarray(arr).save(buf, format=fmt)
    return buf.getvalue()


def _image_bytes(seed: int, fmt: str) -> bytes:
    rng = np.random.default_rng(seed)
    shape = (6, 7) if fmt in ("GIF", "PNG") and seed % 2 else (6, 7, 3)
    return _png(rng.integers(0, 256, shape, dtype=np.uint8), fmt)


IMAGE_FORMATS = {"PNG": ".png", "JPEG": ".jpg", "GIF": ".gif", "BMP": ".bmp", "TIFF": ".tif", "WEBP": ".webp"}


def odd_images() -> st.SearchStrategy[tuple[bytes, str]]:
    """Valid images of unusual modes and sizes (16-bit, float, palette, alpha, 1x1)."""
    from PIL import Image

    def make(kind: str, h: int, w: int) -> tuple[bytes, str]:
        rng = np.random.default_rng(h * 31 + w)
        buf = io.BytesIO()
        if kind == "I;16":
            Image.fromarray(rng.integers(0, 65535, (h, w)).astype(np.uint16)).save(buf, format="PNG")
        elif kind == "F":
            a = rng.normal(size=(h, w)).astype(np.float32)
            a[0, 0] = np.nan
            Image.fromarray(a).save(buf, format="TIFF")
            return buf.getvalue(), ".tif"
        elif kind == "RGBA":
            Image.fromarray(rng.integers(0, 256, (h, w, 4), dtype=np.uint8)).save(buf, format="PNG")
        elif kind == "P":
            Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).convert("P").save(buf, format="PNG")
        elif kind == "1":
            Image.fromarray(rng.integers(0, 2, (h, w), dtype=np.uint8) * 255).convert("1").save(buf, format="PNG")
        elif kind == "CMYK":
            Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).convert("CMYK").save(buf, format="JPEG")
            return buf.getvalue(), ".jpg"
        else:  # LA
            Image.fromarray(rng.integers(0, 256, (h, w), dtype=np.uint8)).convert("LA").save(buf, format="PNG")
        return buf.getvalue(), ".png"

    return st.builds(make, st.sampled_from(["I;16", "F", "RGBA", "P", "1", "CMYK", "LA"]),
                     st.integers(1, 9), st.integers(1, 9))


# ----------------------------------------------------------------------------- idx (Fashion-MNIST)
def _idx(arr: np.ndarray) -> bytes:
    header = bytes([0, 0, 8, arr.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in arr.shape)
    return header + arr.astype(np.uint8).tobytes()


def _valid_idx_files() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    return {
        "train-images-idx3-ubyte": rng.integers(0, 256, (6, 28, 28), dtype=np.uint8),
        "train-labels-idx1-ubyte": rng.integers(0, 10, 6, dtype=np.uint8),
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (3, 28, 28), dtype=np.uint8),
        "t10k-labels-idx1-ubyte": rng.integers(0, 10, 3, dtype=np.uint8),
    }


def _bad_idx_arrays() -> st.SearchStrategy[bytes]:
    """Well-formed idx files with the wrong content: shapes, label ranges, declared sizes."""
    arrays = hnp.arrays(np.uint8, hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=30))
    forged = st.builds(
        lambda ndim, dims, body: bytes([0, 0, 8, ndim]) + b"".join(d.to_bytes(4, "big") for d in dims) + body,
        st.integers(0, 255), st.lists(st.integers(0, 2**32 - 1), max_size=6), st.binary(max_size=64))
    wrong_type = st.builds(lambda t, body: bytes([0, 0, t, 1]) + (3).to_bytes(4, "big") + body,
                           st.sampled_from([0x09, 0x0B, 0x0C, 0x0D, 0x0E]), st.binary(max_size=24))
    return st.one_of(arrays.map(_idx), forged, wrong_type)


@FUZZ
@given(which=st.sampled_from(sorted(_valid_idx_files())), gz=st.booleans(), data=st.data())
def test_fuzz_idx_fashion_mnist(which, gz, data):
    from selfsup.data.fashion_mnist import load_fashion_mnist

    files = _valid_idx_files()
    valid = _idx(files[which])
    content = data.draw(st.one_of(bad_bytes(valid), _bad_idx_arrays()))
    compress_bad = data.draw(st.booleans())
    with tmpdir() as d:
        for name, arr in files.items():
            raw = content if name == which else _idx(arr)
            if gz:
                body = gzip.compress(raw, mtime=0) if (name != which or compress_bad) else raw
                (d / f"{name}.gz").write_bytes(body)
            else:
                (d / name).write_bytes(raw)
        bad_path = d / (f"{which}.gz" if gz else which)
        ds = expect_clean(lambda: load_fashion_mnist(data_dir=str(d)), bad_path)
        if ds is not None:
            check_array_dataset(ds)
            assert ds.x_train.dim() == 4 and int(ds.y_train.max()) < 10


@FUZZ
@given(data=st.data())
def test_fuzz_idx_gzip_layer(data):
    """Corrupt gzip streams around a valid idx payload (bad CRC, bad blocks, truncation)."""
    from selfsup.data.fashion_mnist import read_idx

    valid = gzip.compress(_idx(np.arange(60, dtype=np.uint8).reshape(3, 4, 5)), mtime=0)
    content = data.draw(bad_bytes(valid))
    with tmpdir() as d:
        p = d / "x-idx3-ubyte.gz"
        p.write_bytes(content)
        expect_clean(lambda: read_idx(p), p)


# ----------------------------------------------------------------------------- npz / npy arrays
def _valid_npz(compressed: bool) -> bytes:
    rng = np.random.default_rng(0)
    buf = io.BytesIO()
    save = np.savez_compressed if compressed else np.savez
    save(buf, x=rng.integers(0, 256, (10, 1, 8, 8), dtype=np.uint8), y=np.arange(10) % 2)
    return buf.getvalue()


def _npy(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, arr)
    return buf.getvalue()


DTYPES = st.one_of(hnp.scalar_dtypes(), hnp.byte_string_dtypes(max_len=3), hnp.unicode_string_dtypes(max_len=3))


def odd_arrays(max_dims: int = 5, max_side: int = 6) -> st.SearchStrategy[np.ndarray]:
    """Arrays of any numeric/string dtype and shape, floats with NaN/inf allowed."""
    return hnp.arrays(DTYPES, hnp.array_shapes(min_dims=0, max_dims=max_dims, min_side=0, max_side=max_side))


def label_arrays() -> st.SearchStrategy[np.ndarray]:
    ints = hnp.arrays(st.sampled_from([np.int8, np.int64, np.int32]), st.integers(0, 12), elements=st.integers(-3, 40))
    uints = hnp.arrays(st.sampled_from([np.uint8, np.uint16]), st.integers(0, 12), elements=st.integers(0, 40))
    floats = hnp.arrays(np.float64, st.integers(0, 12), elements=st.floats(allow_nan=True, allow_infinity=True))
    return st.one_of(ints, uints, floats, odd_arrays(max_dims=2))


def array_dicts(keys=("x", "y", "x_test", "y_test")) -> st.SearchStrategy[dict[str, np.ndarray]]:
    """Dicts of arrays meant as a dataset file, each entry possibly of the wrong kind."""
    n = st.integers(0, 12)
    good_x = st.builds(lambda k, c, h, dt: np.ones((k, c, h, h), dtype=dt) * 3, n, st.sampled_from([1, 3, 2]),
                       st.integers(1, 6), st.sampled_from([np.uint8, np.float32, np.int16, np.float64]))
    nan_x = st.builds(lambda k, f: np.where(np.arange(k * f).reshape(k, f) % 5 == 1, np.nan, 1.0), n,
                      st.integers(1, 6))
    x = st.one_of(good_x, nan_x, odd_arrays())
    y = label_arrays()
    return st.fixed_dictionaries({}, optional={k: (x if k.startswith("x") else y) for k in keys})


@FUZZ
@given(kind=st.sampled_from(["npz", "npz-compressed", "npy"]), data=st.data())
def test_fuzz_npz_bytes(kind, data):
    from selfsup.data.arrays import load_npz

    if kind == "npy":
        valid = _npy(np.ones((5, 3, 4, 4), dtype=np.uint8))
    else:
        valid = _valid_npz(kind == "npz-compressed")
    content = data.draw(bad_bytes(valid))
    with tmpdir() as d:
        p = d / f"data.{'npy' if kind == 'npy' else 'npz'}"
        p.write_bytes(content)
        ds = expect_clean(lambda: load_npz(str(p)), p)
        if ds is not None:
            check_array_dataset(ds)


@FUZZ
@given(arrays=array_dicts(), npy_x=odd_arrays())
def test_fuzz_npz_arrays(arrays, npy_x):
    from selfsup.data.arrays import load_npz

    with tmpdir() as d:
        p = d / "data.npz"
        np.savez(p, **arrays)
        ds = expect_clean(lambda: load_npz(str(p)), p)
        if ds is not None:
            check_array_dataset(ds)
            if "y" in arrays:
                assert ds.y_train is not None
        q = d / "x.npy"
        np.save(q, npy_x)
        ds = expect_clean(lambda: load_npz(str(q)), q)
        if ds is not None:
            check_array_dataset(ds)


# ----------------------------------------------------------------------------- image folders
@FUZZ
@given(fmt=st.sampled_from(sorted(IMAGE_FORMATS)), n_bad=st.integers(1, 3), skip=st.booleans(),
       layout=st.sampled_from(["classes", "flat", "split"]), data=st.data())
def test_fuzz_image_folder(fmt, n_bad, skip, layout, data):
    from selfsup.data.folder import load_folder

    ext = IMAGE_FORMATS[fmt]
    valid = _image_bytes(1, fmt)
    bads = [data.draw(st.one_of(bad_bytes(valid), odd_images().map(lambda t: t[0]))) for _ in range(n_bad)]
    with tmpdir() as d:
        root = d / "imgs"
        subdirs = {"classes": ["a", "b"], "flat": [""], "split": ["train/a", "train/b", "test/a", "test/b"]}[layout]
        for i, sub in enumerate(subdirs):
            (root / sub).mkdir(parents=True, exist_ok=True)
            for j in range(3):
                (root / sub / f"good{j}.png").write_bytes(_image_bytes(10 * i + j, "PNG"))
        bad_paths = []
        for k, content in enumerate(bads):
            p = root / subdirs[k % len(subdirs)] / f"bad{k}{ext}"
            p.write_bytes(content)
            bad_paths.append(p)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                ds = load_folder(str(root), image_size=8, skip_bad_files=skip)
            except UserError as e:
                assert not skip, f"--skip-bad-files still failed: {e}"
                assert any(str(p) in str(e) for p in bad_paths), str(e)
                return
        check_array_dataset(ds)
        assert ds.x_train.dtype.is_floating_point is False and ds.x_train.shape[-2:] == (8, 8)
        skipped = [str(w.message) for w in caught if "skipped" in str(w.message)]
        n_images = len(ds.x_train) + len(ds.x_test)
        good = 3 * len(subdirs)
        assert good <= n_images <= good + n_bad
        if n_images < good + n_bad:  # some bad files were dropped: the warning lists each of them
            assert skip and len(skipped) >= 1
            listed = sum(str(p) in "\n".join(skipped) for p in bad_paths)
            assert listed == good + n_bad - n_images


# ----------------------------------------------------------------------------- text corpora
TEXT_VALID = b"the cat sat on the mat\na dog ran in the park\n\nwords one two three\n"


@FUZZ
@given(content=bad_bytes(TEXT_VALID, 2048), folder=st.booleans(), skip=st.booleans(),
       binary_tail=st.booleans())
def test_fuzz_text_corpus(content, folder, skip, binary_tail):
    from selfsup.data.registry import load_dataset
    from selfsup.data.text import load_text_corpus

    if binary_tail:
        content = content + bytes(range(256)) * 4
    with tmpdir() as d:
        if folder:
            root = d / "corpus"
            root.mkdir()
            (root / "good.txt").write_bytes(TEXT_VALID)
            bad = root / "bad.txt"
            bad.write_bytes(content)
            target = root
        else:
            bad = target = d / "corpus.txt"
            bad.write_bytes(content)

        def load():
            corpus = load_dataset(f"text:{target}", skip_bad_files=skip) if skip else load_text_corpus(f"text:{target}")
            return list(corpus)

        sents = expect_clean(load, bad, target)
        if sents is not None:
            assert all(isinstance(s, list) and s and all(isinstance(t, str) and t for t in s) for s in sents)
            assert not any("\x00" in t or "\ufffd" in t for s in sents for t in s)


@FUZZ
@given(content=st.one_of(bad_bytes(b"text,label,split\n\"a fine film\",pos,train\nbad film,neg,train\n"
                                   b"good one,pos,test\nawful,neg,test\n", 1024),
                         st.lists(st.lists(st.text(max_size=12), max_size=4), max_size=8).map(
                             lambda rows: "\n".join(",".join(r) for r in rows).encode("utf-8", "surrogatepass"))))
def test_fuzz_csv_task(content):
    from selfsup.data.text_tasks import load_text_task

    with tmpdir() as d:
        p = d / "task.csv"
        p.write_bytes(content)
        task = expect_clean(lambda: load_text_task(f"csv:{p}"), p)
        if task is not None:
            assert len(task.classes) >= 2 and len(task.train_texts) == len(task.y_train)
            assert len(task.test_texts) == len(task.y_test) and len(task.test_texts) >= 1


@FUZZ
@given(data=st.data())
def test_fuzz_tokenizer_file(data):
    from selfsup.data.tokenize import TextTokenizer

    tok = _small_tokenizer()
    with tmpdir() as d:
        good = d / "good.json"
        tok.save(good)
        p = d / "tokenizer.json"
        p.write_bytes(data.draw(bad_bytes(good.read_bytes(), 1024)))
        loaded = expect_clean(lambda: TextTokenizer.load(p), p)
        if loaded is not None:
            assert loaded.vocab_size > 5


_TOK = []


def _small_tokenizer():
    from selfsup.data.tokenize import TextTokenizer

    if not _TOK:
        _TOK.append(TextTokenizer.train(["the cat sat on the mat", "a dog ran"] * 20, vocab_size=60,
                                        min_frequency=1))
    return _TOK[0]


WIKI_XML = b"""<mediawiki xmlns="http://www.mediawiki.org/xml/export-0.10/">
<page><title>Cats</title><ns>0</ns><id>1</id><revision><id>2</id><text>""" + b"The cat is a small animal. " * 30 + \
    b"""</text></revision></page></mediawiki>"""


@fuzz(60)
@given(data=st.data())
def test_fuzz_wiki_dump(data):
    pytest.importorskip("gensim")
    from selfsup.data.text import load_text_corpus

    content = data.draw(st.one_of(bad_bytes(bz2.compress(WIKI_XML), 512), bad_bytes(WIKI_XML, 256).map(bz2.compress)))
    with tmpdir() as d:
        p = d / "dump.xml.bz2"
        p.write_bytes(content)
        sents = expect_clean(lambda: list(load_text_corpus(f"wiki:{p}")), p)
        if sents is not None:
            assert all(isinstance(s, list) for s in sents)


@FUZZ
@given(data=st.data(), source=st.sampled_from(["kjv", "fortunes"]))
def test_fuzz_kjv_and_fortunes_files(data, source):
    from selfsup.data.text_tasks import fortune_entries, kjv_verses

    valid = b"Ge1:1 In the beginning God created the heaven and the earth.\nGe1:2 And the earth was void.\n"
    if source == "fortunes":
        valid = b"A fortune.\n%\nAnother one here.\n%\n"
    content = data.draw(bad_bytes(valid, 1024))
    with tmpdir() as d:
        if source == "kjv":
            p = d / "kjv.txt"
            p.write_bytes(content)
            old = os.environ.get("SELFSUP_KJV")
            os.environ["SELFSUP_KJV"] = str(p)
            try:
                verses = expect_clean(kjv_verses, p)
            finally:
                if old is None:
                    os.environ.pop("SELFSUP_KJV", None)
                else:
                    os.environ["SELFSUP_KJV"] = old
            if verses is not None:
                assert all(v.text for v in verses)
        else:
            (d / "good").write_bytes(valid)
            p = d / "bad"
            p.write_bytes(content)
            out = expect_clean(lambda: fortune_entries(d), p, d)
            if out is not None:
                assert all(isinstance(e, str) and e for es in out.values() for e in es)


# ----------------------------------------------------------------------------- graphs
def _graph_texts() -> dict[str, bytes]:
    return {"edges": b"0 1\n1 2\n2 3\n3 0\n", "features": b"1 0\n0 1\n1 1\n0 0\n", "labels": b"0\n1\n0\n1\n"}


@FUZZ
@given(which=st.sampled_from(["edges", "features", "labels"]), ext=st.sampled_from([".txt", ".csv", ".npy"]),
       data=st.data())
def test_fuzz_edgelist(which, ext, data):
    import torch

    from selfsup.data.graph import load_edgelist

    texts = _graph_texts()
    if ext == ".npy":
        valid = _npy(np.loadtxt(io.BytesIO(texts[which]), ndmin=2 if which != "labels" else 1))
        structured = st.one_of(odd_arrays(max_dims=3),
                               hnp.arrays(np.float64, hnp.array_shapes(max_dims=2, max_side=6),
                                          elements=st.one_of(st.floats(-1e20, 1e20),
                                                             st.sampled_from([np.nan, np.inf, -np.inf]))),
                               hnp.arrays(np.int64, hnp.array_shapes(max_dims=2, max_side=6),
                                          elements=st.integers(-(2**62), 2**62))).map(_npy)
    else:
        valid = texts[which].replace(b" ", b",") if ext == ".csv" else texts[which]
        sep = "," if ext == ".csv" else " "
        structured = st.lists(st.lists(st.one_of(st.integers(-5, 10**12).map(str), st.sampled_from(
            ["nan", "inf", "1.5", "-0", "1e30", "x", ""])), min_size=1, max_size=3), max_size=6).map(
            lambda rows: "\n".join(sep.join(r) for r in rows).encode())
    content = data.draw(st.one_of(bad_bytes(valid, 256), structured))
    with tmpdir() as d:
        paths = {}
        for name, text in texts.items():
            p = d / f"{name}{ext if name == which else '.txt'}"
            p.write_bytes(content if name == which else text)
            paths[name] = p
        use_features = which == "features" or data.draw(st.booleans())
        use_labels = which == "labels" or data.draw(st.booleans())
        g = expect_clean(lambda: load_edgelist(str(paths["edges"]), str(paths["features"]) if use_features else None,
                                               str(paths["labels"]) if use_labels else None), paths[which])
        if g is not None:
            assert g.x.dim() == 2 and torch.isfinite(g.x).all() and g.num_nodes >= 1
            assert g.edge_index.shape[0] == 2
            if g.edge_index.numel():
                assert int(g.edge_index.min()) >= 0 and int(g.edge_index.max()) < g.num_nodes
            if g.y is not None:
                assert g.y.shape == (g.num_nodes,) and int(g.y.min()) >= 0


PLANETOID_FILES = ["x", "tx", "allx", "y", "ty", "ally", "graph", "test.index"]


@pytest.fixture(scope="module")
def cora_copy(tmp_path_factory):
    src = SHARED / "planetoid" / "Cora" / "raw"
    if not src.is_dir():
        pytest.skip(NEED_PLANETOID)
    dst = tmp_path_factory.mktemp("planetoid") / "Cora" / "raw"
    shutil.copytree(src, dst)
    for p in dst.iterdir():
        p.chmod(0o644)
    return dst


@fuzz(40)
@given(which=st.sampled_from(PLANETOID_FILES), data=st.data())
def test_fuzz_planetoid(cora_copy, which, data):
    from selfsup.data.graph import load_planetoid

    p = cora_copy / f"ind.cora.{which}"
    valid = p.read_bytes()
    head = valid[:4096]  # mutate/truncate near the start (where the pickle/text structure is)
    content = data.draw(st.one_of(bad_bytes(head, 512), bad_bytes(valid, 256)))
    try:
        p.write_bytes(content)
        g = expect_clean(lambda: load_planetoid("cora", cora_copy.parent.parent), p, cora_copy)
        if g is not None:
            assert g.x.dim() == 2 and g.num_nodes >= 1
    finally:
        p.write_bytes(valid)


# ----------------------------------------------------------------------------- series
@FUZZ
@given(kind=st.sampled_from(["npz", "npy", "csv"]), length=st.sampled_from(["error", "pad", "truncate", "resample"]),
       nan=st.sampled_from(["error", "interpolate", "zero"]), data=st.data())
def test_fuzz_series(kind, length, nan, data):
    import torch

    from selfsup.data.series import load_series

    if kind == "csv":
        valid = b"label,t0,t1,t2\n1,0.5,0.25,1\n2,1,2,3\n1,0,0,1\n"
        structured = st.lists(st.lists(st.one_of(st.floats(allow_nan=True, allow_infinity=True).map(str),
                                                 st.sampled_from(["", "NaN", "a", "1", "2", " "])), max_size=5),
                              max_size=8).map(lambda rows: "\n".join(",".join(r) for r in rows).encode())
    elif kind == "npy":
        valid = _npy(np.ones((6, 2, 5), dtype=np.float32))
        structured = odd_arrays(max_dims=4).map(_npy)
    else:
        buf = io.BytesIO()
        np.savez(buf, x=np.ones((6, 1, 5), dtype=np.float32), y=np.arange(6) % 2)
        valid = buf.getvalue()

        def savez(arrs):
            b = io.BytesIO()
            np.savez(b, **arrs)
            return b.getvalue()

        structured = array_dicts().map(savez)
    content = data.draw(st.one_of(bad_bytes(valid, 512), structured))
    with tmpdir() as d:
        p = d / f"series.{kind}"
        p.write_bytes(content)
        ds = expect_clean(lambda: load_series(str(p), length=length, nan=nan), p)
        if ds is not None:
            check_array_dataset(ds)
            assert ds.x_train.dim() == 3 and ds.x_train.dtype == torch.float32


# ----------------------------------------------------------------------------- video
def _gif(frames: int, seed: int) -> bytes:
    from PIL import Image

    rng = np.random.default_rng(seed)
    ims = [Image.fromarray(rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)) for _ in range(frames)]
    buf = io.BytesIO()
    ims[0].save(buf, format="GIF", save_all=True, append_images=ims[1:])
    return buf.getvalue()


_MP4: list[bytes] = []


def _mp4() -> bytes:
    if not _MP4:
        import imageio.v3 as iio

        rng = np.random.default_rng(0)
        frames = rng.integers(0, 256, (6, 16, 16, 3), dtype=np.uint8)
        with tmpdir() as d:
            p = d / "v.mp4"
            iio.imwrite(p, frames, plugin="pyav", codec="libx264", fps=10)
            _MP4.append(p.read_bytes())
    return _MP4[0]


@fuzz(30)
@given(kind=st.sampled_from([".gif", ".mp4", "frames"]), skip=st.booleans(), data=st.data())
def test_fuzz_video_folder(kind, skip, data):
    pytest.importorskip("av")
    from selfsup.data.video import load_video_folder

    with tmpdir() as d:
        root = d / "videos"
        root.mkdir()
        (root / "good.gif").write_bytes(_gif(6, 0))
        if kind == "frames":
            seq = root / "seq"
            seq.mkdir()
            for i in range(3):
                (seq / f"{i:03d}.png").write_bytes(_image_bytes(i, "PNG") if i != 1 else b"")
            bad = seq / "001.png"
            bad.write_bytes(data.draw(st.one_of(bad_bytes(_image_bytes(1, "PNG")), odd_images().map(lambda t: t[0]))))
            named = (bad, seq)
        else:
            bad = root / f"bad{kind}"
            bad.write_bytes(data.draw(bad_bytes(_gif(6, 1) if kind == ".gif" else _mp4(), 512)))
            named = (bad,)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                ds = load_video_folder(str(root), frames=3, size=8, skip_bad_files=skip)
            except UserError as e:
                assert not skip, f"--skip-bad-files still failed: {e}"
                assert any(str(n) in str(e) for n in named), str(e)
                return
        assert ds.x_train.dim() == 5 and ds.x_train.shape[-2:] == (8, 8)
        if ds.meta["skipped"]:
            assert skip
            assert any(str(bad) in str(w.message) or str(named[-1]) in str(w.message) for w in caught)


# ----------------------------------------------------------------------------- --skip-bad-files
def test_skip_bad_files_loads_good_images_and_lists_the_skipped_ones(tmp_path):
    from selfsup.data.folder import load_folder
    from selfsup.errors import SkippedFilesWarning

    root = tmp_path / "imgs"
    for c in ("cat", "dog"):
        (root / c).mkdir(parents=True)
        for j in range(4):
            (root / c / f"{j}.png").write_bytes(_image_bytes(j, "PNG"))
    bad = [root / "cat" / "broken.png", root / "dog" / "half.jpg", root / "dog" / "empty.png"]
    bad[0].write_bytes(b"not an image at all")
    bad[1].write_bytes(_image_bytes(3, "JPEG")[:40])
    bad[2].write_bytes(b"")
    with pytest.raises(UserError, match="broken.png") as err:
        load_folder(str(root), image_size=8)
    assert "--skip-bad-files" in str(err.value)
    with pytest.warns(SkippedFilesWarning) as caught:
        ds = load_folder(str(root), image_size=8, skip_bad_files=True)
    assert len(ds.x_train) + len(ds.x_test) == 8  # exactly the good images
    assert sorted(ds.y_train.tolist() + ds.y_test.tolist()) == [0] * 4 + [1] * 4
    message = "\n".join(str(w.message) for w in caught)
    assert "skipped 3 unreadable images" in message
    for p in bad:
        assert str(p) in message


def test_skip_bad_files_text_folder_and_video_folder(tmp_path):
    from selfsup.data.text import load_text_corpus
    from selfsup.data.video import load_video_folder
    from selfsup.errors import SkippedFilesWarning

    texts = tmp_path / "texts"
    texts.mkdir()
    (texts / "a.txt").write_text("one two three\nfour five\n")
    (texts / "b.txt").write_bytes(bytes(range(256)) * 8)  # binary
    (texts / "c.txt").write_bytes(b"")
    with pytest.raises(UserError, match="b.txt.*binary"):
        load_text_corpus(f"text:{texts}")
    with pytest.warns(SkippedFilesWarning) as caught:
        sents = list(load_text_corpus(f"text:{texts}", skip_bad_files=True))
    assert sents == [["one", "two", "three"], ["four", "five"]]
    message = str(caught[0].message)
    assert str(texts / "b.txt") in message and str(texts / "c.txt") in message

    videos = tmp_path / "videos"
    videos.mkdir()
    (videos / "good.gif").write_bytes(_gif(6, 0))
    (videos / "bad.gif").write_bytes(_gif(6, 1)[:30])
    with pytest.raises(UserError, match="bad.gif"):
        load_video_folder(str(videos), frames=3, size=8)
    with pytest.warns(SkippedFilesWarning, match="bad.gif"):
        ds = load_video_folder(str(videos), frames=3, size=8, skip_bad_files=True)
    assert ds.meta["skipped"] == 1 and len(ds.x_train) == 2


# ----------------------------------------------------------------------------- the command line
def _bad_inputs(root: Path) -> list[tuple[str, list[str]]]:
    """(--data value, extra args) pairs: one bad input per loader family, with a method that reads it."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "x.npz").write_bytes(_valid_npz(False)[:100])
    imgs = root / "imgs" / "a"
    imgs.mkdir(parents=True)
    (imgs / "good.png").write_bytes(_image_bytes(0, "PNG"))
    (imgs / "bad.png").write_bytes(b"\x89PNG garbage")
    (root / "corpus.txt").write_bytes(bytes(range(256)) * 4)
    (root / "series.csv").write_bytes(b"1,0.5,0.2\n2,1,x\n")
    (root / "edges.txt").write_bytes(b"0 1\n1 two\n")
    vids = root / "vids"
    vids.mkdir()
    (vids / "v.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(200))
    return [
        (f"npz:{root / 'x.npz'}", ["simclr"]),
        (f"folder:{root / 'imgs'}", ["simclr"]),
        (f"folder:{root / 'imgs'}", ["pca"]),
        (f"text:{root / 'corpus.txt'}", ["word2vec"]),
        (f"text:{root / 'corpus.txt'}", ["mlm"]),
        (f"series:{root / 'series.csv'}", ["cpc"]),
        (f"edgelist:{root / 'edges.txt'}", ["dgi"]),
        (f"video:{vids}", ["frame-order"]),
    ]


def test_cli_pretrain_on_bad_data_fails_cleanly(tmp_path, capsys):
    from selfsup.cli.main import main

    for data, (method, *extra) in _bad_inputs(tmp_path / "in"):
        out = tmp_path / "runs" / f"{method}-run"
        rc = main(["pretrain", method, "--data", data, "--out", str(out), "--no-progress", *extra])
        err = capsys.readouterr().err
        assert rc == 2, (data, method, err)
        assert "Traceback" not in err and err.startswith("selfsup: error: "), err
        path = data.split(":", 1)[1]
        assert path in err or str(Path(path).parent) in err, err
        assert not out.exists(), f"{method} on {data} left {out} behind"
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


def test_cli_removes_the_empty_run_dir_it_created(tmp_path, capsys):
    """word2vec creates its run directory before reading the corpus: a corpus too small for any
    vocabulary fails after that, and the (still empty) directory is removed."""
    from selfsup.cli.main import main

    corpus = tmp_path / "tiny.txt"
    corpus.write_text("just a few words\n")
    out = tmp_path / "runs" / "w2v"
    assert main(["pretrain", "word2vec", "--data", f"text:{corpus}", "--out", str(out)]) == 2
    assert "Traceback" not in capsys.readouterr().err
    assert not out.exists() and not (tmp_path / "runs").exists()


def test_cli_failure_never_removes_an_existing_directory(tmp_path, capsys):
    from selfsup.cli.main import main

    (tmp_path / "x.npz").write_bytes(b"garbage")
    out = tmp_path / "mine"
    out.mkdir()  # the user's own (empty) directory
    assert main(["pretrain", "simclr", "--data", f"npz:{tmp_path / 'x.npz'}", "--out", str(out)]) == 2
    assert out.is_dir()
    capsys.readouterr()


@fuzz(25)
@given(content=bad_bytes(_valid_npz(True)).filter(lambda b: b[:2] != b"PK" or len(b) < 2000))
def test_fuzz_cli_pretrain_npz(content):
    from selfsup.cli.main import main
    from selfsup.data.arrays import load_npz

    with tmpdir() as d:
        p = d / "data.npz"
        p.write_bytes(content)
        try:  # only inputs the loader refuses: a readable file would start a training run
            load_npz(str(p))
            assume(False)
        except UserError:
            pass
        out = d / "run"
        err = io.StringIO()
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            rc = main(["pretrain", "simclr", "--data", f"npz:{p}", "--out", str(out), "--no-progress"])
        assert rc == 2 and "Traceback" not in err.getvalue() and str(p) in err.getvalue()
        assert not out.exists()
        assert sorted(x.name for x in d.iterdir()) == ["data.npz"]
