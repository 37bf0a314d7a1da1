import torch

from selfsup.augment import ImageAugConfig, ImageAugment, MultiView
from selfsup.augment.image import crop_flip_params


def batch(n=16, c=1, s=28):
    g = torch.Generator().manual_seed(0)
    return torch.randint(0, 256, (n, c, s, s), generator=g, dtype=torch.uint8)


def test_shapes_and_normalisation():
    x = batch()
    aug = ImageAugment(ImageAugConfig(blur_p=0.5, solarize_p=0.2), 24, (0.5,), (0.25,), seed=0)
    v = aug(x)
    assert v.shape == (16, 1, 24, 24) and v.dtype == torch.float32
    assert v.min() >= (0 - 0.5) / 0.25 - 1e-5 and v.max() <= (1 - 0.5) / 0.25 + 1e-5
    rgb = ImageAugment(ImageAugConfig(blur_p=1.0), 28, (0.5, 0.5, 0.5), (0.2, 0.2, 0.2))(batch(c=3))
    assert rgb.shape == (16, 3, 28, 28)


def test_same_seed_same_views_different_seed_different():
    x = batch()
    a = ImageAugment(ImageAugConfig(), 28, (0.0,), (1.0,), seed=3)(x)
    b = ImageAugment(ImageAugConfig(), 28, (0.0,), (1.0,), seed=3)(x)
    c = ImageAugment(ImageAugConfig(), 28, (0.0,), (1.0,), seed=4)(x)
    assert torch.equal(a, b)
    assert not torch.allclose(a, c)


def test_per_sample_independence():
    # the same image repeated across the batch must get different views
    x = batch(1).repeat(8, 1, 1, 1)
    v = ImageAugment(ImageAugConfig(), 28, (0.0,), (1.0,), seed=0)(x)
    diffs = [(v[0] - v[i]).abs().max().item() for i in range(1, 8)]
    assert min(diffs) > 1e-3


def test_state_restore_reproduces_next_views():
    x = batch()
    aug = ImageAugment(ImageAugConfig(), 28, (0.0,), (1.0,), seed=0)
    aug(x)
    state = aug.state_dict()
    nxt = aug(x)
    aug2 = ImageAugment(ImageAugConfig(), 28, (0.0,), (1.0,), seed=99)
    aug2.load_state_dict(state)
    assert torch.equal(aug2(x), nxt)


def test_identity_crop_without_jitter_returns_input():
    cfg = ImageAugConfig(crop_scale_min=1.0, crop_ratio_min=1.0, crop_ratio_max=1.0, flip_p=0.0, jitter_p=0.0, gray_p=0.0)
    x = batch()
    v = ImageAugment(cfg, 28, (0.0,), (1.0,))(x)
    assert torch.allclose(v, x.float() / 255, atol=1e-5)


def test_flip_only_mirrors():
    cfg = ImageAugConfig(crop_scale_min=1.0, crop_ratio_min=1.0, crop_ratio_max=1.0, flip_p=1.0, jitter_p=0.0, gray_p=0.0)
    x = batch()
    v = ImageAugment(cfg, 28, (0.0,), (1.0,))(x)
    assert torch.allclose(v, x.float().flip(-1) / 255, atol=1e-5)


def test_crop_params_stay_inside_image():
    g = torch.Generator().manual_seed(0)
    theta = crop_flip_params(g, 1000, (0.08, 1.0), (0.75, 4 / 3), 0.5, torch.device("cpu"))
    w, h = theta[:, 0, 0].abs(), theta[:, 1, 1]
    assert (theta[:, 0, 2].abs() <= 1 - w + 1e-6).all() and (theta[:, 1, 2].abs() <= 1 - h + 1e-6).all()
    assert (theta[:, 0, 0] < 0).float().mean().item() == __import__("pytest").approx(0.5, abs=0.06)


def test_multiview():
    views = MultiView([ImageAugment(ImageAugConfig(), 20, (0.0,), (1.0,), seed=i) for i in range(3)])(batch())
    assert len(views) == 3 and all(v.shape == (16, 1, 20, 20) for v in views)


def test_blur_kernel_gives_the_gaussian_of_the_drawn_sigma():
    """blur_kernel = 2*ceil(3 sigma)+1 blurs a point into the Gaussian of that sigma (as PIL's GaussianBlur does
    in lightly's pipeline); the default ~10%-of-the-side kernel (3x3 at 28 px) cuts it short."""
    import math

    import pytest

    from selfsup.augment.image import blur_kernel_for_sigma, random_blur
    from selfsup.errors import UserError

    x = torch.zeros(1, 1, 28, 28)
    x[0, 0, 14, 14] = 1.0
    r = torch.arange(28, dtype=torch.float32) - 14
    g = torch.exp(-(r[:, None] ** 2 + r[None, :] ** 2) / (2 * 2.0 ** 2))
    sigma2 = dict(blur_p=1.0, blur_sigma_min=2.0, blur_sigma_max=2.0)
    k = blur_kernel_for_sigma(2.0)
    assert k == 13
    full = random_blur(x, torch.Generator().manual_seed(0), ImageAugConfig(**sigma2, blur_kernel=k))[0, 0]
    inside = (r.abs()[:, None] <= 6) & (r.abs()[None, :] <= 6)
    want = torch.where(inside, g, torch.zeros(())) / g[inside].sum()
    assert torch.allclose(full, want, atol=1e-4)
    short = random_blur(x, torch.Generator().manual_seed(0), ImageAugConfig(**sigma2))[0, 0]
    assert short[14, 14] > 2 * full[14, 14]  # a 3x3 kernel keeps far more of the point at its centre
    assert math.isclose(float(short.sum()), 1.0, rel_tol=1e-5) and short[14, 17] == 0
    for bad in (2, 4, -1):
        with pytest.raises(UserError, match="blur_kernel"):
            ImageAugConfig(blur_kernel=bad).validate()
