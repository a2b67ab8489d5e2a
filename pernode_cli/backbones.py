"""The registry of backbones: what comes before a variant's regularization module, and the
head after it. Importing this module imports no Keras; the feature builders do when called.

A backbone is ``features(inputs) -> tensor`` (the tensor fed to the module), followed by the
module, ``Dense(head_units, relu)`` and the output layer. ``feature_width(input_shape)`` and
``params(input_shape)`` (the trainable parameters before the module) size a model before it
is built; a backbone registered without them is sized once built.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Optional

from pernode_cli.argchecks import (
    invalid,
    check_description,
    check_name,
    check_positive_int,
    check_replace,
    check_signature,
)
from pernode_cli.registries import Registry, own_source
from pernode_cli.sources import source_of


def _cnn(inputs):
    from keras import layers

    h = inputs
    for filters in (32, 64):
        h = layers.Conv2D(filters, 3, padding="same", activation="relu")(h)
        h = layers.MaxPooling2D(2)(h)
    return layers.Flatten()(h)


def _mlp(inputs):
    from keras import layers

    h = layers.Dense(1024, activation="relu")(inputs)
    return layers.Dense(256, activation="relu")(h)


def _cnn_width(shape) -> int:
    return (shape[0] // 4) * (shape[1] // 4) * 64


def _cnn_params(shape) -> int:
    channels = shape[2] if len(shape) > 2 else 1
    return (9 * channels * 32 + 32) + (9 * 32 * 64 + 64)


def _mlp_params(shape) -> int:
    return math.prod(shape) * 1024 + 1024 + 1024 * 256 + 256


@dataclass(frozen=True)
class Backbone:
    name: str
    features: Callable  # inputs -> the tensor fed to the module
    head_units: int  # the Dense layer after the module
    description: str = ""
    source: str = ""
    feature_width: Optional[Callable] = None  # input_shape -> width of the module's input
    params: Optional[Callable] = None  # input_shape -> trainable parameters before the module


BACKBONES = Registry("backbone", "backbones")
for _entry in (
    Backbone("cnn", _cnn, 64, "conv-pool x2 (32, 64 filters, 3x3, ReLU), flatten; head Dense 64 (the paper's "
             "CIFAR-10 and Speech Commands backbone)", "", _cnn_width, _cnn_params),
    Backbone("mlp", _mlp, 128, "Dense 1024, Dense 256; head Dense 128 (the paper's RCV1 backbone)", "",
             lambda shape: 256, _mlp_params),
):
    BACKBONES.add(_entry)


def register_backbone(name, features, *, head_units=64, description="", feature_width=None, params=None,
                      replace=False) -> Backbone:
    """Register a backbone for data sets to name (``register_dataset(..., backbone=name)``).

    Args:
        name: the backbone's name, unique (case-insensitive) unless ``replace``.
        features: ``features(inputs)`` returning the tensor fed to the regularization module
            (a Keras functional graph from ``inputs``).
        head_units: positive int, width of the Dense layer (ReLU) after the module.
        description: one line shown by ``pernode list backbones``.
        feature_width: optional ``feature_width(input_shape) -> int``, the module's input width,
            so a model is sized before it is built.
        params: optional ``params(input_shape) -> int``, the trainable parameters before the module.
        replace: allow replacing a registered backbone of that name.
    """
    check_name(name)
    check_replace(replace)
    check_signature("features", features, (None,), "features(inputs) -> tensor")
    check_positive_int("head_units", head_units)
    check_description(description)
    for arg, value in (("feature_width", feature_width), ("params", params)):
        if value is not None and not callable(value):
            raise invalid(arg, f"None or a callable {arg}(input_shape) -> int", value)
        if value is not None:
            check_signature(arg, value, ((8,),), f"{arg}(input_shape) -> int")
    entry = Backbone(name, features, head_units, description, source_of(features), feature_width, params)
    return BACKBONES.add(entry, replace=replace)


def get_backbone(name: str) -> Backbone:
    from pernode_cli.errors import PernodeError

    if name not in BACKBONES:
        raise PernodeError(f"Unknown backbone {name!r}; registered: {', '.join(sorted(BACKBONES))}.")
    return BACKBONES[name]


def backbone_source(entry: Backbone) -> str:
    return entry.source or own_source()
