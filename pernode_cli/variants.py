"""Variant names (no Keras import: the CLI and `rank` use these too)."""

from __future__ import annotations

from pernode_cli.errors import PernodeError

VARIANTS = (
    "Dropout",
    "GaussianDropout",
    "DropConnect",
    "MaskEnsemble",
    "PerNodeBernoulli",
    "PerNodeGaussian",
    "PerNodePartialGaussian",
    "PerNodeBernoulli_Fixed",
    "PerNodeGaussian_Fixed",
    "PerNodePartialGaussian_Fixed",
    "Dense",
)

# PerNode variant -> (stir, mask mode)
PERNODE = {
    "PerNodeBernoulli": ("bernoulli", "dynamic"),
    "PerNodeGaussian": ("gaussian", "dynamic"),
    "PerNodePartialGaussian": ("partial_gaussian", "dynamic"),
    "PerNodeBernoulli_Fixed": ("bernoulli", "fixed"),
    "PerNodeGaussian_Fixed": ("gaussian", "fixed"),
    "PerNodePartialGaussian_Fixed": ("partial_gaussian", "fixed"),
}

_LOOKUP = {v.lower(): v for v in VARIANTS}


def canonical_variant(name: str) -> str:
    """Case-insensitive lookup; ``_F`` is accepted for ``_Fixed``."""
    key = str(name).strip().lower()
    if key.endswith("_f"):
        key += "ixed"
    if key not in _LOOKUP:
        raise PernodeError(f"Unknown variant {name!r}. Valid variants: {', '.join(VARIANTS)}.")
    return _LOOKUP[key]
