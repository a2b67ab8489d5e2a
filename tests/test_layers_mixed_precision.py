"""16-bit policies: the variance path runs in float32, so extreme input scales stay exact."""

import numpy as np
import pytest

import keras

from pernode_cli.layers import PerNodeDense
from tests.helpers import assert_mean_close, assert_variance_close, to_numpy

pytestmark = pytest.mark.skipif(
    keras.backend.backend() != "tensorflow", reason="mixed-precision checks run on TensorFlow"
)

D_IN, UNITS, BATCH, RATE = 8, 4, 20000, 0.5


@pytest.fixture(params=["mixed_float16", "mixed_bfloat16"])
def policy(request):
    """Sets a 16-bit global policy for one test and restores the previous one after it."""
    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy(request.param)
    try:
        yield request.param
    finally:
        keras.mixed_precision.set_global_policy(previous)


def _round_trip(values, dtype):
    """Values as the layer sees them in ``dtype`` (its compute dtype), back in float64."""
    return to_numpy(keras.ops.cast(keras.ops.cast(values, dtype), "float32")).astype("float64")


@pytest.mark.parametrize("stir, sampler", [("gaussian", "local_reparam"), ("partial_gaussian", "partial_reparam")])
@pytest.mark.parametrize("scale", [1e3, 1e-3])
def test_extreme_scales_keep_the_formula(policy, stir, sampler, scale):
    # Tolerance: mean and variance within 5 standard errors of the formula over 20,000
    # samples (about 5% relative for the variance). With a kernel of Glorot scale (0.1),
    # the old float16 path squared x ~ 1e3 to inf (every output inf/NaN) and made
    # x^2 W^2 ~ 1e-8 underflow at x ~ 1e-3 (the noise vanished: variance 0).
    layer = PerNodeDense(UNITS, RATE, stir=stir, sampler=sampler, use_bias=False, seed=4)
    layer.build((None, D_IN))
    assert layer.compute_dtype == policy.split("_")[1]
    rng = np.random.default_rng(0)
    layer.kernel.assign(0.1 * rng.normal(size=(D_IN, UNITS)).astype("float32"))
    x = (scale * rng.normal(size=(1, D_IN))).astype("float32")
    y = to_numpy(layer(np.repeat(x, BATCH, axis=0), training=True)).astype("float64")
    assert y.dtype == np.float64 and np.all(np.isfinite(y))
    xs, w = _round_trip(x, layer.compute_dtype), _round_trip(to_numpy(layer.kernel), layer.compute_dtype)
    # The mean is computed in the 16-bit dtype: allow its rounding (relative 2**-7) on top.
    mean = (xs @ w)[0]
    spread = np.sqrt((xs**2) @ (w**2))[0]
    rounding = 2**-7 * (np.abs(xs) @ np.abs(w))[0]
    assert np.all(np.abs(y.mean(axis=0) - mean) <= 5 * y.std(axis=0) / np.sqrt(BATCH) + rounding)
    assert_variance_close(y, RATE / (1 - RATE) * spread[None, :] ** 2)


@pytest.mark.parametrize("sampler", ["chunked", "reference"])
def test_bernoulli_samplers_run_under_16_bit(policy, sampler):
    layer = PerNodeDense(UNITS, RATE, sampler=sampler, use_bias=False, seed=4)
    layer.build((None, D_IN))
    rng = np.random.default_rng(1)
    layer.kernel.assign(rng.normal(size=(D_IN, UNITS)).astype("float32"))
    x = rng.normal(size=(1, D_IN)).astype("float32")
    y = to_numpy(layer(np.repeat(x, 4000, axis=0), training=True)).astype("float64")
    assert np.all(np.isfinite(y))
    xs, w = _round_trip(x, layer.compute_dtype), _round_trip(to_numpy(layer.kernel), layer.compute_dtype)
    assert_mean_close(y, (xs @ w)[0] , n_se=6)


def test_policy_is_restored():
    assert keras.mixed_precision.global_policy().name == "float32"
