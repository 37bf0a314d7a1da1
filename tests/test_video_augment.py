"""Frame tuples, time-contrastive sampling and the patch tracker."""

import pytest
import torch

from selfsup.augment.frames import (
    gather_frames,
    motion_windows,
    order_tuples,
    permutation_classes,
    permutation_tuples,
    time_contrastive_indices,
)
from selfsup.augment.tracking import (
    block_match,
    detect_moving_patches,
    patch_in_frame,
    track_patches,
)
from selfsup.errors import UserError


def moving_squares(b=6, t=12, size=64, side=8, seed=0):
    """Clips of one bright square each, moving with integer velocity; returns clips and true top-lefts (B, T, 2)."""
    g = torch.Generator().manual_seed(seed)
    clips = torch.zeros(b, t, 1, size, size, dtype=torch.uint8)
    truth = torch.zeros(b, t, 2, dtype=torch.long)
    for i in range(b):
        v = torch.randint(-3, 4, (2,), generator=g)
        v[0] = v[0] if v[0] != 0 else 2
        p0 = torch.randint(24, 33, (2,), generator=g) - v * (t // 2)  # stays >= 6 px from the borders
        for s in range(t):
            x, y = (p0 + v * s).tolist()
            clips[i, s, 0, y : y + side, x : x + side] = 200
            truth[i, s] = torch.tensor([x, y])
    return clips, truth


def test_order_labels_match_the_applied_order():
    clips = torch.randint(0, 255, (64, 20, 1, 8, 8), dtype=torch.uint8)
    idx, labels = order_tuples(clips, torch.Generator().manual_seed(0), span=10)
    d = idx[:, 1:] - idx[:, :-1]
    monotonic = ((d > 0).all(1) | (d < 0).all(1)).long()
    assert torch.equal(monotonic, labels)
    assert 0.25 < labels.float().mean() < 0.75
    # every tuple lies inside one window of `span` frames; b and d are the tuple's ends
    assert ((idx.max(1).values - idx.min(1).values) <= 9).all()
    ends = torch.stack([idx[:, 0], idx[:, 2]], 1).sort(1).values
    inside = (idx[:, 1] > ends[:, 0]) & (idx[:, 1] < ends[:, 1])
    assert torch.equal(inside.long(), labels)  # positives: middle frame between b and d; negatives: outside
    # both directions of time are used for positives
    pos = idx[labels == 1]
    assert (pos[:, 0] < pos[:, 2]).any() and (pos[:, 0] > pos[:, 2]).any()


def test_order_tuples_same_seed_same_output():
    clips = torch.randint(0, 255, (16, 12, 1, 8, 8), dtype=torch.uint8)
    a = order_tuples(clips, torch.Generator().manual_seed(5), span=8)
    b = order_tuples(clips, torch.Generator().manual_seed(5), span=8)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])


def test_permutation_labels_match_the_permutation():
    table = permutation_classes(4)
    assert len(table) == 12
    clips = torch.randint(0, 255, (50, 12, 1, 4, 4), dtype=torch.uint8)
    idx, labels = permutation_tuples(clips, torch.Generator().manual_seed(1), n=4, span=8)
    ranks = idx.argsort(1).argsort(1)  # the position of each frame in time order = the permutation applied
    for r, lab in zip(ranks, labels):
        assert torch.equal(r, table[lab]) or torch.equal(r, table[lab].flip(0))


def test_windows_follow_the_motion():
    clips = torch.zeros(8, 20, 1, 8, 8, dtype=torch.uint8)
    clips[:, 12:17, 0, 2:5, 2:5] = torch.arange(1, 6, dtype=torch.uint8).view(1, 5, 1, 1) * 40  # frames 12..16 change
    starts = motion_windows(clips, 6, 0.9, torch.Generator().manual_seed(0))
    assert ((starts >= 11) & (starts <= 13)).all()  # windows holding most of the change
    anywhere = motion_windows(clips.repeat(8, 1, 1, 1, 1), 6, 0.0, torch.Generator().manual_seed(0))
    assert anywhere.min() < 5 and anywhere.max() == 14  # quantile 0: every window is eligible


def test_time_contrastive_positives_and_negatives_come_from_their_windows():
    a, p, n = time_contrastive_indices(500, 20, torch.Generator().manual_seed(0), pos_window=2, neg_gap=8)
    dp, dn = (p - a).abs(), (n - a).abs()
    assert ((dp >= 1) & (dp <= 2)).all()
    assert (dn >= 8).all()
    assert set(dp.tolist()) == {1, 2} and n.max() <= 19 and n.min() >= 0
    with pytest.raises(UserError, match="8 or more apart") as e:
        time_contrastive_indices(4, 6, torch.Generator(), pos_window=1, neg_gap=8)
    assert "neg_gap=5" in e.value.hint


def test_gather_frames():
    clips = torch.arange(2 * 5).view(2, 5, 1, 1, 1)
    out = gather_frames(clips, torch.tensor([[4, 0], [1, 1]]))
    assert out.flatten().tolist() == [4, 0, 6, 6]


@pytest.mark.parametrize("levels", [1, 2])
def test_tracker_follows_a_moving_square_within_one_pixel(levels):
    clips, truth = moving_squares()
    tr = track_patches(clips, torch.zeros(len(clips), dtype=torch.long), clips.shape[1], patch=12, radius=4,
                       k=1, levels=levels)
    assert tr.valid.all()
    moved = tr.positions[:, 0] - tr.positions[:, 0, :1]  # (B, T, 2) displacement of the tracked patch
    true = truth - truth[:, :1]
    err = (moved - true).abs()
    assert err.max() <= 1
    # the patch contains the square at every frame
    for b in range(len(clips)):
        for t in range(clips.shape[1]):
            x, y = tr.positions[b, 0, t].tolist()
            assert clips[b, t, 0, y : y + 12, x : x + 12].sum() > 0


def test_tracker_ignores_still_clips_and_finds_two_movers():
    still = torch.full((1, 6, 1, 32, 32), 30, dtype=torch.uint8)
    _, valid = detect_moving_patches(still[:, 0], still[:, 1], 8, k=1)
    assert not valid.any()
    two = torch.zeros(1, 2, 1, 48, 48, dtype=torch.uint8)
    two[0, 0, 0, 2:8, 2:8] = 255
    two[0, 1, 0, 2:8, 4:10] = 255
    two[0, 0, 0, 36:42, 36:42] = 255
    two[0, 1, 0, 38:44, 36:42] = 255
    pos, valid = detect_moving_patches(two[:, 0], two[:, 1], 12, k=2)
    assert valid.all()
    centers = sorted(pos[0].tolist())
    assert centers[0][0] <= 4 and centers[1][0] >= 30  # one patch per square


def test_block_match_recovers_a_shift():
    g = torch.Generator().manual_seed(0)
    frame = torch.rand(3, 40, 40, generator=g)
    nxt = torch.roll(frame, shifts=(2, -3), dims=(1, 2))  # down 2, left 3
    pos = torch.tensor([[12, 12], [10, 14], [14, 10]])
    new = block_match(frame, nxt, pos, patch=10, radius=4)
    assert (new - pos).tolist() == [[-3, 2]] * 3


def test_patch_in_frame_keeps_only_the_patch():
    frames = torch.ones(2, 1, 10, 10)
    out = patch_in_frame(frames, torch.tensor([[1, 2], [5, 5]]), 3)
    assert out.sum().item() == 18 and out[0, 0, 2:5, 1:4].sum() == 9
