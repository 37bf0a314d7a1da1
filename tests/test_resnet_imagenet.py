"""The ImageNet-style ResNets: the published parameter counts (torchvision's, without the classifier), the
stem's 4x and the stages' further 8x downsampling, and the names they are registered under."""

import pytest
import torch

from selfsup.encoders import build_encoder
from selfsup.encoders.resnet import ResNet18


@pytest.mark.parametrize("name,params,dim", [("resnet18-imagenet", 11_176_512, 512), ("resnet50", 23_508_032, 2048)])
def test_parameter_counts_and_feature_size(name, params, dim):
    enc = build_encoder(name, (3, 224, 224))
    assert sum(p.numel() for p in enc.parameters()) == params
    assert enc.out_dim == dim
    assert enc(torch.randn(2, 3, 64, 64)).shape == (2, dim)


def test_the_stem_and_stages_downsample_32x():
    enc = build_encoder("resnet50", (3, 64, 64), 0.25)
    h = enc.blocks(enc.stem(torch.randn(1, 3, 64, 64)))
    assert h.shape[-2:] == (2, 2) and h.shape[1] == enc.out_dim == 512


def test_resnet18_keeps_its_cifar_meaning():
    enc = build_encoder("resnet18", (3, 32, 32), 0.25)
    assert isinstance(enc, ResNet18)
    assert enc.stem[0].kernel_size == (3, 3)
