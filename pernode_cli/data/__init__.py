"""Data sets: one registry of the paper's data sets with their shapes, one loader per file.

``load_dataset(name, data_dir, seed)`` loads a registered data set or a user's ``.npz``;
``DATASETS[name]`` tells a data set's shapes without loading it (``timeit`` on synthetic
data). Nothing here imports TensorFlow or Keras except the downloaders, where used.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from pernode_cli.data.common import Dataset
from pernode_cli.errors import PernodeError


def _digits(data_dir, seed):
    from pernode_cli.data.digits import load_digits

    return load_digits(seed)


def _cifar10(data_dir, seed):
    from pernode_cli.data.cifar10 import load_cifar10

    return load_cifar10(data_dir, seed)


def _speech_commands(data_dir, seed):
    from pernode_cli.data.speech_commands import load_speech_commands

    return load_speech_commands(data_dir, seed)


def _rcv1(data_dir, seed):
    from pernode_cli.data.rcv1 import load_rcv1

    return load_rcv1(data_dir, seed)


@dataclass(frozen=True)
class DatasetSpec:
    name: str
    input_shape: tuple
    n_outputs: int
    backbone: str  # "cnn" or "mlp"
    multilabel: bool
    n_train: int  # training-split size (an epoch's steps on synthetic data)
    load: Callable  # (data_dir, seed) -> Dataset
    version: str = "1"  # bumped whenever the loader's output changes (split, scaling, features)


DATASETS: dict[str, DatasetSpec] = {
    s.name: s
    for s in (
        # version 2: a held-out test split beside validation (train / validation / test)
        DatasetSpec("digits", (8, 8, 1), 10, "cnn", False, 1077, _digits, "2"),
        DatasetSpec("cifar10", (32, 32, 3), 10, "cnn", False, 45000, _cifar10, "2"),
        DatasetSpec("speech_commands", (128, 128, 1), 8, "cnn", False, 5600, _speech_commands, "2"),
        DatasetSpec("rcv1", (47236,), 25, "mlp", True, 18519, _rcv1, "2"),
    )
}


def is_npz(name: str) -> bool:
    return name not in DATASETS and (str(name).endswith(".npz") or Path(name).is_file() or Path(name).is_symlink())


def check_dataset_name(name: str) -> str:
    """A registered data set or an existing .npz file; raises otherwise."""
    if name in DATASETS:
        return name
    if is_npz(name):
        from pernode_cli.paths import real_path

        real_path(name, "data file")  # a loop of links is one line
        if not Path(name).is_file():
            raise PernodeError(f"Data file {name} does not exist.")
        return name
    raise PernodeError(
        f"Unknown data set {name!r}. Use one of {', '.join(DATASETS)}, or a path to an .npz "
        "file holding x_train, y_train, x_val, y_val."
    )


def load_dataset(name: str, data_dir=None, seed: int = 0) -> Dataset:
    """Load a data set by name, or an .npz file by path."""
    if data_dir is not None and not Path(data_dir).exists():
        raise PernodeError(f"`data_dir` {data_dir} does not exist.")
    check_dataset_name(name)
    if name in DATASETS:
        return DATASETS[name].load(data_dir, seed)
    from pernode_cli.data.npz import load_npz

    return load_npz(name)


def data_fingerprint(name: str, data_dir=None) -> str:
    """What identifies the data a run trains on, recorded in every log row and a sweep's state:
    ``NAME@VERSION`` for a registered data set (``+dir:HASH`` of its files when read from
    ``data_dir``), ``npz:HASH`` of a user's .npz file's content. See ``data.fingerprint``."""
    from pernode_cli.data.fingerprint import fingerprint

    return fingerprint(name, DATASETS.get(name), data_dir)


__all__ = ["DATASETS", "Dataset", "DatasetSpec", "check_dataset_name", "data_fingerprint", "is_npz", "load_dataset"]
