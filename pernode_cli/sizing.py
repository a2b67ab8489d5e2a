"""How much memory a model of the paper's backbones needs, estimated before it is built.

Pure arithmetic (no Keras), so configs are refused at once, `sweep --dry-run` included,
instead of after a long out-of-memory traceback.
"""

from __future__ import annotations

import math
import os

from pernode_cli.errors import PernodeError

BYTES = 4  # float32
SEED_LIMIT = 2**32  # Keras seeds (and numpy's legacy seeding) are 32-bit


def module_input_width(input_shape: tuple, backbone: str) -> int:
    """Width of the flatten (CNN: two 2x2 poolings, 64 filters) or of the MLP's Dense 256."""
    if backbone == "mlp":
        return 256
    h, w = input_shape[0] // 4, input_shape[1] // 4
    return h * w * 64


def estimate_bytes(input_shape: tuple, backbone: str, units: int, batch_size: int, n_outputs: int) -> int:
    """Weights with Adam's two moments, and one batch's module activations and gradients."""
    d_in = module_input_width(input_shape, backbone)
    after = 64 if backbone == "cnn" else 128
    params = d_in * units + units + units * after + after + after * n_outputs + n_outputs
    if backbone == "mlp":
        params += math.prod(input_shape) * 1024 + 1024 * 256
    activations = batch_size * (math.prod(input_shape) + d_in + units + after) * 4
    return BYTES * (3 * params + activations)


def memory_bytes() -> int:
    """This machine's physical memory (the limit a model's estimate is checked against)."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):  # pragma: no cover - not POSIX
        return 1 << 40


def check_fits(input_shape: tuple, backbone: str, units: int, batch_size: int, n_outputs: int, where: str = "") -> None:
    """Refuse a model that cannot fit in this machine's memory, with the estimate."""
    need, have = estimate_bytes(input_shape, backbone, units, batch_size, n_outputs), memory_bytes()
    if need > have:
        raise PernodeError(
            f"{where}a model with `units` {units} and `batch_size` {batch_size} needs about {need / 2**30:,.1f} GiB "
            f"for weights, optimizer state and one batch, more than this machine's {have / 2**30:,.1f} GiB; "
            "use smaller values."
        )


def check_image_size(input_shape: tuple, name: str) -> None:
    """The CNN pools twice by 2: images must be at least 4 x 4."""
    if len(input_shape) == 3 and (input_shape[0] < 4 or input_shape[1] < 4):
        raise PernodeError(
            f"{name}: images of {input_shape[0]} x {input_shape[1]} are too small for the CNN backbone "
            "(two 2 x 2 poolings need at least 4 x 4)."
        )
