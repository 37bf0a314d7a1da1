"""GRU autoregressor g_ar: c_t summarises z_{<=t} (CPC's context network)."""

from __future__ import annotations

from torch import Tensor, nn


class GRUAutoregressor(nn.Module):
    """Causal context network.

    Args:
        in_dim: encoding width D.
        hidden_dim: context width H.
    """

    def __init__(self, in_dim: int, hidden_dim: int) -> None:
        super().__init__()
        self.gru = nn.GRU(in_dim, hidden_dim, batch_first=True)
        self.out_dim = hidden_dim

    def forward(self, z: Tensor) -> Tensor:
        """(B, T, D) -> contexts (B, T, H); c_t depends only on z_1..z_t."""
        c, _ = self.gru(z)
        return c
