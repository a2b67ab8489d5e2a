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


@dataclass(frozen=True)
class Variant:
    name: str
    build: Callable  # (variant, units, rate, seed, sampler) -> list of Keras layers
    stir: Optional[str] = None  # PerNode variants: the stir of their PerNodeDense
    mask: Optional[str] = None  # PerNode variants: "dynamic" or "fixed"
    deterministic: bool = False  # the same prediction on every noisy pass

    @property
    def pernode(self) -> bool:
        return self.stir is not None

    @property
    def dynamic_pernode(self) -> bool:
        return self.pernode and self.mask == "dynamic"


def _pernode(name, stir, mask):
    return Variant(name, _pernode_module, stir=stir, mask=mask, deterministic=mask == "fixed")


REGISTRY: dict[str, Variant] = {
    v.name: v
    for v in (
        Variant("Dropout", _regularizer_then_dense(_dropout)),
        Variant("GaussianDropout", _regularizer_then_dense(_gaussian_dropout)),
        Variant("DropConnect", _dropconnect_module),
        Variant("MaskEnsemble", _regularizer_then_dense(_mask_ensemble)),
        _pernode("PerNodeBernoulli", "bernoulli", "dynamic"),
        _pernode("PerNodeGaussian", "gaussian", "dynamic"),
        _pernode("PerNodePartialGaussian", "partial_gaussian", "dynamic"),
        _pernode("PerNodeBernoulli_Fixed", "bernoulli", "fixed"),
        _pernode("PerNodeGaussian_Fixed", "gaussian", "fixed"),
        _pernode("PerNodePartialGaussian_Fixed", "partial_gaussian", "fixed"),
        Variant("Dense", _regularizer_then_dense(None), deterministic=True),  # the control
    )
}
VARIANTS = tuple(REGISTRY)
_LOOKUP = {v.lower(): v for v in VARIANTS}


def canonical_variant(name: str) -> str:
    """Case-insensitive lookup; ``_F`` is accepted for ``_Fixed``."""
    key = str(name).strip().lower()
    if key.endswith("_f"):
        key += "ixed"
    if key not in _LOOKUP:
        raise PernodeError(f"Unknown variant {name!r}. Valid variants: {', '.join(VARIANTS)}.")
    return _LOOKUP[key]


def get_variant(name: str) -> Variant:
    return REGISTRY[canonical_variant(name)]


def parse_variants(text: str) -> list[str]:
    """``"all"`` or a comma-separated list of variant names, canonical and de-duplicated."""
    if str(text).strip().lower() == "all":
        return list(VARIANTS)
    names = [canonical_variant(v) for v in str(text).split(",") if v.strip()]
    if not names:
        raise PernodeError("`variants` must be 'all' or a comma-separated list of variants.")
    return list(dict.fromkeys(names))
