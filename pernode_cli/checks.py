"""Argument checks shared by the run configurations (train, timeit, sweep configs).

Each check returns the value or raises ``PernodeError`` naming the argument in backticks.
Layers keep Keras' own ``ValueError`` wording (``pernode_cli.layers.checks``).
"""

from __future__ import annotations

import math

from pernode_cli.errors import PernodeError


def is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def check_rate(name: str, value) -> float:
    if not is_number(value) or not 0 <= value < 1:
        raise PernodeError(f"`{name}` must be in [0, 1); got {value}.")
    return float(value)


def check_positive_int(name: str, value) -> int:
    if not is_int(value) or value <= 0:
        raise PernodeError(f"`{name}` must be a positive integer; got {value}.")
    return value


def check_optional_positive_int(name: str, value):
    return None if value is None else check_positive_int(name, value)


def check_non_negative_int(name: str, value, what: str = "a non-negative integer") -> int:
    if not is_int(value) or value < 0:
        raise PernodeError(f"`{name}` must be {what}; got {value}.")
    return value


def check_positive_number(name: str, value) -> float:
    if not is_number(value) or not math.isfinite(value) or value <= 0:
        raise PernodeError(f"`{name}` must be a positive number; got {value}.")
    return float(value)


def check_choice(name: str, value, choices) -> str:
    if value not in choices:
        raise PernodeError(f"`{name}` must be one of {', '.join(choices)}; got {value!r}.")
    return value


def is_gpu_share(value) -> bool:
    """A run's GPUs as Ray counts them: a fraction of one GPU in [0, 1], or whole GPUs."""
    if not is_number(value) or not math.isfinite(value) or value < 0:
        return False
    return value <= 1 or float(value).is_integer()
