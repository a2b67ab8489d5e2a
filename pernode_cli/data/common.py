"""What every loader shares: the ``Dataset`` record, one-hot labels, seeded splits."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Dataset:
    """Arrays ready for training. ``x`` may be a scipy sparse matrix (RCV1)."""

    name: str
    x_train: object
    y_train: np.ndarray
    x_val: object
    y_val: np.ndarray
    multilabel: bool
    backbone: str  # "cnn" or "mlp"
    x_test: object = None  # the held-out test split (None where the data have none)
    y_test: np.ndarray = None
    split: str = ""  # how the splits were made, as the log records it

    @property
    def input_shape(self) -> tuple:
        return tuple(self.x_train.shape[1:])

    @property
    def n_outputs(self) -> int:
        return int(self.y_train.shape[1])


def one_hot(labels: np.ndarray, n: int) -> np.ndarray:
    out = np.zeros((len(labels), n), dtype="float32")
    out[np.arange(len(labels)), labels] = 1.0
    return out


def split(n: int, val_fraction: float, seed: int, labels=None):
    """Seeded train/validation indices, stratified by ``labels`` where every class has two."""
    from sklearn.model_selection import train_test_split

    idx = np.arange(n)
    stratify = labels if labels is not None and np.bincount(labels).min() >= 2 else None
    train, val = train_test_split(idx, test_size=val_fraction, random_state=seed, stratify=stratify)
    return np.sort(train), np.sort(val)


def split3(n: int, val_fraction: float, test_fraction: float, seed: int, labels=None):
    """Seeded train/validation/test indices (each sorted), stratified by ``labels`` where every
    class has enough members: the test split first, then validation from the rest."""
    from sklearn.model_selection import train_test_split

    idx = np.arange(n)

    def cut(pool, fraction, lab):
        strat = None
        if lab is not None:
            classes = len(np.unique(lab))
            n_cut = int(np.ceil(fraction * len(pool)))  # as scikit-learn rounds the test part
            if np.bincount(lab).min() >= 2 and min(n_cut, len(pool) - n_cut) >= classes:
                strat = lab
        return train_test_split(pool, test_size=fraction, random_state=seed, stratify=strat)

    rest, test = cut(idx, test_fraction, labels)
    train, val = cut(rest, val_fraction / (1.0 - test_fraction), None if labels is None else labels[rest])
    return np.sort(train), np.sort(val), np.sort(test)


def split_text(train: int, val: int, test: int, how: str, seed) -> str:
    """The ``split`` column: sizes of the three splits and how they were drawn."""
    seeded = "" if seed is None else f", seed {seed}"
    return f"train {train} / val {val} / test {test}, {how}{seeded}"
