"""WanDropConnectDense: per-example masks in training (PerNodeDense's Bernoulli noise), the
moment-matched Gaussian average at inference (Wan et al. 2013), against the formulas."""

import numpy as np
import pytest
from scipy.stats import norm

from pernode_cli.layers import WanDropConnectDense
from pernode_cli.layers.bits import realised_keep
from tests.helpers import assert_mean_close, assert_variance_close, to_numpy

RATE, D_IN, UNITS = 0.3, 6, 4


def layer(activation=None, samples=50, seed=3):
    lay = WanDropConnectDense(UNITS, RATE, inference_samples=samples, activation=activation, seed=seed)
    lay.build((None, D_IN))
    rng = np.random.default_rng(0)
    lay.kernel.assign(rng.normal(0, 0.5, (D_IN, UNITS)).astype("float32"))
    lay.bias.assign(rng.normal(0, 0.1, UNITS).astype("float32"))
    return lay


def moments(lay, x):
    w, b = to_numpy(lay.kernel), to_numpy(lay.bias)
    q = realised_keep(RATE)
    return x @ w + b, (1 - q) / q * (x**2) @ (w**2)


def test_training_draws_a_mask_per_example_with_the_formula_moments():
    lay = layer()
    x = np.tile(np.linspace(-1, 1, D_IN, dtype="float32"), (2000, 1))
    mean, var = moments(lay, x[:1])
    y = to_numpy(lay(x, training=True))
    assert_mean_close(y, mean[0])
    assert_variance_close(y, var[0])
    assert np.std(y[:, 0]) > 0 and not np.allclose(y[0], y[1])  # examples of one batch differ


def test_inference_averages_the_moment_matched_gaussian():
    x = np.linspace(-1, 1, D_IN, dtype="float32")[None]
    linear = layer(samples=50)
    mean, var = moments(linear, x)
    draws = np.stack([to_numpy(linear(x, training=False))[0] for _ in range(400)])
    assert_mean_close(draws, mean[0])
    assert_variance_close(draws, var[0] / 50)  # the average of 50 draws
    relu = layer(activation="relu", samples=50)
    draws = np.stack([to_numpy(relu(x, training=False))[0] for _ in range(400)])
    mu, sd = mean[0], np.sqrt(var[0])
    expected = mu * norm.cdf(mu / sd) + sd * norm.pdf(mu / sd)  # E[relu(u)], u ~ N(mu, sd^2)
    assert_mean_close(draws, expected)
    assert not np.allclose(expected, np.maximum(mu, 0))  # not the plain Dense output: the point of the layer


def test_config_round_trips_and_arguments_are_validated():
    lay = layer(activation="relu", samples=7)
    config = lay.get_config()
    assert config["inference_samples"] == 7 and "stir" not in config and "mask" not in config
    again = WanDropConnectDense.from_config(config)
    assert again.inference_samples == 7 and again.realised_rate == lay.realised_rate
    with pytest.raises(ValueError, match="argument `inference_samples`"):
        WanDropConnectDense(4, 0.3, inference_samples=0)
    zero = WanDropConnectDense(UNITS, 0.0)
    x = np.ones((3, D_IN), "float32")
    np.testing.assert_allclose(to_numpy(zero(x, training=False)), to_numpy(zero(x, training=True)), rtol=1e-6)
