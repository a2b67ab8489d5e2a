"""PerNodeDense: a Dense layer with per-sample, per-connection multiplicative noise."""

from __future__ import annotations

import keras
from keras import ops

from pernode_cli.layers import samplers as _samplers
from pernode_cli.layers.stirs import (
    _invalid,
    get_stir,
    validate_positive_int,
    validate_rate,
    validate_seed,
)

MASK_MODES = ("dynamic", "fixed")


@keras.saving.register_keras_serializable(package="pernode")
class PerNodeDense(keras.layers.Layer):
    """Dense layer whose every connection gets its own random multiplier per sample.

    ``y[b, j] = act(sum_i x[b, i] * m[b, i, j] * W[i, j] + bias[j])`` with ``m`` drawn
    independently over sample ``b``, input ``i`` and unit ``j`` from the stir, ``E[m] = 1``.
    Inputs of rank > 2 are treated like ``keras.layers.Dense`` does: the kernel acts on the
    last axis, and every position of the leading axes is a sample with its own mask.

    Args:
        units: positive int, output width.
        rate: float in [0, 1), noise strength. The built-in stirs have per-connection
            variance ``rate / (1 - rate)``; ``rate=0`` is exactly a Dense layer.
        stir: ``"bernoulli"`` (``Bernoulli(1 - rate) / (1 - rate)``), ``"gaussian"``
            (``N(1, rate / (1 - rate))``), ``"partial_gaussian"`` (with probability
            ``rate`` a connection gets ``N(1, 1 / (1 - rate))``, otherwise 1), or a name
            given to ``register_stir``.
        mask: ``"dynamic"``: a fresh mask per sample at every training call, and a plain
            Dense layer at inference. ``"fixed"``: one ``(d_in, units)`` mask drawn once at
            build, stored as a non-trainable weight, and applied in training and inference
            as ``x @ (W * M)``.
        activation: activation function, as for ``keras.layers.Dense``.
        use_bias: whether to add a bias.
        kernel_initializer: initializer of the kernel.
        sampler: how the dynamic noise is drawn; every sampler is exact (same output
            distribution). ``"auto"`` (default) picks the fastest exact one for the stir:
            ``"local_reparam"`` for Gaussian, ``"partial_reparam"`` for partial-Gaussian,
            ``"chunked"`` otherwise. ``"reference"`` materialises the
            ``(batch, d_in, units)`` mask and contracts it with einsum; it is the ground
            truth the others are tested against. ``"chunked"`` draws the mask chunk by chunk
            and draws it again in the backward pass instead of storing it.
        seed: optional non-negative int seed of the layer's random stream.

    Call arguments:
        inputs: tensor of rank >= 2.
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
        super().__init__(**kwargs)
        self.units = validate_positive_int("units", units)
        self.rate = validate_rate(rate)
        if not isinstance(stir, str):
            raise _invalid("stir", "the name of a registered stir", stir)
        get_stir(stir)  # raises on unknown names
        self.stir = stir
        if mask not in MASK_MODES:
            raise _invalid("mask", f"one of {list(MASK_MODES)}", mask)
        self.mask = mask
        self.sampler = _samplers.validate_sampler(sampler, stir)
        if not isinstance(use_bias, bool):
            raise _invalid("use_bias", "a bool", use_bias)
        self.use_bias = use_bias
        try:
            self.activation = keras.activations.get(activation)
        except (ValueError, TypeError):
            raise _invalid("activation", "an activation name or callable", activation) from None
        try:
            self.kernel_initializer = keras.initializers.get(kernel_initializer)
        except (ValueError, TypeError):
            raise _invalid(
                "kernel_initializer", "an initializer name, config or instance", kernel_initializer
            ) from None
        self.seed = validate_seed(seed)
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.supports_masking = True

    def build(self, input_shape):
        d_in = input_shape[-1]
        if d_in is None:
            raise ValueError(
                "PerNodeDense needs a known last input dimension. Received: "
                f"input_shape={input_shape}"
            )
        self.kernel = self.add_weight(
            name="kernel", shape=(d_in, self.units), initializer=self.kernel_initializer
        )
        self.bias = (
            self.add_weight(name="bias", shape=(self.units,), initializer="zeros")
            if self.use_bias
            else None
        )
        self.fixed_mask = None
        if self.mask == "fixed":
            self.fixed_mask = self.add_weight(
                name="fixed_mask",
                shape=(d_in, self.units),
                initializer=self._draw_fixed_mask,
                trainable=False,
            )

    def _draw_fixed_mask(self, shape, dtype=None):
        if self.rate == 0:
            return ops.ones(shape, dtype=dtype or "float32")
        return get_stir(self.stir)(shape, self.rate, self.seed_generator, dtype or "float32")

    def call(self, inputs, training=False):
        x = ops.convert_to_tensor(inputs, dtype=self.compute_dtype)
        kernel = ops.cast(self.kernel, x.dtype)
        if self.fixed_mask is not None:
            # The fixed mask belongs to the architecture: applied in training and inference.
            y = ops.matmul(x, kernel * ops.cast(self.fixed_mask, x.dtype))
        elif training and self.rate > 0:
            y = self._noisy_matmul(x, kernel)
        else:
            y = ops.matmul(x, kernel)
        if self.bias is not None:
            y = y + ops.cast(self.bias, y.dtype)
        return self.activation(y)

    def resolved_sampler(self) -> str:
        """The sampler that runs in training (``"auto"`` resolved; ``"fixed"`` for fixed masks)."""
        if self.mask == "fixed":
            return "fixed"
        return _samplers.resolve_sampler(self.sampler, self.stir)

    def _noisy_matmul(self, x, kernel):
        rank = len(x.shape)
        if rank > 2:
            lead = ops.shape(x)[:-1]
            x = ops.reshape(x, (-1, x.shape[-1]))
        y = _samplers.get_sampler(self.resolved_sampler())(
            x, kernel, self.rate, get_stir(self.stir), self.stir, self.seed_generator
        )
        if rank > 2:
            y = ops.reshape(y, tuple(lead) + (self.units,))
        return y

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.units,)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "units": self.units,
                "rate": self.rate,
                "stir": self.stir,
                "mask": self.mask,
                "activation": keras.activations.serialize(self.activation),
                "use_bias": self.use_bias,
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
                "sampler": self.sampler,
                "seed": self.seed,
            }
        )
        return config
