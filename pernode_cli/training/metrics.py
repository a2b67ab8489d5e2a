"""Calibration metrics: pure numpy functions of predicted probabilities and targets.

Conventions (also in README):
- Softmax tasks (one-hot targets): ECE over the top-class confidence; Brier score is the
  mean over samples of ``sum_k (p_k - y_k)^2``.
- Multi-label sigmoid tasks: every (sample, label) probability is one prediction of
  whether that label is present; ECE and Brier (mean of ``(p - y)^2``) are over all of them.
- ECE uses ``n_bins`` equal-width bins ``(k / n_bins, (k + 1) / n_bins]`` (a confidence of 0
  falls in the first bin): ``ECE = sum_b n_b / N * |accuracy_b - confidence_b|``.
"""

from __future__ import annotations

import numpy as np

EPS = 1e-7  # probability clip of the log losses, as Keras' cross-entropies use


def _confidence_and_outcome(probs: np.ndarray, targets: np.ndarray, multilabel: bool):
    probs = np.asarray(probs, dtype="float64")
    targets = np.asarray(targets, dtype="float64")
    if multilabel:
        return probs.ravel(), targets.ravel()
    conf = probs.max(axis=1)
    correct = (probs.argmax(axis=1) == targets.argmax(axis=1)).astype("float64")
    return conf, correct


def expected_calibration_error(probs, targets, multilabel: bool = False, n_bins: int = 15) -> float:
    conf, outcome = _confidence_and_outcome(probs, targets, multilabel)
    bins = np.clip(np.ceil(conf * n_bins).astype(int) - 1, 0, n_bins - 1)
    total = 0.0
    for b in range(n_bins):
        in_bin = bins == b
        if in_bin.any():
            total += in_bin.mean() * abs(outcome[in_bin].mean() - conf[in_bin].mean())
    return float(total)


def brier_score(probs, targets, multilabel: bool = False) -> float:
    sq = (np.asarray(probs, dtype="float64") - np.asarray(targets, dtype="float64")) ** 2
    return float(sq.mean() if multilabel else sq.sum(axis=1).mean())


def log_loss(probs, targets, multilabel: bool = False) -> float:
    p = np.clip(np.asarray(probs, dtype="float64"), EPS, 1 - EPS)
    y = np.asarray(targets, dtype="float64")
    if multilabel:
        return float(-(y * np.log(p) + (1 - y) * np.log(1 - p)).mean())
    return float(-(y * np.log(p)).sum(axis=1).mean())


def accuracy(probs, targets, multilabel: bool = False) -> float:
    probs, targets = np.asarray(probs), np.asarray(targets)
    if multilabel:
        return float(((probs > 0.5) == (targets > 0.5)).mean())
    return float((probs.argmax(axis=1) == targets.argmax(axis=1)).mean())
