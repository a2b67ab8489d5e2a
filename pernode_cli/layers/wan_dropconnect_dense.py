"""WanDropConnectDense: DropConnect as Wan et al. (2013) define it, per example in training and
moment-matched at inference."""

from __future__ import annotations

import keras
from keras import ops

from pernode_cli.argchecks import check_positive_int
from pernode_cli.layers.bits import realised_keep
from pernode_cli.layers.pernode_dense import PerNodeDense


@keras.saving.register_keras_serializable(package="pernode")
class WanDropConnectDense(PerNodeDense):
    """Dense layer with Wan et al.'s DropConnect.

    Training: every example draws its own Bernoulli mask over the kernel (kept with the
    realised probability ``q``, kept weights scaled by ``1 / q`` so ``E[m] = 1``): the same
    training noise as ``PerNodeDense(stir="bernoulli")``, and unlike ``DropConnectDense``,
    whose one mask is shared by the batch as most public implementations do.

    Inference: the masked pre-activation ``u[b, j] = sum_i x[b, i] m[b, i, j] W[i, j] + bias[j]``
    is replaced by the Gaussian with its mean and variance,
    ``N((x @ W)[b, j] + bias[j], (1 - q) / q * ((x * x) @ (W * W))[b, j])``; the layer returns the
    mean of ``activation(u)`` over ``inference_samples`` draws (Wan et al., section 3.2). With a
    linear activation this is the plain Dense output plus noise of variance
    ``(1 - q) / q * (x*x) @ (W*W) / inference_samples``; with ReLU it is not the plain output, which
    is where the two DropConnects differ.

    Args:
        units: positive int, output width.
        rate: float in [0, 1), the probability of dropping a weight (realised as
            ``realised_rate``, a multiple of ``2**-15``).
        inference_samples: positive int, Gaussian draws averaged at inference.
        activation: activation function, as for ``keras.layers.Dense``.
        use_bias: whether to add a bias (the bias is never dropped).
        kernel_initializer: initializer of the kernel.
        sampler: how the training masks are drawn (as ``PerNodeDense``'s; every one is exact).
        seed: optional non-negative int seed.

    Call arguments:
        inputs: tensor of rank >= 2 whose last axis has the width seen at build.
        training: Python bool; per-example masks when true, the moment-matched average when false.

    Reference:
        - Wan, Zeiler, Zhang, LeCun and Fergus, Regularization of Neural Networks using
          DropConnect, ICML 2013.
    """

    def __init__(self, units, rate, inference_samples=100, activation=None, use_bias=True,
                 kernel_initializer="glorot_uniform", sampler="auto", seed=None, **kwargs):
        for fixed in ("stir", "mask"):
            kwargs.pop(fixed, None)  # always Bernoulli, always dynamic
        super().__init__(units, rate, stir="bernoulli", mask="dynamic", activation=activation, use_bias=use_bias,
                         kernel_initializer=kernel_initializer, sampler=sampler, seed=seed, **kwargs)
        self.inference_samples = check_positive_int("inference_samples", inference_samples)

    def call(self, inputs, training=False):
        if training or self.rate == 0:
            return super().call(inputs, training=training)
        x = ops.convert_to_tensor(inputs, dtype=self.compute_dtype)
        kernel = ops.cast(self.kernel, x.dtype)
        mean = ops.matmul(x, kernel)
        if self.bias is not None:
            mean = mean + ops.cast(self.bias, mean.dtype)
        q = realised_keep(self.rate)
        x32, k32 = ops.cast(x, "float32"), ops.cast(kernel, "float32")
        std = ops.sqrt((1.0 - q) / q * ops.matmul(ops.square(x32), ops.square(k32)))
        eps = keras.random.normal((self.inference_samples,) + tuple(ops.shape(mean)), seed=self.seed_generator)
        draws = ops.cast(mean, "float32")[None] + std[None] * eps
        return ops.cast(ops.mean(self.activation(draws), axis=0), x.dtype)

    def get_config(self):
        config = super().get_config()
        for fixed in ("stir", "mask"):
            config.pop(fixed, None)
        config["inference_samples"] = self.inference_samples
        return config
