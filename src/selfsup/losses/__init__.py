"""Loss modules: thin wrappers holding hyperparameters, calling selfsup.functional."""

from selfsup.losses.contrastive import InfoNCELoss, NTXentLoss

__all__ = ["InfoNCELoss", "NTXentLoss"]
