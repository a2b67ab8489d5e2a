"""Exact Bernoulli from few random bits: realised rate, E[m] = 1, independent fields."""

import math

import numpy as np
import pytest

import keras

from pernode_cli.layers import DropConnectDense, PerNodeDense
from pernode_cli.layers.bits import (
    THRESHOLD_BITS,
    bernoulli_keep,
    decisions_per_word,
    field_threshold,
    keep_threshold,
    realised_keep,
    realised_rate,
)
from pernode_cli.layers.stirs import bernoulli_stir
from tests.helpers import assert_mean_close, assert_uncorrelated, assert_variance_close, to_numpy

# Rates that are not multiples of 2**-16 (nor of 2**-15), and dyadic ones.
ODD_RATES = [0.1, 0.3, 1 / 3, 0.7, 0.9, 0.123456789, 0.99999]
DYADIC_RATES = [0.0, 0.25, 0.5, 0.75, 0.875]


@pytest.mark.parametrize("rate", ODD_RATES + DYADIC_RATES)
@pytest.mark.parametrize("bits", [8, 15, 16])
def test_realised_rate_rule(rate, bits):
    t = max(1, math.floor((1 - rate) * 2**bits + 0.5))
    assert keep_threshold(rate, bits) == t
    assert realised_keep(rate, bits) == t / 2**bits
    assert realised_rate(rate, bits) == 1 - t / 2**bits
    # The nearest multiple of 2**-bits: off by at most half a step (unless clamped at 1).
    if t > 1:
        assert abs(realised_rate(rate, bits) - rate) <= 2 ** -(bits + 1) + 1e-15
    if rate * 2**bits == int(rate * 2**bits):
        assert realised_rate(rate, bits) == rate


def test_realised_rate_examples():
    assert realised_rate(0.3) == 1 - 22938 / 2**15 == 0.29998779296875
    assert realised_rate(0.5) == 0.5
    assert realised_rate(0.99999) == 1 - 2**-15  # never keeps with probability 0
    assert realised_rate(0.3, 16) == 1 - 45875 / 2**16
    with pytest.raises(ValueError, match="argument `rate`"):
        realised_rate(1.0)


@pytest.mark.parametrize("rate, fields", [(0.5, 31), (0.25, 15), (0.875, 10), (0.3, 2), (0.1, 2)])
def test_fewest_bits_express_the_same_threshold(rate, fields):
    bits, t = field_threshold(rate)
    assert t / 2**bits == realised_keep(rate)
    assert decisions_per_word(rate) == fields == 31 // bits


@pytest.mark.parametrize("rate", [0.1, 0.3, 0.5, 0.875])
def test_keep_frequency_and_independent_fields(rate):
    # Rows of 62 entries along the packed axis: with k decisions per word, entries r and
    # r + m of a row come from fields of the same word; all pairs must be uncorrelated.
    q = realised_keep(rate)
    keep = to_numpy(bernoulli_keep((4000, 62, 8), rate, keras.random.SeedGenerator(3))).astype("float64")
    assert abs(keep.mean() - q) <= 5 * math.sqrt(q * (1 - q) / keep.size)
    m = -(-62 // decisions_per_word(rate))
    flat = keep.transpose(0, 2, 1).reshape(-1, 62)
    for i in range(0, 62 - m, max(1, (62 - m) // 7)):
        assert_uncorrelated(flat[:, i], flat[:, i + m])
    assert_uncorrelated(flat[:, 0], flat[:, 1])
    assert_uncorrelated(keep[:-1, 0, 0], keep[1:, 0, 0])


@pytest.mark.parametrize("rate", ODD_RATES[:-1] + [0.5])
def test_stir_mean_is_exactly_one_with_the_realised_scale(rate):
    # E[m] = 1 needs the scale 1 / q of the *realised* keep probability q: the kept value
    # is exactly 1 / q, and the mean over 4M draws is 1 within 5 standard errors (with
    # 1 / (1 - rate) instead, rate 0.1 would be off by ~1e-5 relative: below the test's
    # resolution, hence the check of the value itself).
    q = realised_keep(rate)
    m = to_numpy(bernoulli_stir((2000, 2048), rate, keras.random.SeedGenerator(5), "float32"))
    assert set(np.unique(m)) == {0.0, np.float32(1 / q)}
    assert_mean_close(m.reshape(-1, 1).astype("float64"), 1.0)
    assert_variance_close(m.reshape(-1, 1)[:400000].astype("float64"), (1 - q) / q)


def test_layers_report_the_realised_rate():
    assert PerNodeDense(4, 0.3).realised_rate == realised_rate(0.3) != 0.3
    assert PerNodeDense(4, 0.3, stir="gaussian").realised_rate == 0.3
    assert PerNodeDense(4, 0.3, stir="partial_gaussian").realised_rate == 0.3
    assert DropConnectDense(4, 0.3).realised_rate == realised_rate(0.3)
    assert THRESHOLD_BITS == 15


@pytest.mark.parametrize("sampler", ["chunked", "reference"])
def test_pernode_bernoulli_kept_value_is_realised_inverse(sampler):
    rate = 0.1
    layer = PerNodeDense(1, rate, sampler=sampler, use_bias=False, seed=2)
    layer.build((None, 1))
    layer.kernel.assign(np.ones((1, 1), "float32"))
    y = to_numpy(layer(np.ones((20000, 1), "float32"), training=True))[:, 0]
    q = realised_keep(rate)
    assert set(np.unique(y)) == {0.0, np.float32(1 / q)}
    assert abs((y == 0).mean() - realised_rate(rate)) < 5 * math.sqrt(q * (1 - q) / y.size)
