"""The paper's model factory: a regularization module placed in a data set's backbone."""

from __future__ import annotations

import keras
from keras import layers

from pernode_cli.layers import DropConnectDense, MaskEnsemble, PerNodeDense
from pernode_cli.variants import PERNODE, canonical_variant


def model_strategy_adder(variant: str, units: int, rate: float, seed=None, sampler=None) -> list:
    """Return the regularization module of ``variant`` as a list of Keras layers.

    Fairness rule of the paper: a PerNode variant's module is one
    ``PerNodeDense(units, activation="relu")`` (the noise lives inside the Dense layer).
    DropConnect also keeps its noise inside one ``DropConnectDense(units, "relu")`` of the
    same size. Every other variant is its regularizer followed by
    ``Dense(units, activation="relu")``; ``Dense`` is the unregularized control.
    """
    name = canonical_variant(variant)
    if name in PERNODE:
        stir, mask = PERNODE[name]
        kwargs = {} if sampler is None else {"sampler": sampler}
        return [PerNodeDense(units, rate, stir=stir, mask=mask, activation="relu", seed=seed, **kwargs)]
    if name == "DropConnect":
        return [DropConnectDense(units, rate, activation="relu", seed=seed)]
    dense = layers.Dense(units, activation="relu")
    if name == "Dropout":
        return [layers.Dropout(rate, seed=seed), dense]
    if name == "GaussianDropout":
        return [layers.GaussianDropout(rate, seed=seed), dense]
    if name == "MaskEnsemble":
        return [MaskEnsemble(rate, n=4, seed=seed), dense]
    return [dense]  # "Dense": the control without regularizer


def build_model(
    input_shape: tuple,
    n_outputs: int,
    backbone: str,
    variant: str,
    units: int,
    rate: float,
    multilabel: bool = False,
    seed=None,
    sampler=None,
) -> keras.Model:
    """The paper's backbones with the module in its slot.

    ``cnn``: conv-pool x2 (32, 64 filters, 3x3 same, ReLU), flatten, module, Dense 64 ReLU,
    softmax (or sigmoid for multi-label). ``mlp``: Dense 1024, Dense 256, module, Dense 128,
    sigmoid (or softmax for single-label) outputs.
    """
    inputs = keras.Input(shape=input_shape)
    module = model_strategy_adder(variant, units, rate, seed=seed, sampler=sampler)
    if backbone == "cnn":
        h = inputs
        for filters in (32, 64):
            h = layers.Conv2D(filters, 3, padding="same", activation="relu")(h)
            h = layers.MaxPooling2D(2)(h)
        h = layers.Flatten()(h)
        for layer in module:
            h = layer(h)
        h = layers.Dense(64, activation="relu")(h)
    elif backbone == "mlp":
        h = layers.Dense(1024, activation="relu")(inputs)
        h = layers.Dense(256, activation="relu")(h)
        for layer in module:
            h = layer(h)
        h = layers.Dense(128, activation="relu")(h)
    else:
        raise ValueError(f"Unknown backbone {backbone!r}")
    outputs = layers.Dense(n_outputs, activation="sigmoid" if multilabel else "softmax")(h)
    return keras.Model(inputs, outputs, name=f"{backbone}_{canonical_variant(variant)}")


def module_sampler(model: keras.Model) -> str:
    """The sampler the model's PerNodeDense runs (``"fixed"`` for fixed masks); "" without one."""
    layer = next((l for l in model.layers if isinstance(l, PerNodeDense)), None)
    return layer.resolved_sampler() if layer is not None else ""
