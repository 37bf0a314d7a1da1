"""Reusable blocks with no method knowledge (heads, queues, EMA, ...)."""

from selfsup.modules.heads import DINOHead, mlp_head, projection_head

__all__ = ["DINOHead", "mlp_head", "projection_head"]
