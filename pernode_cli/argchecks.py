"""Argument checks of everything public (layers, registries, statistics), in Keras' wording:
``ValueError("Invalid value received for argument `rate`. Expected a float in [0, 1). Received: rate=1.5")``.

``invalid`` makes that error (a ``PernodeError`` where a command shows it as one line); the
checks return the value or raise it."""

from __future__ import annotations

import inspect
import re

NAME = re.compile(r"[A-Za-z][A-Za-z0-9_.\-]*")


def invalid(name: str, expected: str, value, error: type = ValueError) -> Exception:
    """``error("Invalid value received for argument `NAME`. Expected EXPECTED. Received: NAME=VALUE")``."""
    return error(f"Invalid value received for argument `{name}`. Expected {expected}. Received: {name}={value!r}")


def as_items(value, name: str, expected: str = "a list of texts (one text is one item)") -> tuple:
    """A list argument (``plugin``, ``track``, ``timings``): None is none, one text or path is one
    item, paths become texts; anything else that is no list is refused as ``PernodeError``."""
    import os

    from pernode_cli.errors import PernodeError

    if value is None:
        return ()
    if isinstance(value, (str, bytes, os.PathLike)):
        return (os.fspath(value),)
    try:
        return tuple(os.fspath(v) if isinstance(v, os.PathLike) else v for v in value)
    except TypeError:
        raise invalid(name, expected, value, error=PernodeError) from None


def check_name(name) -> str:
    """A name that survives a CSV cell and a comma-separated list: a letter, then letters,
    digits, ``_``, ``.`` or ``-``."""
    if not isinstance(name, str) or not NAME.fullmatch(name):
        raise invalid("name", "a str starting with a letter, of letters, digits, '_', '.' and '-'", name)
    return name


def check_description(description) -> str:
    if not isinstance(description, str):
        raise invalid("description", "a str", description)
    return description


def check_replace(replace) -> bool:
    if not isinstance(replace, bool):
        raise invalid("replace", "a bool", replace)
    return replace


def existing(registry: dict, name: str, what: str, replace: bool) -> None:
    """Refuse a name already registered (in any case: lookups are case-insensitive)."""
    clash = next((k for k in registry if k.lower() == name.lower()), None)
    if clash is not None and not replace:
        raise ValueError(
            f"Invalid value received for argument `name`. A {what} named {clash!r} is already registered; pass "
            f"replace=True to replace it. Received: name={name!r}"
        )
    if clash is not None and clash != name:
        del registry[clash]


def check_positive_int(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise invalid(name, "a positive int", value)
    return value


def check_bool(name: str, value) -> bool:
    if not isinstance(value, bool):
        raise invalid(name, "a bool", value)
    return value


def check_callable(name: str, value, expected: str):
    if not callable(value):
        raise invalid(name, expected, value)
    return value


def check_signature(name: str, value, args: tuple, expected: str):
    """A callable that accepts ``args`` positionally, as pernode will call it; ``expected`` is
    the call in words (``"fn(units, rate, seed) -> list of Keras layers"``)."""
    check_callable(name, value, f"a callable {expected}")
    try:
        signature = inspect.signature(value)
    except (TypeError, ValueError):  # a builtin without a signature: its call will tell
        return value
    try:
        signature.bind(*args)
    except TypeError:
        shown = getattr(value, "__qualname__", None) or type(value).__name__
        raise ValueError(
            f"Invalid value received for argument `{name}`. Expected a callable {expected}, called with "
            f"{len(args)} positional argument(s); {shown}{signature} cannot be. Received: {name}={shown}"
        ) from None
    return value
