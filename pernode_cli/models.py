"""The paper's model factory: a regularization module placed in a data set's backbone."""

from __future__ import annotations

import keras
from keras import layers

from pernode_cli.layers import PerNodeDense
from pernode_cli.seeds import layer_seed
from pernode_cli.variants import get_variant

# The role of the module's random layer in ``layer_seed`` (one random layer per module).
MODULE_ROLE = "module"


def model_strategy_adder(variant: str, units: int, rate: float, seed=None, sampler=None) -> list:
    """Return the regularization module of ``variant`` as a list of Keras layers.

    Fairness rule of the paper: a PerNode variant's module is one
    ``PerNodeDense(units, activation="relu")`` (the noise lives inside the Dense layer).
    DropConnect also keeps its noise inside one ``DropConnectDense(units, "relu")`` of the
    same size. Every other variant is its regularizer followed by
    ``Dense(units, activation="relu")``; ``Dense`` is the unregularized control.

    ``seed`` is the run seed: the module's random layer (PerNodeDense, its fixed mask
    included, DropConnectDense, MaskEnsemble, Dropout, GaussianDropout) is seeded with
    ``pernode_cli.seeds.layer_seed(seed, "module")``, never with ``seed`` itself, so runs of
    consecutive seeds draw unrelated noise on every backend (see ``pernode_cli.seeds``).
    """
    spec = get_variant(variant)
    return spec.build(spec, units, rate, layer_seed(seed, MODULE_ROLE), sampler)


def _cnn(h):
    for filters in (32, 64):
        h = layers.Conv2D(filters, 3, padding="same", activation="relu")(h)
        h = layers.MaxPooling2D(2)(h)
    return layers.Flatten()(h)


def _mlp(h):
    h = layers.Dense(1024, activation="relu")(h)
    return layers.Dense(256, activation="relu")(h)


# backbone -> (layers before the module, width of the Dense layer after it)
BACKBONES = {"cnn": (_cnn, 64), "mlp": (_mlp, 128)}


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
    if backbone not in BACKBONES:
        raise ValueError(f"Unknown backbone {backbone!r}; expected one of {sorted(BACKBONES)}.")
    before, after_width = BACKBONES[backbone]
    inputs = keras.Input(shape=input_shape)
    h = before(inputs)
    for layer in model_strategy_adder(variant, units, rate, seed=seed, sampler=sampler):
        h = layer(h)
    h = layers.Dense(after_width, activation="relu")(h)
    outputs = layers.Dense(n_outputs, activation="sigmoid" if multilabel else "softmax")(h)
    return keras.Model(inputs, outputs, name=f"{backbone}_{get_variant(variant).name}")


def module_realised_rate(model: keras.Model, rate: float) -> float:
    """The drop probability the module's noise realises: a PerNodeDense's or DropConnectDense's
    ``realised_rate`` (Bernoulli thresholds), ``rate`` itself otherwise."""
    layer = next((l for l in model.layers if hasattr(l, "realised_rate")), None)
    return float(layer.realised_rate) if layer is not None else float(rate)


def module_sampler(model: keras.Model) -> str:
    """The sampler the model's PerNodeDense runs (``"fixed"`` for fixed masks); "" without one."""
    layer = next((l for l in model.layers if isinstance(l, PerNodeDense)), None)
    return layer.resolved_sampler() if layer is not None else ""
