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
    "timeout": 604_800,  # seconds, a week: beyond it a thread's deadline overflows the platform's time_t
    "export_timeout": 604_800,
    "grid_runs": 10_000_000,  # runs of one sweep config
}


SEED_LIMIT = 2**32  # Keras seeds (and numpy's legacy seeding) are 32-bit


def _rate(v):
    return is_number(v) and 0 <= v < 1


# Setting kinds (``schema.setting(kind=...)``): (phrase for an option, phrase for a config
# value, test, conversion). One table serves `train`, `timeit` and sweep configs.
KINDS = {
    "dataset": ("a data set name or .npz path", "a non-empty string", lambda v: isinstance(v, str) and bool(v), str),
    "variant": ("a variant name", "a non-empty string", lambda v: isinstance(v, str) and bool(v), str),
    "path": ("a path", "a non-empty string", lambda v: isinstance(v, str) and bool(v), str),
    "rate": ("in [0, 1)", "a rate in [0, 1)", _rate, float),
    "size": ("a positive integer", "a positive integer", lambda v: is_int(v) and v > 0, int),
    "count": ("a positive integer", "a positive integer", lambda v: is_int(v) and v > 0, int),
    "optional_count": ("a positive integer", "a positive integer", lambda v: is_int(v) and v > 0, int),
    "count0": ("0 (off) or a positive integer", "a non-negative integer", lambda v: is_int(v) and v >= 0, int),
    "patience": ("0 (off) or positive", "a non-negative integer", lambda v: is_int(v) and v >= 0, int),
    "positive": ("a positive number", "a finite positive number",
                 lambda v: is_number(v) and math.isfinite(v) and v > 0, float),
    "seed": ("a non-negative integer below 2^32", "an integer in [0, 2^32)",
             lambda v: is_int(v) and 0 <= v < SEED_LIMIT, int),
}
OPTIONAL_KINDS = ("path", "optional_count", "patience", "rate")  # rate: None for a variant that takes none


def check_setting(name: str, kind: str, value):
    """A run setting's value, checked by its kind and bounded by ``LIMITS``; raises
    ``PernodeError`` naming the setting in backticks."""
    if value is None and kind in OPTIONAL_KINDS:
        return None
    cli, _, ok, convert = KINDS[kind]
    if kind == "seed" and is_int(value) and value >= SEED_LIMIT:
        raise PernodeError(f"`{name}` must be below 2^32 (Keras seeds are 32-bit); got {value}.")
    if not ok(value):
        raise PernodeError(f"`{name}` must be {cli}; got {value}.")
    value = convert(value)
    return check_at_most(name, value) if name in LIMITS else value


def config_value(kind: str, value, where: str, limit: str | None = None, listed: bool = False):
    """A sweep config's value (a list of them where ``listed``), checked by kind, bounded by
    ``LIMITS[limit]``; raises ``PernodeError`` naming the key and its line (``where``)."""
    _, phrase, ok, convert = KINDS[kind]
    expected = f"a list of {phrase.replace('a ', '', 1).replace('an ', '', 1)}s" if listed else phrase
    if kind == "seed" and listed:
        expected = "a list of integers in [0, 2^32)"
    if kind == "rate" and listed:
        expected = "a list of rates in [0, 1)"
    values = value if listed else [value]
    if listed and (not isinstance(value, list) or not value):
        raise PernodeError(f"{where}: expected a non-empty list, got {value!r}.")
    if not all(ok(v) for v in values):
        raise PernodeError(f"{where}: expected {expected}, got {value!r}.")
    bound = LIMITS.get(limit) if limit else None
    if bound is not None and any(v > bound for v in values):
        raise PernodeError(f"{where}: every value must be at most {bound:,}; got {value!r}.")
    out = [convert(v) for v in values]
    return list(dict.fromkeys(out)) if listed else out[0]


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
