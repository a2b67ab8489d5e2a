"""DropConnectDense: a Dense layer whose kernel gets one Bernoulli mask per training call."""

from __future__ import annotations

import keras
from keras import ops

from pernode_cli.layers.bits import realised_rate
from pernode_cli.layers.dense_base import NoisyDense
from pernode_cli.layers.stirs import bernoulli_stir


@keras.saving.register_keras_serializable(package="pernode")
class DropConnectDense(NoisyDense):
    """Dense layer with DropConnect: a batch-shared Bernoulli mask on the kernel.

    During training one ``(d_in, units)`` mask is drawn per call and shared by every
    sample of the batch; kept weights are scaled by the inverse of the keep probability so
    the expected kernel is the kernel itself. At inference the plain kernel is used (no
    second rescaling). The mask comes from the Bernoulli stir (integer thresholds on at most
    15 random bits), so the drop probability that runs is ``realised_rate``
    (``1 - max(1, round((1 - rate) * 2**15)) / 2**15``, within 1.5e-5 of ``rate``). The last
    input axis is fixed at build; an input of another width or of rank 1 is refused.

    Args:
        units: positive int, output width.
        rate: float in [0, 1), probability of dropping a weight.
        activation: activation function, as for ``keras.layers.Dense``.
        use_bias: whether to add a bias (the bias is never dropped).
        kernel_initializer: initializer of the kernel.
        seed: optional non-negative int seed (see `PerNodeDense` and `pernode_cli.seeds` on
            seeds of separate runs).

    Call arguments:
        inputs: tensor of rank >= 2 whose last axis has the width seen at build.
        training: Python bool; the mask is drawn only when true.

    Reference:
        - Wan et al., Regularization of Neural Networks using DropConnect, ICML 2013.
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
        super().__init__(
            units,
            rate,
            activation=activation,
            use_bias=use_bias,
            kernel_initializer=kernel_initializer,
            seed=seed,
            **kwargs,
        )

    @property
    def realised_rate(self) -> float:
        """The drop probability that runs: ``bits.realised_rate(rate)``."""
        return realised_rate(self.rate)

    def _product(self, x, kernel, training):
        if training and self.rate > 0:
            kernel = kernel * bernoulli_stir(kernel.shape, self.rate, self.seed_generator, x.dtype)
        return ops.matmul(x, kernel)
