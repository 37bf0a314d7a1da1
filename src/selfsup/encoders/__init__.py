"""Backbones: ``forward(x) -> (B, D)`` features and an ``out_dim``; no dataset names."""

from selfsup.encoders.mlp import MLPEncoder
from selfsup.encoders.registry import ENCODERS, build_encoder, encoder_names
from selfsup.encoders.resnet import ResNet18
from selfsup.encoders.small_cnn import SmallCNN

__all__ = ["ENCODERS", "MLPEncoder", "ResNet18", "SmallCNN", "build_encoder", "encoder_names"]
