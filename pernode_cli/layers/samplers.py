"""Samplers: ways of computing ``y[b, j] = sum_i x[b, i] m[b, i, j] W[i, j]`` for a fresh mask.

Each sampler is a pure function ``fn(x, kernel, rate, stir_fn, stir_name, seed_generator)``
taking a rank-2 ``x`` of shape ``(batch, d_in)`` and returning ``(batch, units)``. All of
them are exact: the output has the distribution of the materialised-mask reference.

- ``reference``: materialise the ``(batch, d_in, units)`` mask, contract with einsum.
- ``local_reparam`` (Gaussian stir): the sum of independent Gaussian terms is Gaussian,
  ``N(x @ W, v (x*x) @ (W*W))`` with ``v = rate / (1 - rate)``, independent over samples
  and units (Kingma, Salimans, Welling 2015). Two matmuls, no mask.
- ``partial_reparam`` (partial-Gaussian stir): given which connections are perturbed
  (``c ~ Bernoulli(rate)``), the noise is Gaussian with variance
  ``sum_i c x^2 W^2 / (1 - rate)``. Only the binary choice is sampled per connection;
  one normal per output replaces ``d_in`` of them.
- ``chunked``: any stir; the mask is drawn ``d_in`` chunk by chunk from a per-call seed and
  drawn again from the same seed in the backward pass (custom gradient), so no
  ``(batch, d_in, units)`` tensor is kept between the passes.
"""

from __future__ import annotations

import math

import keras
from keras import ops

# Elements of one (batch, chunk, units) mask block in the chunked sampler (~16 MB float32).
CHUNK_ELEMENTS = 1 << 22
MAX_CHUNKS = 64


class _FixedSeed(keras.random.SeedGenerator):
    """Yields a fixed sequence of seeds derived from one seed tensor, so that a mask can be
    drawn again identically (a fresh instance from the same tensor replays the sequence).

    Holds no state variable: it is created inside a call, from a seed the layer's own
    SeedGenerator drew for that call.
    """

    def __init__(self, seed_tensor):  # no super().__init__: nothing to track or save
        self._seed_tensor = seed_tensor
        self._calls = 0

    def next(self, ordered=True):
        k, self._calls = self._calls, self._calls + 1
        if k == 0:
            return self._seed_tensor
        offset = ops.convert_to_tensor([k * 7777777 % (2**31 - 1), 0], dtype=self._seed_tensor.dtype)
        return ops.add(self._seed_tensor, offset)


def _chunk_seed(seed, c):
    # Offsets the first seed word per chunk; a SeedGenerator advances the second word per call.
    offset = ops.convert_to_tensor([(c + 1) * 1000003 % (2**31 - 1), 0], dtype=seed.dtype)
    return _FixedSeed(ops.add(seed, offset))


def _safe_sqrt(v):
    """sqrt with a finite gradient at 0 (where the exact value is 0 and no noise is added)."""
    positive = v > 0
    return ops.where(positive, ops.sqrt(ops.where(positive, v, ops.ones_like(v))), ops.zeros_like(v))


def reference_sampler(x, kernel, rate, stir_fn, stir_name, seed_generator):
    """Materialise the ``(batch, d_in, units)`` mask and contract it with einsum.

    Memory and time grow with ``batch * d_in * units``; this is the ground truth that
    faster samplers are tested against.
    """
    batch = ops.shape(x)[0]
    d_in, units = kernel.shape
    mask = stir_fn((batch, d_in, units), rate, seed_generator, x.dtype)
    return ops.einsum("bi,bij->bj", x, mask * kernel[None, :, :])


def local_reparam_sampler(x, kernel, rate, stir_fn, stir_name, seed_generator):
    mean = ops.matmul(x, kernel)
    var = (rate / (1.0 - rate)) * ops.matmul(ops.square(x), ops.square(kernel))
    eps = keras.random.normal(ops.shape(mean), seed=seed_generator, dtype=mean.dtype)
    return mean + _safe_sqrt(var) * eps


def _chunks(d_in: int, units: int, batch_hint: int = 128):
    size = max(1, CHUNK_ELEMENTS // (batch_hint * units))
    size = max(size, math.ceil(d_in / MAX_CHUNKS))
    return [(s, min(d_in, s + size)) for s in range(0, d_in, size)]


def masked_contraction(a, w, draw_mask, seed):
    """``sum_i a[b, i] mask[b, i, j] w[i, j]`` with the mask drawn per chunk of ``i`` by
    ``draw_mask(shape, seed_generator)`` and drawn again, not stored, for the gradient."""
    d_in, units = w.shape
    bounds = _chunks(d_in, units)

    def masks(batch):
        for c, (s, e) in enumerate(bounds):
            yield s, e, draw_mask((batch, e - s, units), _chunk_seed(seed, c))

    @ops.custom_gradient
    def contract(a, w):
        batch = ops.shape(a)[0]
        y = None
        for s, e, m in masks(batch):
            part = ops.einsum("bi,bij->bj", a[:, s:e], m * w[None, s:e, :])
            y = part if y is None else y + part

        def grad(*args, upstream=None):
            if upstream is None:
                (upstream,) = args
            ga, gw = [], []
            for s, e, m in masks(batch):
                ga.append(ops.einsum("bj,bij->bi", upstream, m * w[None, s:e, :]))
                gw.append(ops.einsum("bi,bij->ij", a[:, s:e], m * upstream[:, None, :]))
            return ops.concatenate(ga, axis=1), ops.concatenate(gw, axis=0)

        return y, grad

    return contract(a, w)


def chunked_sampler(x, kernel, rate, stir_fn, stir_name, seed_generator):
    seed = seed_generator.next()

    def draw(shape, gen):
        return stir_fn(shape, rate, gen, x.dtype)

    return masked_contraction(x, kernel, draw, seed)


def partial_reparam_sampler(x, kernel, rate, stir_fn, stir_name, seed_generator):
    mean = ops.matmul(x, kernel)
    seed = seed_generator.next()

    def chosen(shape, gen):  # which connections are perturbed: Bernoulli(rate), unscaled
        return ops.cast(keras.random.uniform(shape, seed=gen, dtype="float32") < rate, x.dtype)

    var = masked_contraction(ops.square(x), ops.square(kernel), chosen, seed) / (1.0 - rate)
    eps = keras.random.normal(ops.shape(mean), seed=seed_generator, dtype=mean.dtype)
    return mean + _safe_sqrt(var) * eps


SAMPLERS = {
    "reference": reference_sampler,
    "chunked": chunked_sampler,
    "local_reparam": local_reparam_sampler,
    "partial_reparam": partial_reparam_sampler,
}
# Samplers bound to one stir (the others take any stir).
STIR_OF = {"local_reparam": "gaussian", "partial_reparam": "partial_gaussian"}
# What "auto" picks: the fastest exact sampler for the stir.
AUTO = {"gaussian": "local_reparam", "partial_gaussian": "partial_reparam", "bernoulli": "chunked"}


def resolve_sampler(name: str, stir: str) -> str:
    """The sampler that runs for ``name`` (``"auto"`` resolved) and ``stir``."""
    if name == "auto":
        return AUTO.get(stir, "reference")
    return name


def validate_sampler(name, stir) -> str:
    valid = sorted(SAMPLERS) + ["auto"]
    if name not in valid:
        raise ValueError(
            f"Invalid value received for argument `sampler`. Expected one of {valid}. "
            f"Received: sampler={name!r}"
        )
    if name in STIR_OF and STIR_OF[name] != stir:
        raise ValueError(
            f"Invalid value received for argument `sampler`. Sampler {name!r} is exact only for "
            f"stir={STIR_OF[name]!r}; use 'auto', 'reference' or 'chunked' for stir={stir!r}. "
            f"Received: sampler={name!r}"
        )
    return name


def get_sampler(name):
    return SAMPLERS[name]


def compatible(stir: str) -> list[str]:
    """Every sampler name (``"auto"`` included) that may run with ``stir``."""
    return [name for name in sorted(SAMPLERS) + ["auto"] if STIR_OF.get(name, stir) == stir]
