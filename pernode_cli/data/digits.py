"""scikit-learn's bundled 8x8 digits: the embedded default data set (no network)."""

from __future__ import annotations

from pernode_cli.data.common import Dataset, one_hot, split


def load_digits(seed: int = 0) -> Dataset:
    from sklearn.datasets import load_digits as sk_digits

    bunch = sk_digits()
    x = (bunch.images / 16.0).astype("float32")[..., None]
    labels = bunch.target.astype("int64")
    train, val = split(len(x), 0.2, seed, labels)
    y = one_hot(labels, 10)
    return Dataset("digits", x[train], y[train], x[val], y[val], False, "cnn")
