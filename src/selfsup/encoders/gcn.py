"""GCN encoder for node-level methods (DGI, GRACE), built on PyTorch Geometric's ``GCNConv``.

torch_geometric is imported when an encoder is built, so ``import selfsup.encoders`` works without
the ``graph`` extra.

The symmetric normalisation ``D^-1/2 (A + I) D^-1/2`` of a graph is computed once per
``edge_index`` tensor and reused while that same tensor object is passed again (DGI trains on one
fixed graph); a different tensor (GRACE's edge-dropped views, another graph at embedding time)
is normalised afresh, so the cache can never serve a stale graph.
"""

from __future__ import annotations

import warnings
import weakref
from typing import Any

import torch
from torch import Tensor, nn

from selfsup.errors import UserError


def _pyg() -> tuple[Any, Any]:
    try:
        from torch_geometric.nn import GCNConv
        from torch_geometric.nn.conv.gcn_conv import gcn_norm
    except ImportError as e:  # pragma: no cover - depends on the install
        raise UserError("the GCN encoder needs PyTorch Geometric", hint="pip install 'selfsup[graph]'") from e
    return GCNConv, gcn_norm


def normalized_adjacency(edge_index: Tensor, num_nodes: int, gcn_norm: Any = None) -> Tensor:
    """``D^-1/2 (A + I) D^-1/2`` of ``edge_index`` (2, E) as a sparse CSR (N, N) matrix indexed
    [target, source], the transposed adjacency that PyG's ``GCNConv`` multiplies with (sparse
    matrix products are several times faster on CPU than gather/scatter message passing)."""
    if gcn_norm is None:
        gcn_norm = _pyg()[1]
    ei, w = gcn_norm(edge_index, None, num_nodes, add_self_loops=True)  # (2, E + N), (E + N,)
    src, dst = ei[0], ei[1]
    order = torch.argsort(dst * num_nodes + src)
    col, val = src[order], w[order]
    crow = torch.zeros(num_nodes + 1, dtype=torch.long, device=ei.device)
    crow[1:] = torch.cumsum(torch.bincount(dst, minlength=num_nodes), 0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "sparse CSR support is in beta"
        return torch.sparse_csr_tensor(crow, col, val, (num_nodes, num_nodes))


_ACTIVATIONS = {"prelu": lambda d: nn.PReLU(d), "relu": lambda d: nn.ReLU(), "elu": lambda d: nn.ELU()}


class GCNEncoder(nn.Module):
    """``layers`` GCN layers, each followed by an activation; forward(x, edge_index) -> (N, out_dim).

    DGI (Velickovic et al., 2019) uses one layer of 512 with PReLU on transductive graphs;
    GRACE (Zhu et al., 2020) two layers (2 * out, out) with ReLU on Cora.

    Args:
        in_dim: node feature width F.
        hidden_dim: width of the hidden layers (and of the output when ``out_dim`` is None).
        layers: number of GCN layers (>= 1).
        activation: "prelu", "relu" or "elu".
        out_dim: width of the last layer (default ``hidden_dim``).
        normalize_rows: divide each node's features by their L1 norm before the first layer (the
            DGI and GRACE preprocessing of bag-of-words features; all-zero rows stay zero).
    """

    def __init__(self, in_dim: int, hidden_dim: int = 512, layers: int = 1, activation: str = "prelu",
                 out_dim: int | None = None, normalize_rows: bool = False) -> None:
        super().__init__()
        if layers < 1 or hidden_dim < 1 or in_dim < 1:
            raise UserError(f"GCN encoder needs in_dim, hidden_dim and layers >= 1 (got {in_dim}, {hidden_dim}, {layers})")
        if activation not in _ACTIVATIONS:
            raise UserError(f"unknown GCN activation '{activation}'", hint=f"choose one of {', '.join(_ACTIVATIONS)}")
        conv, self._gcn_norm = _pyg()
        dims = [in_dim] + [hidden_dim] * (layers - 1) + [out_dim or hidden_dim]
        # normalize=False: the normalised edge weights come from _normalized() (cached per graph)
        self.convs = nn.ModuleList(conv(a, b, normalize=False) for a, b in zip(dims[:-1], dims[1:]))
        self.acts = nn.ModuleList(_ACTIVATIONS[activation](b) for b in dims[1:])
        self.in_dim, self.out_dim = in_dim, dims[-1]
        self.normalize_rows = normalize_rows
        self._cache: tuple[Any, int, int, Tensor] | None = None

    def _normalized(self, edge_index: Tensor, num_nodes: int) -> Tensor:
        """The normalised adjacency as a sparse CSR matrix adj_t[target, source] (N, N)."""
        c = self._cache
        if c is not None and c[0]() is edge_index and c[1] == edge_index._version and c[2] == num_nodes:
            return c[3]
        adj_t = normalized_adjacency(edge_index, num_nodes, self._gcn_norm)
        self._cache = (weakref.ref(edge_index), edge_index._version, num_nodes, adj_t)
        return adj_t

    def _inputs(self, x: Tensor) -> Tensor:
        if x.shape[-1] != self.in_dim:
            raise UserError(f"the GCN encoder expects {self.in_dim} node features, got {x.shape[-1]}")
        if self.normalize_rows:
            x = x / x.abs().sum(1, keepdim=True).clamp_min(1e-12)  # (N, F), rows of L1 norm 1
        return x

    def forward(self, x: Tensor, edge_index: Tensor) -> Tensor:
        x = self._inputs(x)
        adj_t = self._normalized(edge_index, x.shape[0])
        if adj_t.dtype != x.dtype:
            adj_t = adj_t.to(x.dtype)
        for conv, act in zip(self.convs, self.acts):
            x = act(conv(x, adj_t))  # (N, D)
        return x

    def forward_pair(self, x: Tensor, perm: Tensor, edge_index: Tensor) -> tuple[Tensor, Tensor]:
        """``(forward(x), forward(x[perm]))`` on one graph, sharing the first feature transform.

        A row permutation commutes with the first layer's linear map (``lin(x[perm]) ==
        lin(x)[perm]``), so DGI's corrupted graph costs no second (N, F) x (F, D) product, the
        largest cost of a step; both propagations are one sparse product on (N, 2D) columns.
        Row normalisation commutes with the permutation too.
        """
        x = self._inputs(x)
        adj_t = self._normalized(edge_index, x.shape[0])
        if adj_t.dtype != x.dtype:
            adj_t = adj_t.to(x.dtype)
        conv, act = self.convs[0], self.acts[0]
        xw = conv.lin(x)  # (N, D)
        both = conv.propagate(adj_t, x=torch.cat([xw, xw[perm]], dim=1), edge_weight=None)  # (N, 2D)
        if conv.bias is not None:
            both = both + conv.bias.repeat(2)
        d = xw.shape[1]
        h, hp = act(both[:, :d]), act(both[:, d:])  # (N, D) each
        for conv, act in zip(self.convs[1:], self.acts[1:]):
            h, hp = act(conv(h, adj_t)), act(conv(hp, adj_t))
        return h, hp
