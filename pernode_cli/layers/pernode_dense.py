"""PerNodeDense: a Dense layer with per-sample, per-connection multiplicative noise."""

from __future__ import annotations

import keras
from keras import ops

from pernode_cli.layers import samplers as _samplers
from pernode_cli.layers.bits import realised_rate
from pernode_cli.argchecks import invalid
from pernode_cli.layers.checks import validate_choice
from pernode_cli.layers.dense_base import NoisyDense
from pernode_cli.layers.stirs import bernoulli_stir, get_stir, partial_gaussian_stir

MASK_MODES = ("dynamic", "fixed")


@keras.saving.register_keras_serializable(package="pernode")
class PerNodeDense(NoisyDense):
    """Dense layer whose every connection gets its own random multiplier per sample.

    ``y[b, j] = act(sum_i x[b, i] * m[b, i, j] * W[i, j] + bias[j])`` with ``m`` drawn
    independently over sample ``b``, input ``i`` and unit ``j`` from the stir, ``E[m] = 1``.
    Inputs of rank > 2 are treated like ``keras.layers.Dense`` does: the kernel acts on the
    last axis, and every position of the leading axes is a sample with its own mask. The
    last axis is fixed at build; an input of another width or of rank 1 is refused.

    The Bernoulli stir compares random integer fields of at most 15 bits with a threshold
    (several decisions per random word: two for most rates, 31 at rate 0.5), so it keeps
    with probability ``q = max(1, round((1 - rate) * 2**15)) / 2**15`` and scales kept
    weights by ``1 / q``: ``E[m] = 1`` exactly. ``realised_rate`` (``1 - q``, within
    1.5e-5 of ``rate``; ``pernode_cli.layers.bits.realised_rate(rate)``) is the drop
    probability that runs. The partial-Gaussian stir chooses its perturbed connections from
    the same thresholds, so it perturbs with probability ``realised_rate`` (and variance
    ``realised_rate / (1 - realised_rate)``); the Gaussian stir realises ``rate`` itself.

    Args:
        units: positive int, output width.
        rate: float in [0, 1), noise strength. The built-in stirs have per-connection
            variance ``rate / (1 - rate)`` (``realised_rate`` for Bernoulli); ``rate=0`` is
            exactly a Dense layer.
        stir: ``"bernoulli"`` (``Bernoulli(q) / q``, see above), ``"gaussian"``
            (``N(1, rate / (1 - rate))``), ``"partial_gaussian"`` (with probability
            ``r = realised_rate`` a connection gets ``N(1, 1 / (1 - r))``, otherwise 1), or
            a name given to ``register_stir``.
        mask: ``"dynamic"``: a fresh mask per sample at every training call, and a plain
            Dense layer at inference. ``"fixed"``: one ``(d_in, units)`` mask drawn once at
            build, stored as a non-trainable weight, and applied in training and inference
            as ``x @ (W * M)``.
        activation: activation function, as for ``keras.layers.Dense``.
        use_bias: whether to add a bias.
        kernel_initializer: initializer of the kernel.
        sampler: how the dynamic noise is drawn; every sampler is exact (same output
            distribution). ``"auto"`` (default) picks the fastest exact one measured for
            the stir, backend and width: ``"local_reparam"`` for Gaussian,
            ``"partial_reparam"`` for partial-Gaussian, and ``"reference"`` or ``"chunked"``
            for Bernoulli and any registered stir (``samplers.AUTO_REFERENCE_ELEMENTS``;
            ``resolved_sampler()`` names the one that runs). ``"reference"``
            materialises the ``(batch, d_in, units)`` mask and contracts it with einsum; it
            is the ground truth the others are tested against. ``"chunked"`` draws the mask
            chunk by chunk in a loop and draws it again in the backward pass instead of
            storing it (memory of one chunk, also under ``jit``).
        seed: optional non-negative int seed of the layer's random stream (and of the
            fixed mask). On the PyTorch backend Keras seeds each draw with ``seed +
            counter``, so layers whose seeds differ by less than their number of draws
            share noise: derive seeds of separate runs with
            ``pernode_cli.seeds.layer_seed(run_seed)``, as ``pernode`` does.

    Call arguments:
        inputs: tensor of rank >= 2 whose last axis has the width seen at build.
        training: Python bool; noise is drawn only when true (dynamic mode).

    Reference:
        - PerNodeDrop: A Method Balancing Specialized Subnets and Regularization in
          Deep Neural Networks (sections IV-A to IV-E).
    """

    def __init__(
        self,
        units,
        rate,
        stir="bernoulli",
        mask="dynamic",
        activation=None,
        use_bias=True,
        kernel_initializer="glorot_uniform",
        sampler="auto",
        seed=None,
        **kwargs,
    ):
        super().__init__(
            units,
            rate,
            activation=activation,
            use_bias=use_bias,
            kernel_initializer=kernel_initializer,
            seed=seed,
            **kwargs,
        )
        if not isinstance(stir, str):
            raise invalid("stir", "the name of a registered stir", stir)
        get_stir(stir)  # raises on unknown names
        self.stir = stir
        self.mask = validate_choice("mask", mask, MASK_MODES)
        self.sampler = _samplers.validate_sampler(sampler, stir)

    @property
    def realised_rate(self) -> float:
        """The probability that runs: ``bits.realised_rate(rate)``
        (``1 - max(1, round((1 - rate) * 2**15)) / 2**15``) for the Bernoulli stir (of a
        dropped connection) and the partial-Gaussian stir (of a perturbed one), ``rate``
        otherwise."""
        if get_stir(self.stir) in (bernoulli_stir, partial_gaussian_stir):
            return realised_rate(self.rate)
        return self.rate

    def build(self, input_shape):
        super().build(input_shape)
        self.fixed_mask = None
        if self.mask == "fixed":
            self.fixed_mask = self.add_weight(
                name="fixed_mask",
                shape=(input_shape[-1], self.units),
                initializer=self._draw_fixed_mask,
                trainable=False,
            )

    def _draw_fixed_mask(self, shape, dtype=None):
        if self.rate == 0:
            return ops.ones(shape, dtype=dtype or "float32")
        return get_stir(self.stir)(shape, self.rate, self.seed_generator, dtype or "float32")

    def _product(self, x, kernel, training):
        if self.fixed_mask is not None:
            # The fixed mask belongs to the architecture: applied in training and inference.
            return ops.matmul(x, kernel * ops.cast(self.fixed_mask, x.dtype))
        if training and self.rate > 0:
            return self._noisy_matmul(x, kernel)
        return ops.matmul(x, kernel)

    def resolved_sampler(self) -> str:
        """The sampler that runs in training (``"auto"`` resolved for the running backend and,
        once built, the layer's width; ``"fixed"`` for fixed masks)."""
        if self.mask == "fixed":
            return "fixed"
        d_in = self.kernel.shape[0] if self.built else None
        return _samplers.resolve_sampler(self.sampler, self.stir, d_in, self.units)

    def _noisy_matmul(self, x, kernel):
        rank = len(x.shape)
        if rank > 2:
            lead = ops.shape(x)[:-1]
            x = ops.reshape(x, (-1, x.shape[-1]))
        sampler = _samplers.sampler_fn(self.resolved_sampler())
        y = sampler(x, kernel, self.rate, get_stir(self.stir), self.seed_generator)
        if rank > 2:
            y = ops.reshape(y, tuple(lead) + (self.units,))
        return y

    def get_config(self):
        config = super().get_config()
        config.update({"stir": self.stir, "mask": self.mask, "sampler": self.sampler})
        return config
