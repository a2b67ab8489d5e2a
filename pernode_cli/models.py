"""The paper's model factory: a regularization module placed in a data set's backbone."""

from __future__ import annotations

import keras
import numpy as np
from keras import layers

from pernode_cli.backbones import get_backbone
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
    """A registered backbone (``pernode_cli.backbones``) with the variant's module in its slot.

    ``cnn``: conv-pool x2 (32, 64 filters, 3x3 same, ReLU), flatten, module, Dense 64 ReLU,
    softmax (or sigmoid for multi-label). ``mlp``: Dense 1024, Dense 256, module, Dense 128,
    sigmoid (or softmax for single-label) outputs. A plugin's backbone: its features, the
    module, Dense(head_units) ReLU, the output layer. The module's layers are kept as
    ``model.module_layers`` (their trainable parameters: ``module_params``).
    """
    entry = get_backbone(backbone)
    inputs = keras.Input(shape=input_shape)
    h = entry.features(inputs)
    module = model_strategy_adder(variant, units, rate, seed=seed, sampler=sampler)
    for layer in module:
        h = layer(h)
    h = layers.Dense(entry.head_units, activation="relu")(h)
    outputs = layers.Dense(n_outputs, activation="sigmoid" if multilabel else "softmax")(h)
    model = keras.Model(inputs, outputs, name=f"{backbone}_{get_variant(variant).name}")
    model.module_layers = list(module)
    return model


def module_params(model: keras.Model) -> int:
    """Trainable parameters of the regularization module (the paper's fairness rule: equal for
    every variant at the same width)."""
    layers_ = getattr(model, "module_layers", [])
    return int(sum(sum(int(np.prod(w.shape)) for w in layer.trainable_weights) for layer in layers_))


def module_realised_rate(model: keras.Model, rate: float) -> float:
    """The drop probability the module's noise realises: a PerNodeDense's or DropConnectDense's
    ``realised_rate`` (Bernoulli thresholds), ``rate`` itself otherwise."""
    layer = next((l for l in model.layers if hasattr(l, "realised_rate")), None)
    return float(layer.realised_rate) if layer is not None else float(rate)


def module_sampler(model: keras.Model) -> str:
    """The sampler the model's PerNodeDense runs (``"fixed"`` for fixed masks); "" without one."""
    layer = next((l for l in model.layers if isinstance(l, PerNodeDense)), None)
    return layer.resolved_sampler() if layer is not None else ""
