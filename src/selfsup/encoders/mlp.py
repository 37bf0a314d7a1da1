"""An MLP encoder for flat or small inputs (any shape is flattened)."""

from __future__ import annotations

from torch import Tensor, nn


class MLPEncoder(nn.Module):
    """Flatten -> [Linear -> BN -> ReLU] x depth.

    Args:
        in_dim: number of input features after flattening.
        hidden_dim: width of every layer (and the output dimension).
        depth: number of layers.
    """

    def __init__(self, in_dim: int, hidden_dim: int = 512, depth: int = 2) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Flatten()]
        d = in_dim
        for _ in range(depth):
            layers += [nn.Linear(d, hidden_dim, bias=False), nn.BatchNorm1d(hidden_dim), nn.ReLU(inplace=True)]
            d = hidden_dim
        self.net = nn.Sequential(*layers)
        self.out_dim = hidden_dim

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x.float())  # (B, hidden_dim)
