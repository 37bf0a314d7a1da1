"""A small 4-layer CNN for small images (28x28 Fashion-MNIST: 24.3 MFLOP/image)."""

from __future__ import annotations

from torch import Tensor, nn


def conv_bn_relu(c_in: int, c_out: int, stride: int) -> nn.Sequential:
    """Conv2d 3x3 (padding 1, no bias) -> BatchNorm2d -> ReLU."""
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, kernel_size=3, stride=stride, padding=1, bias=False),
        nn.BatchNorm2d(c_out),
        nn.ReLU(inplace=True),
    )


class SmallCNN(nn.Module):
    """4 x [conv3x3-BN-ReLU] with channels in->32 (s1), 32->64 (s2), 64->128 (s2),
    128->256 (s2), then global average pooling to a 256-d vector.

    Args:
        in_channels: channels of the input images.
        width: channels of the first layer (doubles at each of the next three).
    """

    def __init__(self, in_channels: int = 1, width: int = 32) -> None:
        super().__init__()
        w = width
        self.features = nn.Sequential(
            conv_bn_relu(in_channels, w, 1),
            conv_bn_relu(w, 2 * w, 2),
            conv_bn_relu(2 * w, 4 * w, 2),
            conv_bn_relu(4 * w, 8 * w, 2),
        )
        self.out_dim = 8 * w

    def forward(self, x: Tensor) -> Tensor:
        h = self.features(x)  # (B, 8w, H/8, W/8)
        return h.mean(dim=(2, 3))  # (B, 8w)
