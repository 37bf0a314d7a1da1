"""Reusable blocks with no method knowledge (heads, queues, EMA, ...)."""

from selfsup.modules.heads import mlp_head, projection_head

__all__ = ["mlp_head", "projection_head"]
