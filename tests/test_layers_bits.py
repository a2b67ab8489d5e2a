"""Exact Bernoulli from few random bits: realised rate, E[m] = 1, independent fields."""

import math

import numpy as np
import pytest

import keras

from pernode_cli.layers import DropConnectDense, PerNodeDense
from pernode_cli.layers.bits import (
    THRESHOLD_BITS,
    bernoulli_drop,
    bernoulli_keep,
    decisions_per_word,
    field_threshold,
    keep_threshold,
    realised_keep,
    realised_rate,
    words_along,
)
from pernode_cli.layers.stirs import bernoulli_stir, partial_gaussian_stir
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
    m = words_along(62, decisions_per_word(rate))
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
    assert PerNodeDense(4, 0.3, stir="partial_gaussian").realised_rate == realised_rate(0.3)
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


MANY_RATES = [0.01, 0.1, 0.3, 1 / 3, 0.5, 0.7, 0.75, 0.9, 0.123456789]


@pytest.mark.parametrize("rate", MANY_RATES)
def test_keep_and_drop_frequency_at_widths_that_cut_the_last_word(rate):
    # Widths 1, 5 and 33 are not multiples of the decisions per word (31 at rate 0.5, 2 for
    # most rates), so the last fields are cut off; every entry position must still keep
    # with probability q exactly. 5 standard errors over 4000 * 8 draws per position and
    # over the whole mask; the drop mask of the same words is the complement.
    q = realised_keep(rate)
    for n in (1, 5, 33):
        keep = to_numpy(bernoulli_keep((4000, n, 8), rate, keras.random.SeedGenerator(n))).astype("float64")
        assert abs(keep.mean() - q) <= 5 * math.sqrt(q * (1 - q) / keep.size)
        per_position = keep.mean(axis=(0, 2))
        assert np.all(np.abs(per_position - q) <= 5 * math.sqrt(q * (1 - q) / (4000 * 8)))
        drop = to_numpy(bernoulli_drop((4000, n, 8), rate, keras.random.SeedGenerator(n)))
        np.testing.assert_array_equal(drop, keep == 0)


@pytest.mark.parametrize("rate", [0.1, 0.3, 0.7, 0.9])
def test_partial_gaussian_stir_perturbs_with_the_realised_rate(rate):
    # m != 1 exactly when the connection is chosen (a normal draw is never exactly 0):
    # P = r = realised_rate(rate); the chosen values are N(1, 1 / (1 - r)), so E[m] = 1 and
    # Var[m] = r / (1 - r). 5 standard errors over 1M draws.
    r = realised_rate(rate)
    m = to_numpy(partial_gaussian_stir((1000, 1000), rate, keras.random.SeedGenerator(7), "float32")).astype("float64")
    chosen = m != 1.0
    assert abs(chosen.mean() - r) <= 5 * math.sqrt(r * (1 - r) / m.size)
    assert_mean_close(m.reshape(-1, 1), 1.0)
    assert_variance_close(m.reshape(-1, 1)[:400000], r / (1 - r))
    assert_variance_close(m[chosen].reshape(-1, 1)[:100000], 1 / (1 - r))


@pytest.mark.parametrize("at_once", [False, True])
@pytest.mark.parametrize("rate", [0.1, 0.3, 0.7])
def test_partial_reparam_perturbs_with_the_realised_rate(rate, at_once, monkeypatch):
    # One input of weight 1: y = 1 + c * sqrt(1 / (1 - r)) * eps, so y == 1 exactly when the
    # connection is not chosen; P(y != 1) = r within 5 standard errors over 20,000 samples,
    # and the variance of y is r / (1 - r), in the chunk loop and with the mask at once.
    from pernode_cli.layers import samplers

    monkeypatch.setitem(samplers.AUTO_REFERENCE_ELEMENTS, keras.backend.backend(), (1 << 62) if at_once else 0)
    layer = PerNodeDense(1, rate, stir="partial_gaussian", sampler="partial_reparam", use_bias=False, seed=3)
    layer.build((None, 1))
    layer.kernel.assign(np.ones((1, 1), "float32"))
    y = to_numpy(layer(np.ones((20000, 1), "float32"), training=True))[:, 0].astype("float64")
    r = realised_rate(rate)
    assert abs((y != 1.0).mean() - r) <= 5 * math.sqrt(r * (1 - r) / y.size)
    assert_variance_close(y.reshape(-1, 1), r / (1 - r))


@pytest.mark.parametrize(
    "n, k, m", [(128, 31, 8), (128, 2, 64), (124, 31, 4), (127, 31, 5), (1, 31, 1), (65, 2, 33), (64, 15, 8)]
)
def test_words_along_fill_the_axis_exactly_when_a_divisor_is_near(n, k, m):
    assert words_along(n, k) == m
    used = -(-n // m)
    assert used <= k and used * m >= n  # every entry has its own field of one word
