"""The paper's model factory: a regularization module placed in a data set's backbone."""

from __future__ import annotations

import keras
import numpy as np
from keras import layers

from pernode_cli.backbones import get_backbone
from pernode_cli.errors import PernodeError
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


def _plugin_failure(what: str, exc: BaseException) -> PernodeError:
    reason = str(exc).splitlines()[0] if str(exc) else ""
    return PernodeError(f"{what} ({type(exc).__name__}: {reason})." if reason else f"{what} ({type(exc).__name__}).")


def check_plugin_parts(variants, backbone: str, input_shape, rate: float = 0.5) -> None:
    """Build every plugin variant's module and a plugin backbone once at a tiny size, before a
    command creates any file: a function that returns something other than a list of Keras
    layers, or that fails, is one line naming it (pernode's own are not rebuilt)."""
    for name in dict.fromkeys(variants):
        spec = get_variant(name)
        if not spec.source:
            continue
        where = f"Variant {spec.name} ({spec.source})"
        try:
            module = spec.build(spec, 2, rate, 0, None)
        except Exception as exc:
            raise _plugin_failure(f"{where}: its function failed to build a module at units=2, rate={rate:g}",
                                  exc) from None
        if not isinstance(module, (list, tuple)) or not module or not all(isinstance(x, layers.Layer) for x in module):
            got = type(module).__name__ if not isinstance(module, (list, tuple)) else (
                "an empty list" if not module
                else "a list of " + ", ".join(sorted({type(x).__name__ for x in module})))
            raise PernodeError(
                f"{where}: its function must return a non-empty list of Keras layers; it returned {got}."
            )
        try:
            h = keras.Input(shape=(4,))
            for layer in module:
                h = layer(h)
        except Exception as exc:
            raise _plugin_failure(f"{where}: its module cannot take a (batch, 4) input", exc) from None
    entry = get_backbone(backbone)
    if entry.source and input_shape is not None:
        try:
            out = entry.features(keras.Input(shape=tuple(input_shape)))
        except Exception as exc:
            raise _plugin_failure(f"Backbone {entry.name} ({entry.source}): features(inputs) failed on inputs of shape "
                                  f"{tuple(input_shape)}", exc) from None
        if not hasattr(out, "shape") or len(out.shape) < 2:
            raise PernodeError(f"Backbone {entry.name} ({entry.source}): features(inputs) must return a tensor of rank "
                               f"2 or more (batch, features); it returned {type(out).__name__}.")


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
    layer = next((lyr for lyr in model.layers if hasattr(lyr, "realised_rate")), None)
    return float(layer.realised_rate) if layer is not None else float(rate)


def module_sampler(model: keras.Model) -> str:
    """The sampler the model's PerNodeDense runs (``"fixed"`` for fixed masks); "" without one."""
    layer = next((lyr for lyr in model.layers if isinstance(lyr, PerNodeDense)), None)
    return layer.resolved_sampler() if layer is not None else ""
