"""Which way a metric is better. Known metrics carry their direction; for any other column the
caller says it (``maximize``); nothing is guessed from a name's spelling.

A name is known when it, or what is left after a split prefix (``val_``, ``test_``,
``train_``, ``fit_``, ``mc_val_``, ...), is in ``MAXIMIZE`` or ``MINIMIZE``.
"""

from __future__ import annotations

from typing import Optional

from pernode_cli.errors import PernodeError

MAXIMIZE = frozenset({
    "acc", "accuracy", "top1", "top5", "top1_acc", "top5_acc", "balanced_accuracy", "auc", "auroc", "roc_auc",
    "auprc", "pr_auc", "ap", "map", "f1", "f1_score", "precision", "recall", "sensitivity", "specificity", "bleu",
    "rouge", "rouge_l", "meteor", "iou", "miou", "dice", "r2", "mcc", "kappa", "ndcg", "spearman", "pearson",
})
MINIMIZE = frozenset({
    "loss", "error", "err", "error_rate", "ece", "brier", "nll", "log_loss", "mse", "rmse", "mae", "cer", "wer",
    "perplexity", "ppl", "seconds", "epoch_seconds", "time", "seconds_to_target",
})
PREFIXES = ("mc_val_", "mc_test_", "validation_", "valid_", "val_", "test_", "train_", "fit_", "eval_")
SPLIT_PAIRS = (("test_", "val_"), ("mc_test_", "mc_val_"))  # compared split -> the split that selects


def known_direction(metric: str) -> Optional[bool]:
    """True (higher is better), False (lower is better), or None for a name not known."""
    name = str(metric).strip().lower()
    while True:
        if name in MAXIMIZE:
            return True
        if name in MINIMIZE:
            return False
        prefix = next((p for p in PREFIXES if name.startswith(p) and len(name) > len(p)), None)
        if prefix is None:
            return None
        name = name[len(prefix):]


def resolve_direction(metric: str, maximize: Optional[bool] = None) -> bool:
    """``maximize`` when given, else the known direction of ``metric``; an unknown one is refused."""
    if maximize is not None:
        if not isinstance(maximize, bool):
            raise PernodeError(
                f"`maximize` must be True (higher is better) or False (lower is better); got {maximize!r}."
            )
        return maximize
    known = known_direction(metric)
    if known is None:
        raise PernodeError(
            f"Column {metric} has no known direction: say whether higher is better (`maximize`) or lower "
            "is better (`minimize`)."
        )
    return known


def direction_note(metric: str, maximize: Optional[bool]) -> str:
    """A warning when a given direction reverses the known direction of ``metric`` ("" otherwise)."""
    known = known_direction(metric)
    if maximize is None or known is None or known == maximize:
        return ""
    return (f"Direction reversed: {direction_word(maximize)} was given, so {'higher' if maximize else 'lower'} "
            f"{metric} ranks better, the reverse of its known direction ({direction_text(known)}).")


def direction_word(maximize: bool) -> str:
    return "maximize" if maximize else "minimize"


def direction_text(maximize: bool) -> str:
    return "higher is better" if maximize else "lower is better"


def selection_column(metric: str, columns) -> str:
    """The column that picks each run's epoch when ``metric`` is compared: the validation
    counterpart of a test metric (``test_loss`` -> ``val_loss``) where the rows have it, else
    ``metric`` itself."""
    for compared, selecting in SPLIT_PAIRS:
        if metric.startswith(compared):
            candidate = selecting + metric[len(compared):]
            if candidate in columns:
                return candidate
    return metric
