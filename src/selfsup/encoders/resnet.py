"""CIFAR-style ResNet-18 (3x3 stem, no max-pool) with a width multiplier."""

from __future__ import annotations

from torch import Tensor, nn


class BasicBlock(nn.Module):
    """Two 3x3 convs with a residual connection (He et al., 2016)."""

    def __init__(self, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.relu = nn.ReLU(inplace=True)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or c_in != c_out:
            self.shortcut = nn.Sequential(
                nn.Conv2d(c_in, c_out, 1, stride, bias=False), nn.BatchNorm2d(c_out)
            )

    def forward(self, x: Tensor) -> Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + self.shortcut(x))


class ResNet18(nn.Module):
    """ResNet-18 for small images; ``width`` scales every stage (1.0 = 64..512).

    Args:
        in_channels: channels of the input images.
        width: width multiplier.
    """

    def __init__(self, in_channels: int = 3, width: float = 1.0) -> None:
        super().__init__()
        chans = [max(8, int(round(c * width))) for c in (64, 128, 256, 512)]
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, chans[0], 3, 1, 1, bias=False),
            nn.BatchNorm2d(chans[0]),
            nn.ReLU(inplace=True),
        )
        blocks: list[nn.Module] = []
        c_prev = chans[0]
        for i, c in enumerate(chans):
            stride = 1 if i == 0 else 2
            blocks += [BasicBlock(c_prev, c, stride), BasicBlock(c, c, 1)]
            c_prev = c
        self.blocks = nn.Sequential(*blocks)
        self.out_dim = chans[-1]

    def forward(self, x: Tensor) -> Tensor:
        h = self.blocks(self.stem(x))  # (B, C, H/8, W/8)
        return h.mean(dim=(2, 3))  # (B, C)
