"""Constructor-argument checks shared by the layers, with Keras' own error wording.

Every check returns the (normalised) value or raises
``ValueError("Invalid value received for argument `rate`. Expected a float in [0, 1).
Received: rate=1.5")``, the form Keras' built-in layers use.
"""

from __future__ import annotations

import keras

from pernode_cli.argchecks import invalid


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def validate_rate(rate) -> float:
    if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not (0 <= rate < 1):
        raise invalid("rate", "a float in [0, 1)", rate)
    return float(rate)


def validate_seed(seed):
    if seed is not None and (not _is_int(seed) or seed < 0):
        raise invalid("seed", "None or a non-negative int", seed)
    return seed


def validate_choice(name: str, value, choices) -> str:
    if not isinstance(value, str) or value not in choices:
        raise invalid(name, f"one of {list(choices)}", value)
    return value


def get_activation(activation):
    """``keras.activations.get`` with the layers' error wording."""
    try:
        return keras.activations.get(activation)
    except (ValueError, TypeError):
        raise invalid("activation", "an activation name or callable", activation) from None


def get_initializer(name: str, initializer):
    """``keras.initializers.get`` with the layers' error wording."""
    try:
        return keras.initializers.get(initializer)
    except (ValueError, TypeError):
        raise invalid(name, "an initializer name, config or instance", initializer) from None
