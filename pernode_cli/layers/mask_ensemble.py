"""MaskEnsemble: Masksembles-style fixed binary feature masks, one per ensemble member."""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

from pernode_cli.argchecks import check_positive_int, invalid
from pernode_cli.layers.checks import validate_rate, validate_seed


def ensemble_masks(width: int, n: int, rate: float, seed=None) -> np.ndarray:
    """Return ``n`` binary masks over ``width`` features, shape ``(n, width)``.

    Each mask keeps ``k = max(1, round((1 - rate) * width))`` features. Features are put
    in a random order (from ``seed``) on a circle, and mask ``t`` keeps the ``k``
    consecutive features starting at ``round(t * width / n)``. The masks are thus spread
    evenly: every feature is kept by ``floor`` or ``ceil`` of ``n * k / width`` masks, so
    no feature is dropped by all of them while ``n * (1 - rate) >= 1`` (the property
    Masksembles' generator enforces), and the overlap of two masks is set by ``rate`` and
    ``n`` alone, as Masksembles' ``scale`` sets it. Masks coincide only where the width
    leaves no room (``width < n`` or ``rate = 0``).
    """
    width = check_positive_int("width", width)
    n = check_positive_int("n", n)
    rate = validate_rate(rate)
    keep = max(1, int(round((1.0 - rate) * width)))
    order = np.random.default_rng(seed).permutation(width)
    masks = np.zeros((n, width), dtype="float32")
    for t in range(n):
        start = int(round(t * width / n))
        masks[t, order[(start + np.arange(keep)) % width]] = 1.0
    return masks


@keras.saving.register_keras_serializable(package="pernode")
class MaskEnsemble(keras.layers.Layer):
    """Masksembles over the last axis, for any width, rate in [0, 1) and batch size.

    ``n`` binary masks are generated once at build (see ``ensemble_masks``) and stored as a
    non-trainable weight, so they are saved with the model. Masks are not rescaled, as in
    Masksembles.

    Training: the batch is split into ``n`` contiguous groups of near-equal size (sample
    ``b`` of a batch of ``B`` uses mask ``(floor(b * n / B) + member_offset) mod n``), so
    batches not divisible by ``n``, the last partial batch of ``fit`` and a batch of one
    all work. ``member_offset`` (a non-trainable int, 0 unless set) rotates the groups'
    masks; Monte Carlo inference sets it to the pass number so every sample visits every
    mask.

    Inference rule: every sample is multiplied by the mean of the ``n`` masks (the
    expected mask of a uniformly chosen member), the counterpart of Dropout's expectation
    at inference. A sample's output therefore never depends on which other samples share
    its batch. ``drop_fraction`` is the realised fraction of features each mask drops.

    Args:
        rate: float in [0, 1), the target fraction of features each mask drops.
        n: positive int, the number of masks (ensemble members).
        seed: optional non-negative int seed of the mask generator.

    Call arguments:
        inputs: tensor of rank >= 2; masks act on the last axis, groups on the first. The
            last axis is fixed at build; an input of another width or of rank 1 is refused
            (Keras' input-spec error) instead of being broadcast against the masks.
        training: Python bool; groups of the batch get different masks only when true.

    Reference:
        - Durasov et al., Masksembles for Uncertainty Estimation, CVPR 2021.
    """

    def __init__(self, rate, n=4, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.rate = validate_rate(rate)
        self.n = check_positive_int("n", n)
        self.seed = validate_seed(seed)
        self.input_spec = keras.InputSpec(min_ndim=2)
        self.supports_masking = True

    def build(self, input_shape):
        width = input_shape[-1]
        if width is None:
            raise invalid("input_shape", "a known last dimension", input_shape)
        self.input_spec = keras.InputSpec(min_ndim=2, axes={-1: width})
        values = ensemble_masks(width, self.n, self.rate, self.seed)
        self.drop_fraction = float(1.0 - values[0].mean())
        self.masks = self.add_weight(
            name="masks",
            shape=values.shape,
            initializer=lambda shape, dtype=None: ops.convert_to_tensor(values, dtype=dtype),
            trainable=False,
        )
        self.member_offset = self.add_weight(
            name="member_offset", shape=(), initializer="zeros", dtype="int32", trainable=False
        )

    def call(self, inputs, training=False):
        x = ops.convert_to_tensor(inputs, dtype=self.compute_dtype)
        masks = ops.cast(self.masks, x.dtype)
        if not training:
            return x * ops.mean(masks, axis=0)
        batch = ops.shape(x)[0]
        group = (ops.arange(batch, dtype="int32") * self.n) // ops.cast(batch, "int32")
        group = (group + ops.cast(self.member_offset, "int32")) % self.n
        per_sample = ops.take(masks, group, axis=0)  # (batch, width)
        shape = (-1,) + (1,) * (len(x.shape) - 2) + (x.shape[-1],)
        return x * ops.reshape(per_sample, shape)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update({"rate": self.rate, "n": self.n, "seed": self.seed})
        return config
