import gzip
import os

import numpy as np
import pytest
import torch
from conftest import NEED_FMNIST

from selfsup.data import load_dataset
from selfsup.data.fashion_mnist import candidate_dirs, read_idx
from selfsup.errors import UserError

HAVE_FMNIST = any((d / "train-images-idx3-ubyte.gz").exists() for d in candidate_dirs(None))


@pytest.mark.skipif(not HAVE_FMNIST, reason=NEED_FMNIST)
def test_fashion_mnist_official_split():
    d = load_dataset("fashion-mnist")
    assert d.x_train.shape == (60000, 1, 28, 28) and d.x_test.shape == (10000, 1, 28, 28)
    assert d.x_train.dtype == torch.uint8 and d.y_train.dtype == torch.int64
    assert torch.bincount(d.y_test).tolist() == [1000] * 10


def test_fashion_mnist_missing_names_the_fixes(tmp_path, monkeypatch):
    monkeypatch.setenv("SELFSUP_DATA_DIR", str(tmp_path))
    monkeypatch.setattr("selfsup.data.fashion_mnist.DEBIAN_DIR", tmp_path / "none")
    monkeypatch.setattr("selfsup.data.fashion_mnist.CACHE_DIR", tmp_path / "none2")
    with pytest.raises(UserError) as e:
        load_dataset("fashion-mnist", data_dir=str(tmp_path))
    msg = str(e.value)
    assert "not found" in msg and "--data-dir" in msg and "apt-get install dataset-fashion-mnist" in msg and "--download" in msg


def _write_idx(path, arr):
    header = bytes([0, 0, 8, arr.ndim]) + b"".join(int(s).to_bytes(4, "big") for s in arr.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + arr.astype(np.uint8).tobytes())


def test_idx_reader_roundtrip_and_truncation(tmp_path):
    a = np.arange(2 * 3 * 4).reshape(2, 3, 4) % 256
    _write_idx(tmp_path / "a.gz", a)
    assert np.array_equal(read_idx(tmp_path / "a.gz"), a)
    raw = gzip.open(tmp_path / "a.gz").read()
    with gzip.open(tmp_path / "b.gz", "wb") as f:
        f.write(raw[:-5])
    with pytest.raises(UserError, match="truncated"):
        read_idx(tmp_path / "b.gz")
    (tmp_path / "c.gz").write_bytes(b"not gzip at all")
    with pytest.raises(UserError, match="cannot read"):
        read_idx(tmp_path / "c.gz")


def test_digits():
    d = load_dataset("digits")
    assert d.x_train.shape[1:] == (1, 8, 8) and len(d.x_train) + len(d.x_test) == 1797 and d.num_classes == 10


def test_npz(tmp_path):
    x = np.random.default_rng(0).integers(0, 255, (50, 12, 12), dtype=np.uint8)
    y = np.arange(50) % 5
    np.savez(tmp_path / "d.npz", x=x, y=y)
    d = load_dataset(f"npz:{tmp_path / 'd.npz'}")
    assert d.modality == "image" and d.x_train.shape[1:] == (1, 12, 12) and len(d.x_train) == 40 and d.labeled
    np.savez(tmp_path / "v.npz", x=np.random.rand(20, 7).astype(np.float32))
    v = load_dataset(f"npz:{tmp_path / 'v.npz'}")
    assert v.modality == "vector" and not v.labeled
    np.savez(tmp_path / "bad.npz", x=np.array([[np.nan, 1.0], [1.0, 2.0]]))
    with pytest.raises(UserError, match="NaN"):
        load_dataset(f"npz:{tmp_path / 'bad.npz'}")
    np.savez(tmp_path / "noy.npz", z=np.zeros(3))
    with pytest.raises(UserError, match="no array named 'x'"):
        load_dataset(f"npz:{tmp_path / 'noy.npz'}")
    np.savez(tmp_path / "wrongy.npz", x=x, y=y[:10])
    with pytest.raises(UserError, match="expected"):
        load_dataset(f"npz:{tmp_path / 'wrongy.npz'}")
    (tmp_path / "junk.npz").write_bytes(os.urandom(100))
    with pytest.raises(UserError, match="cannot read"):
        load_dataset(f"npz:{tmp_path / 'junk.npz'}")
    with pytest.raises(UserError, match="does not exist"):
        load_dataset(f"npz:{tmp_path / 'none.npz'}")


def test_folder(tmp_path):
    from PIL import Image

    rng = np.random.default_rng(0)
    for c in ("cat", "dog"):
        (tmp_path / c).mkdir()
        for i in range(6):
            Image.fromarray(rng.integers(0, 255, (40, 30, 3), dtype=np.uint8)).save(tmp_path / c / f"{i}.png")
    d = load_dataset(f"folder:{tmp_path}", image_size=16)
    assert d.x_train.shape[1:] == (3, 16, 16) and d.classes == ["cat", "dog"] and d.labeled
    assert len(d.x_train) + len(d.x_test) == 12
    (tmp_path / "dog" / "broken.png").write_bytes(b"garbage")
    with pytest.raises(UserError, match="broken.png"):
        load_dataset(f"folder:{tmp_path}", image_size=16)
    with pytest.warns(UserWarning, match="skipped 1"):
        d2 = load_dataset(f"folder:{tmp_path}", image_size=16, skip_bad_files=True)
    assert len(d2.x_train) + len(d2.x_test) == 12
    unl = tmp_path / "unlabeled"
    unl.mkdir()
    for i in range(5):
        Image.fromarray(rng.integers(0, 255, (20, 20), dtype=np.uint8)).save(unl / f"{i}.jpg")
    u = load_dataset(f"folder:{unl}", image_size=8)
    assert u.x_train.shape[1:] == (1, 8, 8) and not u.labeled


def test_unknown_dataset_suggests():
    with pytest.raises(UserError, match="did you mean 'fashion-mnist'"):
        load_dataset("fashion_mnist")
    with pytest.raises(UserError, match="needs a path"):
        load_dataset("npz")
