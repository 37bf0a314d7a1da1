"""GCN encoder for node-level methods (DGI, GRACE), built on PyTorch Geometric's ``GCNConv``.

torch_geometric is imported when an encoder is built, so ``import selfsup.encoders`` works without
the ``graph`` extra.
"""

from __future__ import annotations

from torch import Tensor, nn

from selfsup.errors import UserError


def _gcn_conv():
    try:
        from torch_geometric.nn import GCNConv
    except ImportError as e:  # pragma: no cover - depends on the install
        raise UserError("the GCN encoder needs PyTorch Geometric", hint="pip install 'selfsup[graph]'") from e
    return GCNConv


class GCNEncoder(nn.Module):
    """``layers`` GCN layers, each followed by PReLU (or ReLU); forward(x, edge_index) -> (N, hidden).

    DGI (Velickovic et al., 2019) uses one layer of 512 with PReLU on transductive graphs.
    """

    def __init__(self, in_dim: int, hidden_dim: int = 512, layers: int = 1, activation: str = "prelu",
                 out_dim: int | None = None) -> None:
        super().__init__()
        conv = _gcn_conv()
        dims = [in_dim] + [hidden_dim] * (layers - 1) + [out_dim or hidden_dim]
        self.convs = nn.ModuleList(conv(a, b, cached=True) for a, b in zip(dims[:-1], dims[1:]))
        act = {"prelu": lambda d: nn.PReLU(d), "relu": lambda d: nn.ReLU()}[activation]
        self.acts = nn.ModuleList(act(b) for b in dims[1:])
        self.out_dim = dims[-1]

    def forward(self, x: Tensor, edge_index: Tensor) -> Tensor:
        for conv, act in zip(self.convs, self.acts):
            x = act(conv(x, edge_index))  # (N, D)
        return x
