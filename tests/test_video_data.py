"""moving-fashion-mnist generator and video:PATH loader."""

import numpy as np
import pytest
import torch

from selfsup.data.base import ArrayDataset
from selfsup.data.video import (
    MovingFashionConfig,
    bounce_positions,
    direction_of,
    frame_task,
    load_video_folder,
    moving_fashion,
)
from selfsup.errors import UserError


def fake_fashion(n_train=40, n_test=30):
    """Items whose every pixel value names the item: train items 1..n_train, test items 101..; class = id % 10."""
    def items(ids):
        x = torch.zeros(len(ids), 1, 28, 28, dtype=torch.uint8)
        for i, v in enumerate(ids):
            x[i, 0, 4:24, 6:22] = v
        return x

    tr, te = list(range(1, n_train + 1)), list(range(101, 101 + n_test))
    return ArrayDataset("fake", items(tr), torch.tensor(tr) % 10, items(te), torch.tensor(te) % 10,
                        classes=[str(i) for i in range(10)])


def small_cfg(**kw):
    base = dict(train_clips=12, test_clips=8, frames=10, canvas=40, seed=3)
    return MovingFashionConfig(**{**base, **kw})


def test_generator_is_deterministic_for_a_seed():
    a, b = moving_fashion(small_cfg(), fake_fashion()), moving_fashion(small_cfg(), fake_fashion())
    c = moving_fashion(small_cfg(seed=4), fake_fashion())
    assert torch.equal(a.x_train, b.x_train) and torch.equal(a.x_test, b.x_test)
    assert torch.equal(a.clip_meta["train"]["classes"], b.clip_meta["train"]["classes"])
    assert not torch.equal(a.x_train, c.x_train)
    assert a.x_train.shape == (12, 10, 1, 40, 40) and a.x_train.dtype == torch.uint8
    assert a.input_shape == (1, 40, 40)


def test_train_and_test_clips_use_disjoint_items():
    d = moving_fashion(small_cfg(train_clips=30, test_clips=30), fake_fashion())
    train_vals = set(torch.unique(d.x_train).tolist()) - {0}
    test_vals = set(torch.unique(d.x_test).tolist()) - {0}
    assert train_vals and test_vals
    assert train_vals <= set(range(1, 41)) and test_vals <= set(range(101, 131))


def test_metadata_matches_the_pixels():
    d = moving_fashion(small_cfg(min_items=1, max_items=1), fake_fashion())
    m = d.clip_meta["train"]
    for i in range(len(d.x_train)):
        value = int(d.x_train[i].max())  # the one item's id
        assert int(m["classes"][i, 0]) == value % 10
        assert m["classes"].shape[1] == 1 and int(m["num_items"][i]) == 1
        # the item is drawn at the rounded recorded position in every frame
        x, y = np.rint(m["positions"][i, 5, 0].numpy()).astype(int)
        assert int(d.x_train[i, 5, 0, y + 4, x + 6]) == value


def test_items_bounce_inside_the_canvas():
    start = np.array([[1.0, 5.0]])
    v = np.array([[-3.0, 2.5]])
    p = bounce_positions(start, v, 30, 12.0)
    assert p.min() >= 0 and p.max() <= 12.0
    step = np.abs(np.diff(p, axis=0))
    assert np.allclose(step.max(axis=(0, 1)), [3.0, 2.5])  # speed is kept through bounces
    assert p[1, 0, 0] == pytest.approx(2.0)  # 1 - 3 reflects to 2


def test_direction_labels():
    v = np.array([[1.0, 0.1], [0.0, 2.0], [-1.0, 0.2], [0.1, -3.0]])
    assert direction_of(v).tolist() == [0, 1, 2, 3]


def test_two_items_occlude():
    d = moving_fashion(small_cfg(min_items=2, max_items=2, train_clips=40), fake_fashion())
    # a frame never holds a blend: every non-zero pixel is one of the clip's two item ids
    for i in range(len(d.x_train)):
        vals = set(torch.unique(d.x_train[i]).tolist()) - {0}
        assert len(vals) <= 2


def test_frame_task_uses_one_item_clips_with_their_class():
    d = moving_fashion(small_cfg(train_clips=30, test_clips=20), fake_fashion())
    f = frame_task(d, per_clip=3)
    n1 = int((d.clip_meta["train"]["num_items"] == 1).sum())
    assert len(f.x_train) == 3 * n1 and f.x_train.shape[1:] == (1, 40, 40)
    ids = f.x_train.reshape(len(f.x_train), -1).max(1).values
    assert torch.equal(ids.long() % 10, f.y_train)


def test_bad_generator_settings_are_user_errors():
    with pytest.raises(UserError, match="canvas"):
        moving_fashion(small_cfg(canvas=20), fake_fashion())
    with pytest.raises(UserError, match="min_items"):
        moving_fashion(small_cfg(min_items=3, max_items=2), fake_fashion())


# --------------------------------------------------------------------------- video:PATH
def _write_video(path, frames):
    iio = pytest.importorskip("imageio.v3")
    pytest.importorskip("av")
    iio.imwrite(path, frames, plugin="pyav", codec="libx264", fps=10)


def test_video_folder_of_files_and_frame_folders(tmp_path):
    rng = np.random.default_rng(0)
    _write_video(tmp_path / "a.mp4", rng.integers(0, 255, (24, 48, 48, 3), dtype=np.uint8))
    seq = tmp_path / "seq"
    seq.mkdir()
    from PIL import Image

    for i in range(10):
        Image.fromarray(rng.integers(0, 255, (30, 30, 3), dtype=np.uint8)).save(seq / f"{i:03d}.png")
    d = load_video_folder(str(tmp_path), frames=5, size=16, test_fraction=0.0)
    assert d.x_train.shape == (4 + 2, 5, 3, 16, 16) and d.x_train.dtype == torch.uint8
    assert d.input_shape == (3, 16, 16) and not d.labeled
    g = load_video_folder(str(tmp_path), frames=5, size=16, gray=True, test_fraction=0.5)
    assert g.x_train.shape[2] == 1 and g.x_test is not None


def test_corrupt_and_empty_video_files_give_clear_errors(tmp_path):
    pytest.importorskip("imageio")
    pytest.importorskip("av")  # .mp4 files need PyAV: without it the error is the missing package (test_defects)
    (tmp_path / "empty.mp4").write_bytes(b"")
    with pytest.raises(UserError, match="empty.mp4 is empty"):
        load_video_folder(str(tmp_path))
    (tmp_path / "empty.mp4").unlink()
    (tmp_path / "broken.mp4").write_bytes(b"\x00\x01garbage" * 100)
    with pytest.raises(UserError, match="cannot decode video file .*broken.mp4"):
        load_video_folder(str(tmp_path))
    with pytest.raises(UserError, match="no clip"):  # skipping the only file leaves nothing
        with pytest.warns(UserWarning, match="skipped 1"):
            load_video_folder(str(tmp_path), skip_bad_files=True)


def test_missing_or_empty_folder(tmp_path):
    with pytest.raises(UserError, match="does not exist"):
        load_video_folder(str(tmp_path / "nope"))
    with pytest.raises(UserError, match="no videos found"):
        load_video_folder(str(tmp_path))
