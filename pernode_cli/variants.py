"""The variants: one registry of every regularizer the benchmark compares.

Each entry says what the variant is (stir and mask mode for PerNode variants), whether its
prediction is deterministic (Monte Carlo inference runs one pass then), and how its
regularization module is built. Importing this module imports no Keras: names are used by
`rank` and the command line too; the builders import Keras when called.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional

from pernode_cli.errors import PernodeError
from pernode_cli.registries import Registry, own_source


def _pernode_module(variant: "Variant", units, rate, seed, sampler):
    from pernode_cli.layers import PerNodeDense

    kwargs = {} if sampler is None else {"sampler": sampler}
    return [PerNodeDense(units, rate, stir=variant.stir, mask=variant.mask, activation="relu", seed=seed, **kwargs)]


def _dropconnect_module(variant, units, rate, seed, sampler):
    from pernode_cli.layers import DropConnectDense

    return [DropConnectDense(units, rate, activation="relu", seed=seed)]


def _regularizer_then_dense(make_regularizer):
    """Fairness rule: the regularizer followed by a Dense layer of the same width."""

    def build(variant, units, rate, seed, sampler):
        import keras

        dense = keras.layers.Dense(units, activation="relu")
        return ([make_regularizer(rate, seed)] if make_regularizer else []) + [dense]

    return build


def _dropout(rate, seed):
    import keras

    return keras.layers.Dropout(rate, seed=seed)


def _gaussian_dropout(rate, seed):
    import keras

    return keras.layers.GaussianDropout(rate, seed=seed)


def _mask_ensemble(rate, seed):
    from pernode_cli.layers import MaskEnsemble

    return MaskEnsemble(rate, n=4, seed=seed)


def _wan_dropconnect_module(variant, units, rate, seed, sampler):
    from pernode_cli.layers import WanDropConnectDense

    return [WanDropConnectDense(units, rate, activation="relu", seed=seed)]


@dataclass(frozen=True)
class Variant:
    name: str
    build: Callable  # (variant, units, rate, seed, sampler) -> list of Keras layers
    stir: Optional[str] = None  # PerNode variants: the stir of their PerNodeDense
    mask: Optional[str] = None  # PerNode variants: "dynamic" or "fixed"
    deterministic: bool = False  # the same prediction on every noisy pass
    uses_rate: bool = True  # False: the module takes no rate (one run serves every rate of a sweep)
    description: str = ""
    source: str = ""  # "" for pernode's own (see ``variant_source``)

    @property
    def pernode(self) -> bool:
        return self.stir is not None

    @property
    def dynamic_pernode(self) -> bool:
        return self.pernode and self.mask == "dynamic"


STIR_WORDS = {"bernoulli": "Bernoulli(q)/q", "gaussian": "N(1, rate/(1-rate))",
              "partial_gaussian": "with probability rate N(1, 1/(1-rate)), else 1"}


def _pernode(name, stir, mask):
    how = ("a fresh mask per sample at every training step, a plain Dense layer at inference" if mask == "dynamic"
           else "one mask drawn at build, kept in training and at inference")
    return Variant(name, _pernode_module, stir=stir, mask=mask, deterministic=mask == "fixed",
                   description=f"PerNodeDense: per-sample, per-connection {STIR_WORDS[stir]} noise inside the Dense "
                               f"layer; {how}")


def _fixed_short(name: str) -> list:
    """``PerNodeBernoulli_F`` is written ``PerNodeBernoulli_Fixed`` in logs."""
    return [name + "ixed"] if name.lower().endswith("_f") else []


REGISTRY = Registry("variant", "variants", aliases=_fixed_short)
for _v in (
        Variant("Dropout", _regularizer_then_dense(_dropout),
                description="keras Dropout(rate), then Dense(units, relu)"),
        Variant("GaussianDropout", _regularizer_then_dense(_gaussian_dropout),
                description="keras GaussianDropout(rate), then Dense(units, relu)"),
        Variant("DropConnect", _dropconnect_module,
                description="DropConnectDense: one Bernoulli mask on the kernel per training call, shared by the "
                            "whole batch (as most public implementations do); the plain kernel at inference"),
        Variant("DropConnectWan", _wan_dropconnect_module,
                description="Wan et al. (2013) DropConnect: a Bernoulli mask per example in training, and at "
                            "inference the mean activation over samples of the moment-matched Gaussian "
                            "pre-activation"),
        Variant("MaskEnsemble", _regularizer_then_dense(_mask_ensemble),
                description="Masksembles: n = 4 fixed binary feature masks, the batch split into n groups; then "
                            "Dense(units, relu)"),
        _pernode("PerNodeBernoulli", "bernoulli", "dynamic"),
        _pernode("PerNodeGaussian", "gaussian", "dynamic"),
        _pernode("PerNodePartialGaussian", "partial_gaussian", "dynamic"),
        _pernode("PerNodeBernoulli_Fixed", "bernoulli", "fixed"),
        _pernode("PerNodeGaussian_Fixed", "gaussian", "fixed"),
        _pernode("PerNodePartialGaussian_Fixed", "partial_gaussian", "fixed"),
        Variant("Dense", _regularizer_then_dense(None), deterministic=True, uses_rate=False,
                description="no regularizer: Dense(units, relu), the control; takes no rate"),
):
    REGISTRY.add(_v)
VARIANTS = tuple(REGISTRY)  # pernode's own variants (plugins add theirs to REGISTRY)


def canonical_variant(name: str) -> str:
    """The registered spelling of ``name``: in any case; ``_F`` is accepted for ``_Fixed``."""
    return REGISTRY.canonical(name)


def get_variant(name: str) -> Variant:
    return REGISTRY.lookup(name)


def variant_source(v: Variant) -> str:
    return v.source or own_source()


def run_rate(variant: str, rate):
    """The rate a run of ``variant`` is identified and logged by: ``rate``, or None for a variant that
    takes none (``Dense``): its one run serves every rate, and its log rows leave ``rate`` empty."""
    from pernode_cli.checks import check_setting

    rate = check_setting("rate", "rate", rate)  # a rate given is checked even where it is not used
    return rate if get_variant(variant).uses_rate else None


def parse_variants(text: str) -> list[str]:
    """``"all"`` or a comma-separated list of variant names, canonical and de-duplicated."""
    if str(text).strip().lower() == "all":
        return list(REGISTRY)
    names_ = [canonical_variant(v) for v in str(text).split(",") if v.strip()]
    if not names_:
        raise PernodeError("`variants` must be 'all' or a comma-separated list of variants.")
    return list(dict.fromkeys(names_))


def register_variant(name, fn=None, *, description="", deterministic=False, uses_rate=True, replace=False):
    """Register a variant (a regularization module) under ``name``; usable as a decorator.

    Args:
        name: the variant's name in commands, configs and logs; unique (case-insensitive)
            unless ``replace``.
        fn: ``fn(units, rate, seed)`` returning the module: a list of Keras layers placed in the
            backbone's slot (the paper's fairness rule: a Dense layer of ``units`` is part of it).
        description: one line shown by ``pernode list variants``.
        deterministic: True when the module's prediction is the same on every noisy pass
            (Monte Carlo inference then runs one pass).
        uses_rate: False when the module ignores ``rate``: a sweep then trains it once for all
            its rates, and the ranking places that run in every rate's block.
        replace: allow replacing a registered variant of that name.

    Returns ``fn`` (so it decorates), after registering it.
    """
    from pernode_cli.argchecks import check_bool, check_description, check_name, check_replace, check_signature
    from pernode_cli.sources import source_of

    check_name(name)
    check_description(description)
    check_bool("deterministic", deterministic)
    check_bool("uses_rate", uses_rate)
    check_replace(replace)

    def register(function):
        check_signature("fn", function, (128, 0.5, 0), "fn(units, rate, seed) -> list of Keras layers")

        def build(variant, units, rate, seed, sampler):
            module = function(units, rate, seed)
            return list(module) if isinstance(module, (list, tuple)) else module  # anything else: refused by its check

        REGISTRY.add(Variant(name, build, deterministic=deterministic, uses_rate=uses_rate,
                             description=description, source=source_of(function)), replace=replace)
        return function

    return register if fn is None else register(fn)
