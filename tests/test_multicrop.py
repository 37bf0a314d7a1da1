"""Multi-crop views (augment/multicrop.py): shapes, the crop groups' settings, per-sample independence, seeds."""

import dataclasses

import pytest
import torch
import torch.nn.functional as F

from selfsup.augment import Crops, ImageAugConfig, MultiCrop
from selfsup.augment.multicrop import default_local_size

# no colour, flip or blur: what is left is the crop itself
PLAIN = dict(crop_ratio_min=1.0, crop_ratio_max=1.0, flip_p=0.0, jitter_p=0.0, gray_p=0.0, blur_p=0.0, solarize_p=0.0)


def batch(n=8, c=1, s=28, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (n, c, s, s), generator=g, dtype=torch.uint8)


def test_shapes_two_global_at_full_size_n_local_at_local_size():
    mc = MultiCrop(ImageAugConfig(blur_p=0.5, solarize_p=0.2), 28, (0.3,), (0.3,), n_global=2, n_local=5,
                   local_size=12, seed=0)
    crops = mc(batch(8))
    assert isinstance(crops, Crops)
    assert crops.global_crops.shape == (2 * 8, 1, 28, 28) and crops.global_crops.dtype == torch.float32
    assert crops.local_crops.shape == (5 * 8, 1, 12, 12)
    rgb = MultiCrop(ImageAugConfig(), 32, (0.5,) * 3, (0.2,) * 3, n_local=3, local_size=16)(batch(4, c=3, s=32))
    assert rgb.global_crops.shape == (8, 3, 32, 32) and rgb.local_crops.shape == (12, 3, 16, 16)
    none = MultiCrop(ImageAugConfig(), 28, (0.0,), (1.0,), n_local=0)(batch(4))
    assert none.local_crops.shape == (0, 1, 12, 12)


def test_default_local_size_is_dinos_96_of_224():
    assert default_local_size(224) == 96
    assert default_local_size(28) == 12 and default_local_size(32) == 12
    assert default_local_size(8) == 4  # never below 4


def test_crop_groups_reuse_the_run_config_with_their_own_area():
    aug = ImageAugConfig(crop_scale_min=0.3, crop_scale_max=0.9, blur_p=0.5, solarize_p=0.2)
    mc = MultiCrop(aug, 28, (0.0,), (1.0,), local_scale=(0.05, 0.25), local_size=12)
    assert mc.global_aug.cfg == aug  # the run's augmentation, as it is
    assert mc.local_aug.cfg == dataclasses.replace(aug, crop_scale_min=0.05, crop_scale_max=0.25)
    assert mc.pipelines == [mc.global_aug, mc.local_aug]  # what a checkpoint saves


def test_whole_image_crops_are_the_resized_image():
    """With area 1 and nothing else, a global crop is the image and a local crop the image resized."""
    x = batch(4)
    mc = MultiCrop(ImageAugConfig(crop_scale_min=1.0, **PLAIN), 28, (0.0,), (1.0,), n_local=2, local_size=12,
                   local_scale=(1.0, 1.0))
    crops = mc(x)
    xf = x.float() / 255
    torch.testing.assert_close(crops.global_crops, xf.repeat(2, 1, 1, 1), atol=1e-5, rtol=0)
    small = F.interpolate(xf, size=(12, 12), mode="bilinear", align_corners=False)
    torch.testing.assert_close(crops.local_crops, small.repeat(2, 1, 1, 1), atol=1e-5, rtol=0)


def test_local_crops_cover_a_smaller_area_than_global_ones():
    """An image that is 1 in one quadrant only: a small crop is more often all-0 or all-1 than a big one."""
    x = torch.zeros(64, 1, 28, 28, dtype=torch.uint8)
    x[:, :, :14, :14] = 255
    mc = MultiCrop(ImageAugConfig(crop_scale_min=0.4, **PLAIN), 28, (0.0,), (1.0,), n_local=2, local_size=12,
                   local_scale=(0.05, 0.1), seed=1)
    crops = mc(x)

    def uniform(v):  # fraction of crops that show one colour only
        return ((v.amax(dim=(1, 2, 3)) - v.amin(dim=(1, 2, 3))) < 0.5).float().mean()

    assert uniform(crops.local_crops) > 0.5 and uniform(crops.global_crops) == 0


def test_per_sample_and_per_crop_independence():
    x = batch(1).repeat(6, 1, 1, 1)  # one image six times
    crops = MultiCrop(ImageAugConfig(), 28, (0.0,), (1.0,), n_local=3, local_size=12, seed=0)(x)
    for group, n in ((crops.global_crops, 2), (crops.local_crops, 3)):
        rows = group.flatten(1)  # (n * 6, pixels): every crop of every copy
        d = torch.cdist(rows, rows)
        off = d[~torch.eye(len(rows), dtype=torch.bool)]
        assert off.min() > 1e-3, "two crops of one image came out identical"
        assert len(rows) == n * 6


@pytest.mark.parametrize("n_local", [0, 4])
def test_same_seed_same_crops_other_seed_other_crops(n_local):
    x = batch(8)

    def make(seed):
        return MultiCrop(ImageAugConfig(blur_p=0.5), 28, (0.3,), (0.3,), n_local=n_local, local_size=12, seed=seed)

    a, b, c = make(3)(x), make(3)(x), make(4)(x)
    assert torch.equal(a.global_crops, b.global_crops) and torch.equal(a.local_crops, b.local_crops)
    assert not torch.allclose(a.global_crops, c.global_crops)
    mc = make(3)
    first, second = mc(x), mc(x)  # the stream moves on from call to call
    assert not torch.allclose(first.global_crops, second.global_crops)


def test_bad_counts_are_refused():
    with pytest.raises(ValueError):
        MultiCrop(ImageAugConfig(), 28, (0.0,), (1.0,), n_global=0)
