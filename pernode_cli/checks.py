"""Argument checks shared by the run configurations (train, timeit, sweep configs).

Each check returns the value or raises ``PernodeError`` naming the argument in backticks.
Layers keep Keras' own ``ValueError`` wording (``pernode_cli.layers.checks``).
"""

from __future__ import annotations

import math

from pernode_cli.errors import PernodeError

# Upper bounds of every count and size a user gives: far beyond any real study, small
# enough that nothing downstream overflows (NumPy's int64, Keras' int32 step counters) or
# plans for ever.
LIMITS = {
    "units": 2**20,
    "batch_size": 2**20,
    "epochs": 100_000,
    "patience": 100_000,
    "mc_samples": 10_000,
    "max_train_samples": 2**31 - 1,
    "steps_per_epoch": 10_000_000,
    "warmup": 100_000,
    "top": 1_000_000,
    "table_top": 1_000_000,
    "cpus_per_run": 4096,
    "gpus_per_run": 4096,
    "max_minutes": 525_600,  # a year
    "grid_runs": 10_000_000,  # runs of one sweep config
}


def check_at_most(name: str, value, limit_key: str | None = None):
    """``value`` if it is at most its limit (``LIMITS[limit_key or name]``); raises otherwise."""
    limit = LIMITS[limit_key or name]
    if value is not None and value > limit:
        raise PernodeError(f"`{name}` must be at most {limit:,}; got {value:,}.")
    return value


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
    return check_at_most(name, value) if name in LIMITS else value


def check_optional_positive_int(name: str, value):
    return None if value is None else check_positive_int(name, value)


def check_non_negative_int(name: str, value, what: str = "a non-negative integer") -> int:
    if not is_int(value) or value < 0:
        raise PernodeError(f"`{name}` must be {what}; got {value}.")
    return check_at_most(name, value) if name in LIMITS else value


def check_positive_number(name: str, value) -> float:
    if not is_number(value) or not math.isfinite(value) or value <= 0:
        raise PernodeError(f"`{name}` must be a positive number; got {value}.")
    return check_at_most(name, float(value)) if name in LIMITS else float(value)


def check_choice(name: str, value, choices) -> str:
    if value not in choices:
        raise PernodeError(f"`{name}` must be one of {', '.join(choices)}; got {value!r}.")
    return value


def is_gpu_share(value) -> bool:
    """A run's GPUs as Ray counts them: a fraction of one GPU in [0, 1], or whole GPUs."""
    if not is_number(value) or not math.isfinite(value) or value < 0 or value > LIMITS["gpus_per_run"]:
        return False
    return value <= 1 or float(value).is_integer()
