"""Evaluation for ANY encoder or precomputed features: kNN, linear probe, fine-tuning,
low-label and few-shot protocols, baselines, reports and plots. Never imports methods."""

from selfsup.eval.fewshot import fewshot_accuracy, sample_episode
from selfsup.eval.knn import knn_accuracy, knn_predict
from selfsup.eval.linear import LinearProbeConfig, linear_probe_accuracy
from selfsup.eval.lowlabel import balanced_subset

__all__ = [
    "LinearProbeConfig",
    "balanced_subset",
    "fewshot_accuracy",
    "knn_accuracy",
    "knn_predict",
    "linear_probe_accuracy",
    "sample_episode",
]
