"""Training inputs for Keras: numpy arrays as they are, sparse matrices densified per batch,
and synthetic batches of a data set's exact shapes (for timing without a download)."""

from __future__ import annotations

import math

import keras
import numpy as np
from scipy import sparse


class SparseBatches(keras.utils.PyDataset):
    """Batches of a sparse matrix, densified one at a time (RCV1's 47k TF-IDF features)."""

    def __init__(self, x, y, batch_size: int, shuffle: bool, seed: int):
        super().__init__()
        self.x, self.y, self.batch_size, self.shuffle = x, y, batch_size, shuffle
        self.order = np.arange(x.shape[0])
        self.rng = np.random.default_rng(seed)
        self.on_epoch_end()

    def __len__(self):
        return math.ceil(self.x.shape[0] / self.batch_size)

    def __getitem__(self, i):
        idx = self.order[i * self.batch_size : (i + 1) * self.batch_size]
        return self.x[idx].toarray().astype("float32"), self.y[idx]

    def on_epoch_end(self):
        if self.shuffle:
            self.rng.shuffle(self.order)


class SyntheticBatches(keras.utils.PyDataset):
    """``steps`` batches cycling through a few random batches of the given shapes."""

    def __init__(self, shape, n_out: int, multilabel: bool, batch_size: int, steps: int, seed: int = 0):
        super().__init__()
        rng = np.random.default_rng(seed)
        self.steps, self.pool = steps, []
        for _ in range(min(steps, 4)):
            x = rng.random((batch_size,) + tuple(shape), dtype=np.float32)
            if multilabel:
                y = (rng.random((batch_size, n_out)) < 0.1).astype("float32")
            else:
                y = np.eye(n_out, dtype="float32")[rng.integers(0, n_out, batch_size)]
            self.pool.append((x, y))

    def __len__(self):
        return self.steps

    def __getitem__(self, i):
        return self.pool[i % len(self.pool)]


def keras_inputs(x, y, batch_size: int, shuffle: bool, seed: int):
    """``(x, y)`` to pass to ``fit``/``evaluate``: arrays as they are, sparse ``x`` as batches
    (then ``y`` is ``None``: the batches carry it)."""
    if not sparse.issparse(x):
        return x, y
    return SparseBatches(x, y, batch_size, shuffle, seed), None


def fit_batch_size(y, batch_size: int):
    """Keras takes a batch size with arrays, none with a PyDataset."""
    return batch_size if y is not None else None
