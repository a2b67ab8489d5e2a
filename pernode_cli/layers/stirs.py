"""Stir functions: the mean-one random multipliers of PerNodeDrop, and the pure ops built on them.

A stir is ``fn(shape, rate, seed_generator, dtype) -> tensor`` with ``E[m] = 1``.
Built-in stirs have per-connection variance ``rate / (1 - rate)`` (the Bernoulli and
partial-Gaussian stirs: of their realised rate, within 1.5e-5 of ``rate``) so that the three
modes are comparable at the same rate.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import keras
from keras import ops

from pernode_cli.layers.bits import bernoulli_drop, bernoulli_keep, realised_keep
from pernode_cli.argchecks import invalid
from pernode_cli.registries import Registry, check_entry_name

StirFn = Callable[..., object]


def bernoulli_stir(shape, rate, seed_generator, dtype="float32"):
    """Keep with probability ``q = realised_keep(rate)`` and rescale by ``1 / q``.

    ``q`` is ``1 - rate`` rounded to a multiple of ``2**-15`` (integer thresholds on at most
    15 random bits, several decisions per random word; see ``pernode_cli.layers.bits``),
    and the scale is its exact inverse, so ``E[m] = 1`` exactly and the variance is
    ``(1 - q) / q``.
    """
    keep = bernoulli_keep(shape, rate, seed_generator)
    return ops.where(keep, ops.cast(1.0 / realised_keep(rate), dtype), ops.cast(0.0, dtype))


def gaussian_stir(shape, rate, seed_generator, dtype="float32"):
    """``N(1, rate / (1 - rate))``, the variance Keras' GaussianDropout uses."""
    std = math.sqrt(rate / (1.0 - rate))
    return 1.0 + std * keras.random.normal(shape, seed=seed_generator, dtype=dtype)


def partial_gaussian_stir(shape, rate, seed_generator, dtype="float32"):
    """With probability ``r = realised_rate(rate)`` draw ``N(1, 1 / (1 - r))``, otherwise 1.

    Which connections are perturbed comes from the Bernoulli stir's packed integer
    thresholds (``bits.bernoulli_drop``): exactly probability ``r = 1 - q``, the multiple
    of ``2**-15`` nearest to ``rate`` (within 1.5e-5). The per-connection variance is
    ``r / (1 - r)``, the same as the Bernoulli stir's at the same rate.
    """
    chosen = bernoulli_drop(shape, rate, seed_generator)
    noise = keras.random.normal(shape, seed=seed_generator, dtype=dtype)
    std = math.sqrt(1.0 / realised_keep(rate))
    return ops.where(chosen, 1.0 + std * noise, ops.ones_like(noise))


@dataclass(frozen=True)
class Stir:
    """A registered stir: its function, its one-line description and where it came from."""

    name: str
    fn: StirFn
    description: str = ""
    source: str = ""


def _unknown(name, registry):
    return invalid("stir", f"one of {sorted(registry)} (or a name given to register_stir)", name)


STIRS = Registry("stir", "stirs", unknown=_unknown, validate=check_entry_name)


def register_stir(name: str, fn: StirFn, description: str = "", replace: bool = False) -> Stir:
    """Register a user-defined stir so that layers can refer to it by name.

    Args:
        name: the name layers use (``PerNodeDense(stir=name)``); serialized in configs.
        fn: ``fn(shape, rate, seed_generator, dtype)`` returning a mean-one mask of
            ``shape``. Draw randomness with ``keras.random`` and ``seed=seed_generator``.
        description: one line for ``pernode list stirs`` (default: the first line of ``fn``'s docstring).
        replace: allow replacing an existing stir of that name.
    """
    from pernode_cli.argchecks import check_description, check_signature
    from pernode_cli.sources import source_of

    check_signature("fn", fn, ((2, 2), 0.5, None, "float32"), "fn(shape, rate, seed_generator, dtype)")
    check_description(description)
    text = description or ((fn.__doc__ or "").strip().splitlines() or [""])[0]
    return STIRS.add(Stir(name, fn, text, source_of(fn)), replace=replace)


def get_stir(name: str) -> StirFn:
    """The stir function registered under ``name``."""
    if not isinstance(name, str):
        raise _unknown(name, STIRS)
    return STIRS.lookup(name).fn


def stir_names() -> list[str]:
    """Names of every registered stir, sorted."""
    return sorted(STIRS)


register_stir("bernoulli", bernoulli_stir)
register_stir("gaussian", gaussian_stir)
register_stir("partial_gaussian", partial_gaussian_stir)
