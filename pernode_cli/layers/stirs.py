"""Stir functions: the mean-one random multipliers of PerNodeDrop, and the pure ops built on them.

A stir is ``fn(shape, rate, seed_generator, dtype) -> tensor`` with ``E[m] = 1``.
Built-in stirs have per-connection variance ``rate / (1 - rate)`` so that the three
modes are comparable at the same rate.
"""

from __future__ import annotations

import math
from typing import Callable

import keras
from keras import ops

StirFn = Callable[..., object]

_STIRS: dict[str, StirFn] = {}


def _invalid(name: str, expected: str, value) -> ValueError:
    return ValueError(
        f"Invalid value received for argument `{name}`. Expected {expected}. "
        f"Received: {name}={value!r}"
    )


def validate_rate(rate) -> float:
    if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not (0 <= rate < 1):
        raise _invalid("rate", "a float in [0, 1)", rate)
    return float(rate)


def validate_seed(seed):
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or seed < 0):
        raise _invalid("seed", "None or a non-negative int", seed)
    return seed


def validate_positive_int(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise _invalid(name, "a positive int", value)
    return value


def bernoulli_stir(shape, rate, seed_generator, dtype="float32"):
    """Keep with probability ``1 - rate`` and rescale by ``1 / (1 - rate)``."""
    keep = keras.random.uniform(shape, seed=seed_generator, dtype="float32") >= rate
    return ops.cast(keep, dtype) / (1.0 - rate)


def gaussian_stir(shape, rate, seed_generator, dtype="float32"):
    """``N(1, rate / (1 - rate))``, the variance Keras' GaussianDropout uses."""
    std = math.sqrt(rate / (1.0 - rate))
    return 1.0 + std * keras.random.normal(shape, seed=seed_generator, dtype=dtype)


def partial_gaussian_stir(shape, rate, seed_generator, dtype="float32"):
    """With probability ``rate`` draw ``N(1, 1 / (1 - rate))``, otherwise 1.

    The per-connection variance is ``rate * 1 / (1 - rate)``, the same as the other stirs.
    """
    chosen = keras.random.uniform(shape, seed=seed_generator, dtype="float32") < rate
    noise = keras.random.normal(shape, seed=seed_generator, dtype=dtype)
    std = math.sqrt(1.0 / (1.0 - rate))
    return ops.where(chosen, 1.0 + std * noise, ops.ones_like(noise))


def register_stir(name: str, fn: StirFn, overwrite: bool = False) -> None:
    """Register a user-defined stir so that layers can refer to it by name.

    Args:
        name: the name layers use (``PerNodeDense(stir=name)``); serialized in configs.
        fn: ``fn(shape, rate, seed_generator, dtype)`` returning a mean-one mask of
            ``shape``. Draw randomness with ``keras.random`` and ``seed=seed_generator``.
        overwrite: allow replacing an existing stir of that name.
    """
    if not isinstance(name, str) or not name:
        raise _invalid("name", "a non-empty str", name)
    if not callable(fn):
        raise _invalid("fn", "a callable fn(shape, rate, seed_generator, dtype)", fn)
    if name in _STIRS and not overwrite:
        raise ValueError(
            f"Invalid value received for argument `name`. A stir named {name!r} is already "
            f"registered; pass overwrite=True to replace it. Received: name={name!r}"
        )
    _STIRS[name] = fn


def get_stir(name: str) -> StirFn:
    if name not in _STIRS:
        raise _invalid("stir", f"one of {sorted(_STIRS)} (or a name given to register_stir)", name)
    return _STIRS[name]


def stir_names() -> list[str]:
    return sorted(_STIRS)


register_stir("bernoulli", bernoulli_stir)
register_stir("gaussian", gaussian_stir)
register_stir("partial_gaussian", partial_gaussian_stir)
