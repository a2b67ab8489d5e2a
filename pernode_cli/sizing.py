"""How much memory a model needs, estimated before it is built, from the backbone registry
(``pernode_cli.backbones``: each backbone's module input width and its own parameters).

Pure arithmetic (no Keras), so configs are refused at once, `sweep --dry-run` included,
instead of after a long out-of-memory traceback. A plugin's backbone registered without its
sizes is sized once its model is built (``check_built``).
"""

from __future__ import annotations

import math
import os
from typing import Optional

from pernode_cli.errors import PernodeError

BYTES = 4  # float32


def estimate_bytes(input_shape: tuple, backbone: str, units: int, batch_size: int, n_outputs: int) -> Optional[int]:
    """Weights with Adam's two moments, and one batch's module activations and gradients;
    None for a backbone registered without its sizes."""
    from pernode_cli.backbones import BACKBONES

    entry = BACKBONES.get(backbone)
    if entry is None or entry.feature_width is None:
        return None
    d_in, after = entry.feature_width(tuple(input_shape)), entry.head_units
    params = d_in * units + units + units * after + after + after * n_outputs + n_outputs
    params += entry.params(tuple(input_shape)) if entry.params is not None else 0
    return _bytes(params, batch_size * (math.prod(input_shape) + d_in + units + after))


def _bytes(params: int, activations: int) -> int:
    return BYTES * (3 * params + 4 * activations)


def memory_bytes() -> int:
    """This machine's physical memory (the limit a model's estimate is checked against)."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):  # pragma: no cover - not POSIX
        return 1 << 40


def _refuse(need: int, units: int, batch_size: int, where: str) -> None:
    have = memory_bytes()
    if need > have:
        raise PernodeError(
            f"{where}a model with `units` {units} and `batch_size` {batch_size} needs about {need / 2**30:,.1f} GiB "
            f"for weights, optimizer state and one batch, more than this machine's {have / 2**30:,.1f} GiB; "
            "use smaller values."
        )


def check_fits(input_shape: tuple, backbone: str, units: int, batch_size: int, n_outputs: int, where: str = "") -> None:
    """Refuse a model that cannot fit in this machine's memory, with the estimate (a backbone
    without registered sizes is checked once built, by ``check_built``)."""
    need = estimate_bytes(input_shape, backbone, units, batch_size, n_outputs)
    if need is not None:
        _refuse(need, units, batch_size, where)


def check_built(model, units: int, batch_size: int) -> None:
    """The same check on a built model: its parameters and one batch of its layers' outputs."""
    params = int(model.count_params())
    widths = sum(math.prod(d for d in layer.output.shape[1:] if d) for layer in model.layers
                 if hasattr(layer, "output") and getattr(layer.output, "shape", None) is not None)
    _refuse(_bytes(params, batch_size * widths), units, batch_size, "")


def check_image_size(input_shape: tuple, name: str) -> None:
    """The CNN pools twice by 2: images must be at least 4 x 4."""
    if len(input_shape) == 3 and (input_shape[0] < 4 or input_shape[1] < 4):
        raise PernodeError(
            f"{name}: images of {input_shape[0]} x {input_shape[1]} are too small for the CNN backbone "
            "(two 2 x 2 poolings need at least 4 x 4)."
        )
