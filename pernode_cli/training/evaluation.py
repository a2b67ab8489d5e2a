"""Epoch-end evaluation: losses in inference mode, calibration, Monte Carlo passes."""

from __future__ import annotations

import numpy as np

from pernode_cli.training import metrics
from pernode_cli.training.mc import MCPredictor
from pernode_cli.variants import get_variant


def evaluate_splits(model, splits: dict, batch_size: int) -> dict:
    """``{split}_loss`` and ``{split}_acc`` of every ``split -> (x, y)``, inference mode."""
    out = {}
    for split, (x, y) in splits.items():
        scores = model.evaluate(x, y, batch_size=batch_size, verbose=0, return_dict=True)
        out[f"{split}_loss"] = float(scores["loss"])
        out[f"{split}_acc"] = float(scores["acc"])
    return out


class Calibration:
    """ECE and Brier score of the validation prediction, and the MC columns when asked."""

    def __init__(self, model, val_x, y_val, multilabel: bool, variant: str, mc_samples: int, batch_size):
        self.model, self.val_x, self.y_val, self.multilabel = model, val_x, y_val, multilabel
        self.mc_samples, self.batch_size = mc_samples, batch_size
        self.mc = MCPredictor(model) if mc_samples else None
        self.mc_passes = (1 if get_variant(variant).deterministic else mc_samples) if mc_samples else None

    def __call__(self) -> dict:
        row = {"mc_samples": self.mc_samples}
        probs = self.model.predict(self.val_x, batch_size=self.batch_size, verbose=0)
        if not np.isfinite(probs).all():  # a diverged model: its row says nonfinite anyway
            return row
        row["val_ece"] = metrics.expected_calibration_error(probs, self.y_val, self.multilabel)
        row["val_brier"] = metrics.brier_score(probs, self.y_val, self.multilabel)
        if self.mc is None:
            return row
        mean = self.mc.mean(self.val_x, self.mc_passes, self.batch_size)
        row["mc_passes"] = self.mc_passes
        row["mc_val_loss"] = metrics.log_loss(mean, self.y_val, self.multilabel)
        row["mc_val_acc"] = metrics.accuracy(mean, self.y_val, self.multilabel)
        row["mc_val_ece"] = metrics.expected_calibration_error(mean, self.y_val, self.multilabel)
        return row
