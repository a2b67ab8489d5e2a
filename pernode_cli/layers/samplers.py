"""Samplers: ways of computing ``y[b, j] = sum_i x[b, i] m[b, i, j] W[i, j]`` for a fresh mask.

Each sampler is a pure function ``fn(x, kernel, rate, stir_fn, stir_name, seed_generator)``
taking a rank-2 ``x`` of shape ``(batch, d_in)`` and returning ``(batch, units)``.
"""

from __future__ import annotations

from keras import ops


def reference_sampler(x, kernel, rate, stir_fn, stir_name, seed_generator):
    """Materialise the ``(batch, d_in, units)`` mask and contract it with einsum.

    Memory and time grow with ``batch * d_in * units``; this is the ground truth that
    faster samplers are tested against.
    """
    batch = ops.shape(x)[0]
    d_in, units = kernel.shape
    mask = stir_fn((batch, d_in, units), rate, seed_generator, x.dtype)
    return ops.einsum("bi,bij->bj", x, mask * kernel[None, :, :])


SAMPLERS = {"reference": reference_sampler}


def get_sampler(name):
    if name not in SAMPLERS:
        raise ValueError(
            "Invalid value received for argument `sampler`. Expected one of "
            f"{sorted(SAMPLERS)}. Received: sampler={name!r}"
        )
    return SAMPLERS[name]
