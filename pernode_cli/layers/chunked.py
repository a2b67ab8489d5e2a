"""The chunked masked contraction: ``sum_i a[b, i] mask[b, i, j] w[i, j]`` without storing the mask.

The input axis ``i`` is cut into ``n`` chunks of ``size`` inputs. Chunk ``c``'s mask block
``(batch, size, units)`` is drawn from its own seed ``seeds[c]``; the forward pass adds the
chunks up in a ``keras.ops.fori_loop`` and the backward pass (a custom gradient) draws every
block again from the same seed in a ``keras.ops.scan``. Both are loops the compilers keep as
loops (``tf.while_loop``, ``lax.fori_loop`` / ``lax.scan``), so under ``jit`` or XLA only one
block is live at a time, and nothing of size ``batch * d_in * units`` is kept between the
passes.

Chunk seeds are drawn per call by ``chunk_seeds``: ``keras.random.randint`` from the layer's
``SeedGenerator``, i.e. a fold-in through the backend's counter-based generator; chunks and
calls get independent streams whatever the layer seed. They are random pairs, not
``seed + c``, so they do not share the PyTorch backend's shifted streams (its generator seed
is the sum of the state's two words): two chunk blocks coincide there only when their seed
sums do, a birthday collision of 32-bit values. With ``G`` chunk blocks in a run (about
250,000 for 20 CIFAR-10 epochs at 32 chunks a step) that is about ``G**2 / 2**33``: some 7
pairs of identical blocks among a quarter of a million (a fraction of 6e-5 of the noise),
the floor of any generator seeded with 32 bits; JAX and TensorFlow key the draw with both
words (64 bits). A block is drawn with the layer's
generator set to the chunk seed inside a ``keras.StatelessScope``, so any stir
``fn(shape, rate, seed_generator, dtype)`` works unchanged and the layer's own state moves
only once per call.
"""

from __future__ import annotations

import keras
from keras import ops

# Elements of one (batch, size, units) mask block (8 MiB as float32). On a 2-core CPU with
# TensorFlow, steps are flat from 2**20 to 2**22 elements; smaller blocks pay per-op
# overhead, larger ones leave the caches.
CHUNK_ELEMENTS = 1 << 21
# Batch size assumed for chunking when the batch is not known while tracing.
BATCH_HINT = 128


class MaskSource:
    """How mask blocks are drawn.

    Args:
        draw: ``draw(shape, seed_generator)`` returning a boolean keep-mask (kept entries
            are multiplied by ``scale``) or a floating-point multiplier (``scale`` unused).
        seed_generator: the layer's ``keras.random.SeedGenerator``; its state is replaced
            by a chunk seed while a block is drawn, and never updated.
        scale: multiplier of kept entries of boolean masks.
        multiple: decisions packed per random word along the input axis (informative;
            chunks no longer round to it).
    """

    def __init__(self, draw, seed_generator, scale=1.0, multiple=1):
        self.draw = draw
        self.seed_generator = seed_generator
        self.scale = float(scale)
        self.multiple = int(multiple)

    def block(self, shape, seed):
        """The mask block of ``shape`` for one chunk ``seed`` (a ``(2,)`` int tensor)."""
        state = self.seed_generator.state
        mapping = [(state, ops.cast(seed, state.dtype))]
        with keras.StatelessScope(state_mapping=mapping, initialize_variables=False):
            return self.draw(shape, self.seed_generator)

    @staticmethod
    def apply(mask, values):
        """``mask * values`` (``values`` already scaled for boolean masks)."""
        if ops.dtype(mask) == "bool":
            return ops.where(mask, values, ops.zeros((), values.dtype))
        return ops.cast(mask, values.dtype) * values


def chunk_size(batch, d_in: int, units: int, multiple: int = 1) -> int:
    """Inputs per chunk: ``n = ceil(d_in / target)`` chunks of ``ceil(d_in / n)`` inputs,
    ``target`` the inputs of about ``CHUNK_ELEMENTS`` mask elements, so the padding is at
    most ``n - 1`` inputs in all (none when ``n`` divides ``d_in``).

    ``multiple`` is kept for callers of the earlier layout, which rounded chunks to a
    multiple of the decisions per random word and padded (a 256-wide input at rate 0.5 to
    372); the Bernoulli blocks no longer need it (``bits.bernoulli_keep`` takes any width).
    """
    del multiple
    rows = batch if isinstance(batch, int) else BATCH_HINT
    target = max(1, int(CHUNK_ELEMENTS // max(1, rows * units)))
    n = -(-d_in // target)
    return -(-d_in // n)


def chunk_seeds(seed_generator, n: int):
    """``(n, 2)`` int32 seeds for the chunks of one call, drawn from the layer's generator."""
    return keras.random.randint((n, 2), 0, 2**31 - 1, dtype="int32", seed=seed_generator)


def _chunk(a, w, c, size):
    batch = ops.shape(a)[0]
    a_c = ops.slice(a, (0, c * size), (batch, size))
    w_c = ops.slice(w, (c * size, 0), (size, w.shape[1]))
    return a_c, w_c


def _forward(a, ws, source, seeds, size, n):
    """``sum_c a_c @ (mask_c * ws_c)``, accumulated in float32 by a ``fori_loop``."""
    batch, units = ops.shape(a)[0], ws.shape[1]

    def body(c, y):
        a_c, w_c = _chunk(a, ws, c, size)
        mask = source.block((batch, size, units), ops.take(seeds, c, axis=0))
        part = ops.matmul(a_c[:, None, :], source.apply(mask, w_c[None, :, :]))[:, 0, :]
        return y + ops.cast(part, "float32")

    return ops.fori_loop(0, n, body, ops.zeros((batch, units), "float32"))


def _backward(a, ws, up, source, seeds, size, n):
    """Gradients with respect to ``a`` and ``w``, every block drawn again from its seed."""
    batch, units = ops.shape(a)[0], ws.shape[1]
    up_s = up * ops.cast(source.scale, up.dtype)

    def step(carry, c):
        a_c, w_c = _chunk(a, ws, c, size)
        mask = source.block((batch, size, units), ops.take(seeds, c, axis=0))
        # ga[b, i] = sum_j up[b, j] m[b, i, j] w[i, j]: a batched matrix-vector product.
        ga_c = ops.matmul(source.apply(mask, w_c[None, :, :]), up[:, :, None])[:, :, 0]
        # gw[i, j] = sum_b a[b, i] m[b, i, j] up[b, j]: batched over i, on the mask moved
        # to (size, batch, units) (cheaper than einsum's own transposes of a float block).
        by_input = source.apply(ops.transpose(mask, (1, 0, 2)), up_s[None, :, :])
        gw_c = ops.matmul(ops.transpose(a_c)[:, None, :], by_input)[:, 0, :]
        return carry, (ga_c, gw_c)

    # keras.ops.scan on TensorFlow stacks outputs shaped like the carry.
    init = (ops.zeros((batch, size), a.dtype), ops.zeros((size, units), a.dtype))
    _, (ga, gw) = ops.scan(step, init, xs=ops.arange(n, dtype="int32"))
    ga = ops.reshape(ops.transpose(ga, (1, 0, 2)), (batch, n * size))
    return ga, ops.reshape(gw, (n * size, units))


def _pad_inputs(a, w, extra):
    if extra == 0:
        return a, w
    return ops.pad(a, ((0, 0), (0, extra))), ops.pad(w, ((0, extra), (0, 0)))


def masked_contraction(a, w, source, seeds, size):
    """``y[b, j] = sum_i a[b, i] mask[b, i, j] w[i, j]`` for a rank-2 ``a`` and ``w``.

    Args:
        a: ``(batch, d_in)`` tensor.
        w: ``(d_in, units)`` tensor with a static shape.
        source: the ``MaskSource`` drawing the blocks.
        seeds: ``(n, 2)`` int tensor, one seed per chunk (``n = ceil(d_in / size)``).
        size: inputs per chunk; ``a`` and ``w`` are padded with zeros to ``n * size``.

    The gradient draws the same blocks again from ``seeds``: it is the exact gradient of
    the forward output for the mask that was drawn.
    """
    d_in = w.shape[0]
    n = -(-d_in // size)
    extra = n * size - d_in

    @ops.custom_gradient
    def contract(a, w):
        a_p, w_p = _pad_inputs(a, w, extra)
        ws = w_p * ops.cast(source.scale, w_p.dtype)
        y = ops.cast(_forward(a_p, ws, source, seeds, size, n), a.dtype)

        def grad(*args, upstream=None):
            if upstream is None:
                (upstream,) = args
            ga, gw = _backward(a_p, ws, upstream, source, seeds, size, n)
            return ga[:, :d_in], gw[:d_in]

        return y, grad

    return contract(a, w)
