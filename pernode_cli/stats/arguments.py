"""The arguments of the statistics' pure functions, checked: a bad one is a ``PernodeError``
in Keras' wording (a command shows it as one line)."""

from __future__ import annotations

import numpy as np

from pernode_cli.argchecks import invalid
from pernode_cli.errors import PernodeError


def invalid_argument(name: str, expected: str, value) -> PernodeError:
    """A statistic's bad argument: ``PernodeError`` (a command's bad input, one line, exit 2)."""
    return invalid(name, expected, value, PernodeError)


def check_confidence(confidence) -> float:
    if not isinstance(confidence, (int, float)) or isinstance(confidence, bool) or not 0 < confidence < 1:
        raise invalid_argument("confidence", "a float in (0, 1)", confidence)
    return float(confidence)


def check_count(name: str, value, least: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < least:
        raise invalid_argument(name, f"an integer >= {least}", value)
    return int(value)


def as_matrix(values, name: str = "values", min_blocks: int = 1) -> np.ndarray:
    """``values`` as a finite float ``(n_blocks, k)`` array (a vector is one column)."""
    m = np.asarray(values, dtype="float64")
    if m.ndim == 1:
        m = m[:, None]
    if m.ndim != 2 or m.shape[1] < 1:
        raise invalid_argument(name, "a (blocks, variants) matrix", f"array of shape {m.shape}")
    if m.shape[0] < min_blocks:
        raise invalid_argument(name, f"at least {min_blocks} block(s) (rows)", f"array of shape {m.shape}")
    if not np.all(np.isfinite(m)):
        raise invalid_argument(name, "finite numbers only (drop incomplete blocks first)",
                       f"array with {int((~np.isfinite(m)).sum())} non-finite value(s)")
    return m


def vector(x, name: str) -> np.ndarray:
    v = np.asarray(x, dtype="float64")
    if v.ndim != 1 or len(v) < 1:
        raise invalid_argument(name, "a vector of block values", f"array of shape {v.shape}")
    if not np.all(np.isfinite(v)):
        raise invalid_argument(name, "finite numbers only",
                               f"vector with {int((~np.isfinite(v)).sum())} non-finite value(s)")
    return v


def paired(a, b) -> tuple[np.ndarray, np.ndarray]:
    x, y = vector(a, "a"), vector(b, "b")
    if len(x) != len(y):
        raise invalid_argument("b", f"as many block values as `a` ({len(x)})", f"{len(y)} values")
    return x, y
