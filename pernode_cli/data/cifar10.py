"""CIFAR-10: the official 50k/10k split from the python pickles, scaled to [0, 1]."""

from __future__ import annotations

import os
import pickle
import tarfile
from pathlib import Path

import numpy as np

from pernode_cli.data.common import Dataset, one_hot, split, split_text
from pernode_cli.errors import PernodeError

def _cifar_from_batches(read) -> tuple:
    """``read(name)`` returns the bytes of one pickle of cifar-10-batches-py."""

    def batch(name):
        raw = read(name)
        try:
            d = pickle.loads(raw, encoding="bytes")
            data = np.asarray(d[b"data"], dtype="uint8").reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
            return data, np.asarray(d[b"labels"], dtype="int64")
        except Exception as exc:  # any corruption of the pickle is one message
            raise PernodeError(
                f"CIFAR-10 file {name} is corrupt or not a CIFAR-10 pickle ({type(exc).__name__}); "
                "download cifar-10-python.tar.gz again."
            ) from None

    parts = [batch(f"data_batch_{i}") for i in range(1, 6)]
    x_train = np.concatenate([p[0] for p in parts])
    y_train = np.concatenate([p[1] for p in parts])
    x_test, y_test = batch("test_batch")
    return x_train, y_train, x_test, y_test


def _cifar_layout_error(where: str, missing: str) -> PernodeError:
    return PernodeError(
        f"CIFAR-10 not found in {where} ({missing}). Point `data_dir` at the extracted "
        "'cifar-10-batches-py' folder (data_batch_1..5, test_batch), a folder holding it, or "
        "'cifar-10-python.tar.gz'."
    )


def read_cifar10(data_dir: str | os.PathLike) -> tuple:
    path = Path(data_dir)
    candidates = [path, path / "cifar-10-batches-py"]
    for folder in candidates:
        if (folder / "data_batch_1").is_file():

            def read(name, folder=folder):
                f = folder / name
                if not f.is_file():
                    raise _cifar_layout_error(str(path), f"missing {name}")
                return f.read_bytes()

            return _cifar_from_batches(read)
    tars = [path] if path.is_file() else [path / "cifar-10-python.tar.gz"]
    for tar_path in tars:
        if tar_path.is_file():
            try:
                with tarfile.open(tar_path) as tar:
                    members = {Path(m.name).name: m for m in tar.getmembers() if m.isfile()}

                    def read(name, members=members, tar_path=tar_path):
                        if name not in members:
                            raise _cifar_layout_error(str(tar_path), f"missing {name}")
                        return tar.extractfile(members[name]).read()

                    return _cifar_from_batches(read)
            except (tarfile.TarError, OSError, EOFError) as exc:
                raise PernodeError(f"Cannot read {tar_path} as a CIFAR-10 tar.gz ({exc}).") from None
    raise _cifar_layout_error(str(path), "no data_batch_1 or cifar-10-python.tar.gz")


def load_cifar10(data_dir=None, seed: int = 0) -> Dataset:
    """The official 10k test split as test; validation: a seeded stratified 5k of the 50k training images."""
    if data_dir is not None:
        x_train, y_train, x_test, y_test = read_cifar10(data_dir)
    else:
        try:
            import keras

            (x_train, y_train), (x_test, y_test) = keras.datasets.cifar10.load_data()
        except Exception as exc:  # network or cache failure: say what to do instead
            raise PernodeError(
                f"Could not download CIFAR-10 ({type(exc).__name__}). Download "
                "cifar-10-python.tar.gz elsewhere and give `data_dir`: the folder holding the "
                "tar.gz or its extracted 'cifar-10-batches-py' folder."
            ) from None
        y_train, y_test = y_train.reshape(-1), y_test.reshape(-1)
    labels = np.asarray(y_train).astype("int64")
    train, val = split(len(labels), 5000 / len(labels) if len(labels) >= 50000 else 0.1, seed, labels)
    x = x_train.astype("float32") / 255.0
    y = one_hot(labels, 10)
    return Dataset("cifar10", x[train], y[train], x[val], y[val], False, "cnn",
                   x_test.astype("float32") / 255.0, one_hot(np.asarray(y_test).astype("int64"), 10),
                   split_text(len(train), len(val), len(y_test), "official test split, stratified validation", seed))
