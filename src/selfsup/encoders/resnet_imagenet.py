"""ImageNet-style ResNets (He et al., 2016, table 1): a 7x7 stride-2 stem and a 3x3 stride-2 max-pool, then
four stages; ResNet-18 of basic blocks (2-2-2-2), ResNet-50 of bottleneck blocks (3-4-6-3, 4x expansion).
For 224-px images (the CIFAR-style ``resnet18`` of :mod:`selfsup.encoders.resnet` keeps small images whole)."""

from __future__ import annotations

from torch import Tensor, nn

from selfsup.encoders.resnet import BasicBlock


class Bottleneck(nn.Module):
    """1x1 reduce -> 3x3 (stride here, as in torchvision's "ResNet v1.5") -> 1x1 expand, with a residual."""

    expansion = 4

    def __init__(self, c_in: int, c_mid: int, stride: int) -> None:
        super().__init__()
        c_out = c_mid * self.expansion
        self.conv1 = nn.Conv2d(c_in, c_mid, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_mid)
        self.conv2 = nn.Conv2d(c_mid, c_mid, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_mid)
        self.conv3 = nn.Conv2d(c_mid, c_out, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(c_out)
        self.relu = nn.ReLU(inplace=True)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or c_in != c_out:
            self.shortcut = nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride, bias=False), nn.BatchNorm2d(c_out))

    def forward(self, x: Tensor) -> Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + self.shortcut(x))


class ImageNetResNet(nn.Module):
    """ResNet-18 (``depth=18``) or ResNet-50 (``depth=50``) with the ImageNet stem; ``forward`` returns the
    globally pooled features (B, out_dim): 512 for 18, 2048 for 50 at ``width`` 1.

    Args:
        depth: 18 or 50.
        in_channels: channels of the input images.
        width: multiplier of every stage's channels (1.0 = 64..512 before expansion).
    """

    LAYOUTS = {18: (BasicBlock, (2, 2, 2, 2)), 50: (Bottleneck, (3, 4, 6, 3))}

    def __init__(self, depth: int = 50, in_channels: int = 3, width: float = 1.0) -> None:
        super().__init__()
        if depth not in self.LAYOUTS:
            raise ValueError(f"depth must be one of {sorted(self.LAYOUTS)}, got {depth}")
        block, counts = self.LAYOUTS[depth]
        expansion = getattr(block, "expansion", 1)
        chans = [max(8, int(round(c * width))) for c in (64, 128, 256, 512)]
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, chans[0], 7, 2, 3, bias=False),
            nn.BatchNorm2d(chans[0]),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(3, 2, 1),
        )
        blocks: list[nn.Module] = []
        c_prev = chans[0]
        for i, (c, n) in enumerate(zip(chans, counts)):
            for j in range(n):
                stride = 2 if i > 0 and j == 0 else 1
                if expansion == 1:
                    blocks.append(BasicBlock(c_prev, c, stride))
                else:
                    blocks.append(block(c_prev, c, stride))
                c_prev = c * expansion
        self.blocks = nn.Sequential(*blocks)
        self.out_dim = c_prev

    def forward(self, x: Tensor) -> Tensor:
        h = self.blocks(self.stem(x))  # (B, C, H/32, W/32)
        return h.mean(dim=(2, 3))  # (B, C)
