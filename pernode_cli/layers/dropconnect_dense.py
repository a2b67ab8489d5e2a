"""DropConnectDense: a Dense layer whose kernel gets one Bernoulli mask per training call."""

from __future__ import annotations

import keras
from keras import ops

from pernode_cli.layers.stirs import (
    _invalid,
    bernoulli_stir,
    validate_positive_int,
    validate_rate,
    validate_seed,
)


@keras.saving.register_keras_serializable(package="pernode")
class DropConnectDense(keras.layers.Layer):
    """Dense layer with DropConnect: a batch-shared Bernoulli mask on the kernel.

    During training one ``(d_in, units)`` mask is drawn per call and shared by every
    sample of the batch; kept weights are scaled by ``1 / (1 - rate)`` so the expected
    kernel is the kernel itself. At inference the plain kernel is used (no second
    rescaling).

    Args:
        units: positive int, output width.
        rate: float in [0, 1), probability of dropping a weight.
        activation: activation function, as for ``keras.layers.Dense``.
        use_bias: whether to add a bias (the bias is never dropped).
        seed: optional non-negative int seed.

    Call arguments:
        inputs: tensor of rank >= 2.
        training: Python bool; the mask is drawn only when true.

    Reference:
        - Wan et al., Regularization of Neural Networks using DropConnect, ICML 2013.
    """

    def __init__(self, units, rate, activation=None, use_bias=True, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.units = validate_positive_int("units", units)
        self.rate = validate_rate(rate)
        if not isinstance(use_bias, bool):
            raise _invalid("use_bias", "a bool", use_bias)
        self.use_bias = use_bias
        try:
            self.activation = keras.activations.get(activation)
        except (ValueError, TypeError):
            raise _invalid("activation", "an activation name or callable", activation) from None
        self.seed = validate_seed(seed)
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.supports_masking = True

    def build(self, input_shape):
        d_in = input_shape[-1]
        self.kernel = self.add_weight(
            name="kernel", shape=(d_in, self.units), initializer="glorot_uniform"
        )
        self.bias = (
            self.add_weight(name="bias", shape=(self.units,), initializer="zeros")
            if self.use_bias
            else None
        )

    def call(self, inputs, training=False):
        x = ops.convert_to_tensor(inputs, dtype=self.compute_dtype)
        kernel = ops.cast(self.kernel, x.dtype)
        if training and self.rate > 0:
            kernel = kernel * bernoulli_stir(kernel.shape, self.rate, self.seed_generator, x.dtype)
        y = ops.matmul(x, kernel)
        if self.bias is not None:
            y = y + ops.cast(self.bias, y.dtype)
        return self.activation(y)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.units,)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "units": self.units,
                "rate": self.rate,
                "activation": keras.activations.serialize(self.activation),
                "use_bias": self.use_bias,
                "seed": self.seed,
            }
        )
        return config
