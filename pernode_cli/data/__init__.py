"""Data sets: one registry of the paper's data sets with their shapes, one loader per file.

``load_dataset(name, data_dir, seed)`` loads a registered data set or a user's ``.npz``;
``DATASETS[name]`` tells a data set's shapes without loading it (``timeit`` on synthetic
data). Nothing here imports TensorFlow or Keras except the downloaders, where used.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

from pernode_cli.data.common import Dataset
from pernode_cli.errors import PernodeError
from pernode_cli.registries import Registry, own_source


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
    backbone: str  # a registered backbone ("cnn", "mlp", or a plugin's)
    multilabel: bool
    n_train: Optional[int]  # training-split size (an epoch's steps on synthetic data); None: unknown
    load: Callable  # (data_dir, seed) -> Dataset
    version: str = "1"  # bumped whenever the loader's output changes (split, scaling, features)
    description: str = ""
    source: str = ""  # "" for pernode's own


DATASETS = Registry("data set", "data sets")
for _spec in (
        # version 2: a held-out test split beside validation (train / validation / test)
        DatasetSpec("digits", (8, 8, 1), 10, "cnn", False, 1077, _digits, "2",
                    "scikit-learn's bundled 8x8 digits (1,797 images, no network), 60/20/20 stratified by seed"),
        DatasetSpec("cifar10", (32, 32, 3), 10, "cnn", False, 45000, _cifar10, "2",
                    "CIFAR-10: official 10k test split; 5k stratified validation from the 50k training images"),
        DatasetSpec("speech_commands", (128, 128, 1), 8, "cnn", False, 5600, _speech_commands, "2",
                    "Mini Speech Commands as 128x128 log-mel spectrograms, 70/15/15 stratified by seed"),
        DatasetSpec("rcv1", (47236,), 25, "mlp", True, 18519, _rcv1, "2",
                    "RCV1-v2 train subset, 47,236 TF-IDF features, top 25 categories, 80/10/10 by seed"),
):
    DATASETS.add(_spec)


def is_npz(name: str) -> bool:
    return name not in DATASETS and (str(name).endswith(".npz") or Path(name).is_file() or Path(name).is_symlink())


def check_dataset_name(name: str) -> str:
    """A registered data set or an existing .npz file; raises otherwise."""
    if name in DATASETS:
        return name
    if is_npz(name):
        from pernode_cli.paths import existing_file

        existing_file(name, "Data file")
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


def _plugin_loader(name: str, load, input_shape: tuple, n_outputs: int, multilabel: bool, backbone: str):
    """The registered ``load`` wrapped: its arrays checked and made a ``Dataset``."""

    def wrapped(data_dir, seed):
        import numpy as np

        from pernode_cli.data.npz import as_dataset

        try:
            arrays = load(data_dir, seed)
        except PernodeError:
            raise
        except Exception as exc:
            raise PernodeError(f"The loader of data set {name} failed ({type(exc).__name__}: {exc}).") from None
        if not isinstance(arrays, (tuple, list)) or len(arrays) not in (4, 6):
            raise PernodeError(f"The loader of data set {name} must return (x_train, y_train, x_val, y_val) or those "
                               f"and (x_test, y_test); it returned {type(arrays).__name__}.")
        data = as_dataset(name, [np.asarray(a) for a in arrays], where=f"data set {name}", backbone=backbone,
                          how=f"from the loader of data set {name}, seed {seed}")
        if data.input_shape != tuple(input_shape) or data.n_outputs != n_outputs:
            raise PernodeError(f"The loader of data set {name} returned samples of shape {data.input_shape} with "
                               f"{data.n_outputs} outputs; it was registered with input_shape={tuple(input_shape)}, "
                               f"n_outputs={n_outputs}.")
        if data.multilabel != multilabel and not multilabel:
            raise PernodeError(f"The loader of data set {name} returned multi-hot targets; register it with "
                               "multilabel=True.")
        from dataclasses import replace

        return replace(data, multilabel=multilabel)

    return wrapped


def register_dataset(name, load, *, input_shape, n_outputs, multilabel=False, backbone="mlp", description="",
                     version="1", n_train=None, replace=False) -> DatasetSpec:
    """Register a data set for every command to train on by name.

    Args:
        name: the data set's name in commands, configs and logs; unique (case-insensitive)
            unless ``replace``.
        load: ``load(data_dir, seed)`` returning ``(x_train, y_train, x_val, y_val)`` (or with
            ``x_test, y_test`` after them) as NumPy arrays; targets as integer labels or one-hot
            (multi-hot) rows. ``seed`` is the run's seed (for a seeded split).
        input_shape: tuple of positive ints, one sample's shape.
        n_outputs: positive int, classes (or labels, multi-label).
        multilabel: bool, sigmoid outputs and binary cross-entropy.
        backbone: the name of a registered backbone (``register_backbone``).
        description: one line shown by ``pernode list datasets``.
        version: str, changed whenever the loader's output changes (it is the data's fingerprint).
        n_train: optional positive int, training-split size (`timeit` on synthetic data).
        replace: allow replacing a registered data set of that name.
    """
    from pernode_cli.argchecks import (
        invalid,
        check_bool,
        check_description,
        check_name,
        check_positive_int,
        check_replace,
        check_signature,
    )
    from pernode_cli.sources import source_of

    check_name(name)
    check_signature("load", load, (None, 0), "load(data_dir, seed) -> arrays")
    if not isinstance(input_shape, (tuple, list)) or not input_shape or not all(
            isinstance(d, int) and not isinstance(d, bool) and d > 0 for d in input_shape):
        raise invalid("input_shape", "a non-empty tuple of positive ints", input_shape)
    check_positive_int("n_outputs", n_outputs)
    check_bool("multilabel", multilabel)
    if not isinstance(backbone, str) or not backbone:
        raise invalid("backbone", "the name of a registered backbone", backbone)
    check_description(description)
    if not isinstance(version, str) or not version:
        raise invalid("version", "a non-empty str", version)
    if n_train is not None:
        check_positive_int("n_train", n_train)
    check_replace(replace)
    spec = DatasetSpec(name, tuple(input_shape), n_outputs, backbone, multilabel, n_train,
                       _plugin_loader(name, load, tuple(input_shape), n_outputs, multilabel, backbone), version,
                       description or f"input {tuple(input_shape)}, {n_outputs} outputs", source_of(load))
    return DATASETS.add(spec, replace=replace)


def dataset_source(name: str) -> str:
    """Where data set ``name`` comes from (an .npz file: pernode's loader; its bytes are fingerprinted)."""
    spec = DATASETS.get(name)
    return spec.source if spec is not None and spec.source else own_source()


def data_fingerprint(name: str, data_dir=None) -> str:
    """What identifies the data a run trains on, recorded in every log row and a sweep's state:
    ``NAME@VERSION`` for a registered data set (``+dir:HASH`` of its files when read from
    ``data_dir``), ``npz:HASH`` of a user's .npz file's content. See ``data.fingerprint``."""
    from pernode_cli.data.fingerprint import fingerprint

    return fingerprint(name, DATASETS.get(name), data_dir)


__all__ = ["DATASETS", "Dataset", "DatasetSpec", "check_dataset_name", "data_fingerprint", "dataset_source", "is_npz",
           "load_dataset", "register_dataset"]
