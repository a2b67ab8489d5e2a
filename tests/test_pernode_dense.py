import numpy as np
import pytest

import keras

from scipy.stats import ks_2samp

from pernode_cli.layers import PerNodeDense, chunked, register_stir
from pernode_cli.layers.bits import realised_keep
from pernode_cli.layers.samplers import compatible
from tests.helpers import (
    assert_mean_close,
    assert_uncorrelated,
    assert_variance_close,
    grad_and_output,
    small_chunks,
    to_numpy,
)

STIRS = ["bernoulli", "gaussian", "partial_gaussian"]
# Every sampler the layer offers, with every stir it accepts.
PAIRS = [(stir, sampler) for stir in STIRS for sampler in compatible(stir)]
D_IN, UNITS, BATCH = 8, 6, 20000


def _built(stir, sampler, rate, mask="dynamic", seed=1, d_in=D_IN, units=UNITS, **kw):
    layer = PerNodeDense(units, rate, stir=stir, mask=mask, sampler=sampler, seed=seed, **kw)
    layer.build((None, d_in))
    rng = np.random.default_rng(0)
    layer.kernel.assign(rng.normal(size=(d_in, units)).astype("float32"))
    if layer.bias is not None:
        layer.bias.assign(rng.normal(size=(units,)).astype("float32"))
    return layer


@pytest.mark.parametrize("stir, sampler", PAIRS)
@pytest.mark.parametrize("rate", [0.3, 0.7])
def test_moments_match_formula(stir, sampler, rate):
    layer = _built(stir, sampler, rate)
    x = np.random.default_rng(1).normal(size=(1, D_IN)).astype("float32")
    xb = np.repeat(x, BATCH, axis=0)
    y = to_numpy(layer(xb, training=True))
    w = to_numpy(layer.kernel)
    dense = x @ w + to_numpy(layer.bias)
    # E[y] is the Dense output; Var[y_j] = rate/(1-rate) * sum_i x_i^2 W_ij^2.
    assert_mean_close(y, dense[0])
    target_var = rate / (1 - rate) * ((x**2) @ (w**2))[0]
    assert_variance_close(y, target_var)


@pytest.mark.parametrize("stir, sampler", PAIRS)
def test_noise_independent_across_samples_and_units(stir, sampler):
    layer = _built(stir, sampler, 0.5)
    x = np.random.default_rng(2).normal(size=(1, D_IN)).astype("float32")
    y = to_numpy(layer(np.repeat(x, BATCH, axis=0), training=True))
    noise = y - (x @ to_numpy(layer.kernel) + to_numpy(layer.bias))
    # Two identical rows get different outputs (per-sample masks) ...
    assert not np.allclose(y[0], y[1])
    # ... and the noise of neighbouring samples and of different units is uncorrelated.
    assert_uncorrelated(noise[0::2, 0], noise[1::2, 0])
    for j in range(1, UNITS):
        assert_uncorrelated(noise[:, 0], noise[:, j])


@pytest.mark.parametrize("stir, sampler", PAIRS)
def test_dynamic_is_dense_at_inference_and_rate_zero(stir, sampler):
    layer = _built(stir, sampler, 0.5)
    x = np.random.default_rng(3).normal(size=(16, D_IN)).astype("float32")
    expected = x @ to_numpy(layer.kernel) + to_numpy(layer.bias)
    np.testing.assert_allclose(to_numpy(layer(x, training=False)), expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(to_numpy(layer(x)), expected, rtol=1e-5, atol=1e-5)
    zero = _built(stir, sampler, 0.0)
    np.testing.assert_allclose(to_numpy(zero(x, training=True)), expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("sampler", compatible("gaussian"))
def test_rank3_inputs_like_dense(sampler):
    layer = _built("gaussian", sampler, 0.5)
    x = np.random.default_rng(4).normal(size=(4, 5, D_IN)).astype("float32")
    expected = x @ to_numpy(layer.kernel) + to_numpy(layer.bias)
    np.testing.assert_allclose(to_numpy(layer(x)), expected, rtol=1e-5, atol=1e-5)
    y = to_numpy(layer(x, training=True))
    assert y.shape == (4, 5, UNITS)
    # Every position of the leading axes gets its own noise.
    assert not np.allclose(y - expected, (y - expected)[:, :1])


@pytest.mark.parametrize("stir, sampler", [p for p in PAIRS if p[1] != "reference"])
def test_agrees_with_reference_in_distribution(stir, sampler):
    # Two-sample Kolmogorov-Smirnov test per unit against the reference sampler; with a
    # fixed seed the p-values are fixed, and 1e-3 leaves room for the 6 units tested.
    rate = 0.6
    x = np.random.default_rng(9).normal(size=(1, D_IN)).astype("float32")
    xb = np.repeat(x, BATCH, axis=0)
    ref = to_numpy(_built(stir, "reference", rate, seed=21)(xb, training=True))
    out = to_numpy(_built(stir, sampler, rate, seed=22)(xb, training=True))
    for j in range(UNITS):
        assert ks_2samp(ref[:, j], out[:, j]).pvalue > 1e-3


def test_partial_reparam_with_the_mask_at_once_agrees_with_reference(monkeypatch):
    # The materialised choice mask (what `auto` takes for small masks on some backends)
    # against the reference sampler: KS per unit as above.
    from pernode_cli.layers import samplers

    monkeypatch.setitem(samplers.AUTO_REFERENCE_ELEMENTS, keras.backend.backend(), 1 << 62)
    x = np.random.default_rng(9).normal(size=(1, D_IN)).astype("float32")
    xb = np.repeat(x, BATCH, axis=0)
    ref = to_numpy(_built("partial_gaussian", "reference", 0.6, seed=21)(xb, training=True))
    out = to_numpy(_built("partial_gaussian", "partial_reparam", 0.6, seed=22)(xb, training=True))
    for j in range(UNITS):
        assert ks_2samp(ref[:, j], out[:, j]).pvalue > 1e-3


@pytest.mark.parametrize("rate", [0.5, 0.3])
def test_chunked_gradient_matches_the_mask_it_drew(monkeypatch, rate):
    # With many chunks, the custom gradient must redraw exactly the forward masks:
    # for y = sum_j y_j, dL/dx[b, i] = sum_j m[b, i, j] W[i, j], and the forward pass
    # with x = e_i reveals sum_j m[b, i, j] W[i, j] for that same draw. Rate 0.5 cuts 31
    # keep decisions from each random word, rate 0.3 two.
    small_chunks(monkeypatch, batch=3, units=UNITS, inputs=3)
    assert chunked.chunk_size(3, D_IN, UNITS) == 3  # 3 chunks of 3 for 8 inputs: one padded
    layer = _built("bernoulli", "chunked", rate, use_bias=False)
    w = to_numpy(layer.kernel)
    x = np.ones((3, D_IN), "float32")
    grads, ys = grad_and_output(layer, x)
    # Gradient of sum(y) wrt x is sum_j m W; the output for x = ones is sum_i of it.
    np.testing.assert_allclose(grads.sum(axis=1), ys.sum(axis=1), rtol=1e-4, atol=1e-4)
    assert not np.allclose(grads, grads[:1])  # per-sample masks
    scale = 1 / realised_keep(rate)  # kept weights x 1 / (1 - realised rate)
    assert np.abs(grads).max() <= scale * np.abs(w).sum(axis=1).max() + 1e-5


@pytest.mark.parametrize("stir, sampler", [("bernoulli", "chunked"), ("partial_gaussian", "partial_reparam")])
def test_chunked_kernel_gradient_uses_the_forward_mask(stir, sampler, monkeypatch):
    # For y = sum_i x_i m_ij W_ij (bernoulli): sum_ij W_ij dL/dW_ij = sum(y) with L = sum(y),
    # which holds only if the backward pass redraws the forward masks.
    if keras.backend.backend() != "tensorflow":
        pytest.skip("kernel gradient read with tf.GradientTape")
    import tensorflow as tf

    small_chunks(monkeypatch, batch=3, units=UNITS, inputs=1)
    layer = _built(stir, sampler, 0.5, use_bias=False)
    x = tf.constant(np.random.default_rng(10).normal(size=(3, D_IN)).astype("float32"))
    with tf.GradientTape() as tape:
        y = layer(x, training=True)
        total = tf.reduce_sum(y if stir == "bernoulli" else (y - x @ layer.kernel) ** 2)
    g = tape.gradient(total, layer.kernel).numpy()
    w = to_numpy(layer.kernel)
    # Partial-Gaussian: noise n = s * sqrt(v) * eps is homogeneous of degree 1 in W, so
    # sum(W * d(n^2)/dW) = 2 sum(n^2) (Euler); the same redraw requirement holds.
    target = total.numpy() if stir == "bernoulli" else 2 * total.numpy()
    assert np.sum(w * g) == pytest.approx(target, rel=1e-4)


@pytest.mark.parametrize("stir", STIRS)
def test_fixed_mask_applied_everywhere_and_moments(stir):
    rate = 0.5
    layer = _built(stir, "reference", rate, mask="fixed", d_in=200, units=300)
    m = to_numpy(layer.fixed_mask)
    # The stored mask has the stir's moments: mean 1, variance rate/(1-rate).
    assert_mean_close(m.reshape(-1, 1), 1.0)
    assert_variance_close(m.reshape(-1, 1), rate / (1 - rate))
    x = np.random.default_rng(5).normal(size=(32, 200)).astype("float32")
    expected = x @ (to_numpy(layer.kernel) * m) + to_numpy(layer.bias)
    for training in (True, False):
        np.testing.assert_allclose(to_numpy(layer(x, training=training)), expected, rtol=1e-4, atol=1e-4)
    # Same mask for every call and every batch composition.
    np.testing.assert_allclose(to_numpy(layer(x[:3], training=True)), expected[:3], rtol=1e-4, atol=1e-4)
    np.testing.assert_array_equal(to_numpy(layer.fixed_mask), m)
    assert "fixed_mask" not in [w.path.split("/")[-1] for w in layer.trainable_weights]


def test_fixed_mask_reproducible_from_seed():
    a = _built("bernoulli", "reference", 0.5, mask="fixed", seed=7)
    b = _built("bernoulli", "reference", 0.5, mask="fixed", seed=7)
    c = _built("bernoulli", "reference", 0.5, mask="fixed", seed=8)
    np.testing.assert_array_equal(to_numpy(a.fixed_mask), to_numpy(b.fixed_mask))
    assert not np.array_equal(to_numpy(a.fixed_mask), to_numpy(c.fixed_mask))


def test_bernoulli_mask_values():
    layer = _built("bernoulli", "reference", 0.75, d_in=1, units=1)
    layer.kernel.assign(np.ones((1, 1), "float32"))
    layer.bias.assign(np.zeros((1,), "float32"))
    y = to_numpy(layer(np.ones((4000, 1), "float32"), training=True))[:, 0]
    assert set(np.round(np.unique(y), 5)) <= {0.0, 4.0}
    assert abs((y == 0).mean() - 0.75) < 5 * np.sqrt(0.75 * 0.25 / 4000)


@pytest.mark.parametrize("mask", ["dynamic", "fixed"])
def test_save_and_load(tmp_path, mask):
    inputs = keras.Input((D_IN,))
    outputs = PerNodeDense(UNITS, 0.5, stir="partial_gaussian", mask=mask, seed=3, activation="relu")(inputs)
    model = keras.Model(inputs, outputs)
    x = np.random.default_rng(6).normal(size=(10, D_IN)).astype("float32")
    before = model.predict(x, verbose=0)
    path = tmp_path / "m.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), before)
    assert loaded.layers[-1].get_config() == model.layers[-1].get_config()


def test_get_config_round_trip():
    layer = PerNodeDense(5, 0.25, stir="gaussian", mask="fixed", activation="relu", use_bias=False,
                         kernel_initializer="he_normal", seed=11)
    config = layer.get_config()
    for key in ["units", "rate", "stir", "mask", "activation", "use_bias", "kernel_initializer", "sampler", "seed"]:
        assert key in config
    assert PerNodeDense.from_config(config).get_config() == config


@pytest.mark.parametrize(
    "mask, stir, sampler", [("fixed", "bernoulli", "auto")] + [("dynamic", st, sa) for st, sa in PAIRS]
)
def test_gradients_reach_kernel_and_bias(mask, stir, sampler):
    inputs = keras.Input((D_IN,))
    layer = PerNodeDense(3, 0.5, stir=stir, mask=mask, sampler=sampler, seed=0)
    model = keras.Model(inputs, layer(inputs))
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    before = [to_numpy(w).copy() for w in (layer.kernel, layer.bias)]
    mask_before = to_numpy(layer.fixed_mask).copy() if mask == "fixed" else None
    x = np.random.default_rng(7).normal(size=(32, D_IN)).astype("float32")
    model.train_on_batch(x, np.full((32, 3), 5.0, "float32"))
    for old, new in zip(before, (layer.kernel, layer.bias)):
        new = to_numpy(new)
        assert np.all(np.isfinite(new)) and not np.allclose(old, new)
    if mask == "fixed":
        np.testing.assert_array_equal(to_numpy(layer.fixed_mask), mask_before)


def test_user_defined_stir_serializes(tmp_path):
    def uniform_stir(shape, rate, seed_generator, dtype):
        # Uniform on [1 - a, 1 + a], variance a^2 / 3 = rate / (1 - rate).
        a = float(np.sqrt(3 * rate / (1 - rate)))
        return keras.random.uniform(shape, 1 - a, 1 + a, seed=seed_generator, dtype=dtype)

    register_stir("test_uniform", uniform_stir, replace=True)
    layer = _built("test_uniform", "reference", 0.2)
    x = np.random.default_rng(8).normal(size=(1, D_IN)).astype("float32")
    y = to_numpy(layer(np.repeat(x, BATCH, axis=0), training=True))
    w = to_numpy(layer.kernel)
    assert_mean_close(y, (x @ w + to_numpy(layer.bias))[0])
    assert_variance_close(y, 0.25 * ((x**2) @ (w**2))[0])
    assert PerNodeDense.from_config(layer.get_config()).stir == "test_uniform"


def test_register_stir_refuses_duplicates_and_non_callables():
    with pytest.raises(ValueError, match="already registered"):
        register_stir("bernoulli", lambda *a: None)
    with pytest.raises(ValueError, match="`fn`"):
        register_stir("new_one", 3)


@pytest.mark.parametrize(
    "kwargs, arg",
    [
        ({"units": 0, "rate": 0.5}, "units"),
        ({"units": 2.5, "rate": 0.5}, "units"),
        ({"units": 4, "rate": 1.0}, "rate"),
        ({"units": 4, "rate": -0.1}, "rate"),
        ({"units": 4, "rate": "0.5"}, "rate"),
        ({"units": 4, "rate": 0.5, "stir": "laplace"}, "stir"),
        ({"units": 4, "rate": 0.5, "mask": "static"}, "mask"),
        ({"units": 4, "rate": 0.5, "sampler": "magic"}, "sampler"),
        ({"units": 4, "rate": 0.5, "stir": "bernoulli", "sampler": "local_reparam"}, "sampler"),
        ({"units": 4, "rate": 0.5, "stir": "gaussian", "sampler": "partial_reparam"}, "sampler"),
        ({"units": 4, "rate": 0.5, "seed": -1}, "seed"),
        ({"units": 4, "rate": 0.5, "seed": 1.5}, "seed"),
        ({"units": 4, "rate": 0.5, "use_bias": "yes"}, "use_bias"),
        ({"units": 4, "rate": 0.5, "activation": "nope"}, "activation"),
        ({"units": 4, "rate": 0.5, "kernel_initializer": "nope"}, "kernel_initializer"),
    ],
)
def test_invalid_arguments(kwargs, arg):
    with pytest.raises(ValueError, match=f"argument `{arg}`"):
        PerNodeDense(**kwargs)
