"""The part PerNodeDense and DropConnectDense share: a Dense layer with a noisy product."""

from __future__ import annotations

import keras
from keras import ops

from pernode_cli.argchecks import check_bool, check_positive_int
from pernode_cli.layers.checks import get_activation, get_initializer, validate_rate, validate_seed


class NoisyDense(keras.layers.Layer):
    """Base of the noisy Dense layers (not registered, not public).

    Holds ``units``, ``rate``, ``activation``, ``use_bias``, ``kernel_initializer`` and
    ``seed`` (validated), a ``SeedGenerator``, the kernel and bias, and an input spec like
    ``keras.layers.Dense``: rank >= 2, last axis fixed at build. Subclasses implement
    ``_product(x, kernel, training)``, the kernel product of a rank >= 2 input.
    """

    def __init__(
        self,
        units,
        rate,
        activation=None,
        use_bias=True,
        kernel_initializer="glorot_uniform",
        seed=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.units = check_positive_int("units", units)
        self.rate = validate_rate(rate)
        self.activation = get_activation(activation)
        self.use_bias = check_bool("use_bias", use_bias)
        self.kernel_initializer = get_initializer("kernel_initializer", kernel_initializer)
        self.seed = validate_seed(seed)
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.input_spec = keras.InputSpec(min_ndim=2)
        self.supports_masking = True

    def build(self, input_shape):
        d_in = input_shape[-1]
        if d_in is None:
            raise ValueError(
                f"{type(self).__name__} needs a known last input dimension. Received: "
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
        self.input_spec = keras.InputSpec(min_ndim=2, axes={-1: d_in})

    def call(self, inputs, training=False):
        x = ops.convert_to_tensor(inputs, dtype=self.compute_dtype)
        y = self._product(x, ops.cast(self.kernel, x.dtype), training)
        if self.bias is not None:
            y = y + ops.cast(self.bias, y.dtype)
        return self.activation(y)

    def _product(self, x, kernel, training):
        raise NotImplementedError

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
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
                "seed": self.seed,
            }
        )
        return config
