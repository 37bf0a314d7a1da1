"""Pure tensor math: losses and small differentiable helpers. torch only, no state."""

from selfsup.functional.info_nce import info_nce
from selfsup.functional.nce import info_nce_scores, nce_log_z, nce_loss
from selfsup.functional.nt_xent import nt_xent

__all__ = ["info_nce", "info_nce_scores", "nce_log_z", "nce_loss", "nt_xent"]
