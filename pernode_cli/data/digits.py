"""scikit-learn's bundled 8x8 digits: the embedded default data set (no network)."""

from __future__ import annotations

from pernode_cli.data.common import Dataset, one_hot, split3, split_text


def load_digits(seed: int = 0) -> Dataset:
    """60 / 20 / 20 train / validation / test, stratified by label, seeded."""
    from sklearn.datasets import load_digits as sk_digits

    bunch = sk_digits()
    x = (bunch.images / 16.0).astype("float32")[..., None]
    labels = bunch.target.astype("int64")
    train, val, test = split3(len(x), 0.2, 0.2, seed, labels)
    y = one_hot(labels, 10)
    return Dataset("digits", x[train], y[train], x[val], y[val], False, "cnn", x[test], y[test],
                   split_text(len(train), len(val), len(test), "stratified", seed))
