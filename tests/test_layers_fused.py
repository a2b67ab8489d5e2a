"""The fused sampler: its C kernel's bits and arithmetic, and the wiring into each backend.

Runs on whichever Keras backend is set (``KERAS_BACKEND``); skipped where the extension is not
built. Tolerances come from formulas: Monte Carlo errors (5 standard errors, or p > 1e-3 for
tests whose p-values are fixed by fixed seeds) and float32 summation bounds.
"""

import numpy as np
import pytest
from scipy import stats

import keras
from keras import ops

from pernode_cli.layers import PerNodeDense, fused
from pernode_cli.layers import samplers
from pernode_cli.layers.bits import field_threshold, random_words, realised_keep, realised_rate
from pernode_cli.layers.samplers import compatible, resolve_sampler, validate_sampler
from tests.helpers import assert_mean_close, assert_uncorrelated, assert_variance_close, to_numpy

built = pytest.mark.skipif(not fused.available(), reason="the fused kernel is not built here")
BACKEND = keras.backend.backend()
RATES = [0.1, 0.3, 0.5, 0.9]
U32 = 2.0**-24  # unit roundoff of float32

# SplitMix64, as the kernel's header specifies it, in NumPy (uint64 arithmetic wraps).
_G, _M1, _M2 = np.uint64(0x9E3779B97F4A7C15), np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB)


def _mix(z):
    z = (z ^ (z >> np.uint64(30))) * _M1
    z = (z ^ (z >> np.uint64(27))) * _M2
    return z ^ (z >> np.uint64(31))


def spec_mask(shape, key, rate, drop=False):
    """The keep decisions from the documented layout, independently of the kernel's code."""
    batch, d_in, units = shape
    bits, t = field_threshold(rate)
    lane = 1 if bits == 1 else (8 if bits <= 8 else 16)
    per_word = 64 // lane
    words = -(-units // per_word)
    with np.errstate(over="ignore"):
        s1 = _mix(np.uint64(key) + _G) + _G
        n = np.arange(batch * d_in * words, dtype=np.uint64)
        h = _mix(s1 + n * _G).reshape(batch, d_in, words)
    shifts = np.arange(per_word, dtype=np.uint64) * np.uint64(lane)
    fields = (h[..., None] >> shifts) & np.uint64((1 << lane) - 1)
    keep = (fields < np.uint64(t << (lane - bits))).reshape(batch, d_in, words * per_word)[..., :units]
    return ~keep if drop else keep


def _sum_bound(a, w):
    """Float32 recursive-summation bound of ``sum_i a w``: gamma_n * sum_i |a w| (plus the
    rounding of each product), ``gamma_n = n u / (1 - n u)``."""
    n = a.shape[-1] + 1
    return (n * U32 / (1 - n * U32)) * (np.abs(a) @ np.abs(w)) + 1e-30


@pytest.fixture(scope="module")
def arrays():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(6, 37)).astype("float32")
    a[a < -0.5] = 0.0  # zeros take the forward pass's skip
    return a, rng.normal(size=(37, 131)).astype("float32"), rng.normal(size=(6, 131)).astype("float32")


# ---------------------------------------------------------------------------------------------
# The kernel's bits


@built
@pytest.mark.parametrize("rate", RATES + [0.25, 0.875, 0.0])
@pytest.mark.parametrize("drop", [False, True])
def test_mask_follows_the_documented_layout(rate, drop):
    # d_in odd, units not a multiple of the 4, 8 or 64 fields of a word, batch 1.
    for shape in [(1, 3, 7), (2, 5, 130), (3, 2, 257)]:
        key = 0x0123456789ABCDEF
        np.testing.assert_array_equal(fused.keep_mask(shape, key, rate, drop), spec_mask(shape, key, rate, drop))


@built
@pytest.mark.parametrize("rate", RATES)
@pytest.mark.parametrize("shape", [(1, 33, 4099), (64, 17, 129), (256, 64, 128)])
def test_keep_rate_is_the_realised_keep(rate, shape):
    keep = fused.keep_mask(shape, 12345, rate)
    q, n = realised_keep(rate), keep.size
    assert abs(keep.mean() - q) <= 5 * np.sqrt(q * (1 - q) / n)
    drop = fused.keep_mask(shape, 12345, rate, drop=True)
    np.testing.assert_array_equal(drop, ~keep)  # the complement, from the same words
    assert abs(drop.mean() - realised_rate(rate)) <= 5 * np.sqrt(q * (1 - q) / n)


@built
@pytest.mark.parametrize("rate", RATES)
def test_kept_counts_per_row_are_binomial(rate):
    # Kept connections per (b, i) row: 4,096 rows of 100 units against Binomial(100, q);
    # chi-square over bins pooled to >= 5 expected rows.
    units, q = 100, realised_keep(rate)
    counts = fused.keep_mask((64, 64, units), 777, rate).sum(axis=-1).ravel()
    expected = stats.binom.pmf(np.arange(units + 1), units, q) * counts.size
    observed = np.bincount(counts, minlength=units + 1).astype(float)
    edges, acc = [], 0.0
    for k in range(units + 1):
        acc += expected[k]
        if acc >= 5:
            edges.append(k + 1)
            acc = 0.0
    edges[-1] = units + 1
    bins = np.split(np.arange(units + 1), edges[:-1])
    obs = np.array([observed[b].sum() for b in bins])
    exp = np.array([expected[b].sum() for b in bins])
    assert stats.chisquare(obs, exp * obs.sum() / exp.sum()).pvalue > 1e-3


@built
@pytest.mark.parametrize("rate", [0.3, 0.5])
def test_nearby_keys_and_positions_are_independent(rate):
    shape = (32, 64, 128)
    n = np.prod(shape)
    base = fused.keep_mask(shape, 1000, rate).ravel().astype(float)
    for other in (1001, 1000 + (1 << 32), 1000 ^ (1 << 63)):
        assert_uncorrelated(base, fused.keep_mask(shape, other, rate).ravel().astype(float))
    m = base.reshape(shape)
    assert_uncorrelated(m[:, :, :-1].ravel(), m[:, :, 1:].ravel())  # fields of one word, and words
    assert_uncorrelated(m[:, :-1].ravel(), m[:, 1:].ravel())  # next input
    assert_uncorrelated(m[:-1].ravel(), m[1:].ravel())  # next sample
    assert n > 1 << 17


@built
def test_key_pairs_map_to_64_bits():
    assert fused.key_of(np.array([-1, 0], "int32")) == 0xFFFFFFFF00000000
    assert fused.key_of(np.array([1, -2], "int32")) == (1 << 32) | 0xFFFFFFFE
    np.testing.assert_array_equal(fused.keep_mask((2, 3, 9), np.array([1, 2], "int32"), 0.3),
                                  fused.keep_mask((2, 3, 9), (1 << 32) | 2, 0.3))


# ---------------------------------------------------------------------------------------------
# The kernel's arithmetic


@built
@pytest.mark.parametrize("rate, drop", [(0.3, False), (0.5, False), (0.1, True)])
def test_kernel_passes_equal_the_explicit_mask(arrays, rate, drop):
    a, w, up = arrays
    key = 99
    m = fused.keep_mask((a.shape[0], w.shape[0], w.shape[1]), key, rate, drop).astype("float64")
    y = fused.contract(a, w, key, rate, drop)
    ga, gw = fused.contract_grads(a, w, up, key, rate, drop)
    a64, w64, up64 = a.astype("float64"), w.astype("float64"), up.astype("float64")
    y_ref = np.einsum("bi,bij->bj", a64, m * w64)
    ga_ref = np.einsum("bj,bij->bi", up64, m * w64)
    gw_ref = np.einsum("bi,bij->ij", a64, m * up64[:, None, :])
    assert np.all(np.abs(y - y_ref) <= _sum_bound(a, w))
    assert np.all(np.abs(ga - ga_ref) <= _sum_bound(up, w.T))
    assert np.all(np.abs(gw - gw_ref) <= _sum_bound(a.T, up))
    ga_only, none = fused.contract_grads(a, w, up, key, rate, drop, weights=False)
    assert none is None and np.array_equal(ga_only, ga)


@built
@pytest.mark.parametrize("rate", [0.3, 0.5, 0.75])
def test_same_bits_and_outputs_on_every_simd_path_and_thread_count(rate):
    # Every path does the same float32 operations in the same order: the outputs agree bit
    # for bit, not only the mask (two tiles of units and a tail, inputs past one block).
    rng = np.random.default_rng(3)
    a = rng.normal(size=(9, 70)).astype("float32")
    a[a < 0] = 0
    w = rng.normal(size=(70, 300)).astype("float32")
    up = rng.normal(size=(9, 300)).astype("float32")
    ref = None
    for simd in fused.kernel_info()["simd_paths"]:
        for threads in (1, 2, 3):
            mask = fused.keep_mask((9, 70, 300), 5, rate, simd=simd, threads=threads)
            y = fused.contract(a, w, 5, rate, simd=simd, threads=threads)
            ga, gw = fused.contract_grads(a, w, up, 5, rate, simd=simd, threads=threads)
            got = [mask, y.view("uint32"), ga.view("uint32"), gw.view("uint32")]
            if ref is None:
                ref = got
            for r, g in zip(ref, got):
                np.testing.assert_array_equal(r, g, err_msg=f"{simd}, {threads} threads")


@built
def test_kernel_edge_shapes():
    w = np.ones((0, 3), "float32")
    np.testing.assert_array_equal(fused.contract(np.ones((2, 0), "float32"), w, 1, 0.3), np.zeros((2, 3)))
    assert fused.contract(np.ones((0, 4), "float32"), np.ones((4, 3), "float32"), 1, 0.3).shape == (0, 3)
    ga, gw = fused.contract_grads(np.ones((0, 4), "float32"), np.ones((4, 3), "float32"),
                                  np.ones((0, 3), "float32"), 1, 0.3)
    assert ga.shape == (0, 4) and np.array_equal(gw, np.zeros((4, 3)))
    # Rate 0 keeps everything: the plain product.
    a, w2 = np.ones((2, 5), "float32"), np.arange(15, dtype="float32").reshape(5, 3)
    np.testing.assert_array_equal(fused.contract(a, w2, 1, 0.0), a @ w2)


@built
def test_kernel_arguments_are_checked():
    a, w = np.ones((2, 3), "float32"), np.ones((3, 4), "float32")
    with pytest.raises(ValueError, match="argument `rate`"):
        fused.contract(a, w, 1, 1.5)
    with pytest.raises(ValueError, match="argument `w`"):
        fused.contract(a, np.ones((4, 4), "float32"), 1, 0.3)
    with pytest.raises(ValueError, match="argument `up`"):
        fused.contract_grads(a, w, np.ones((2, 5), "float32"), 1, 0.3)
    with pytest.raises(ValueError, match="argument `key`"):
        fused.contract(a, w, -1, 0.3)
    with pytest.raises(ValueError, match="argument `drop`"):
        fused.contract(a, w, 1, 0.3, drop="yes")
    with pytest.raises(ValueError, match="argument `shape`"):
        fused.keep_mask((2, 3), 1, 0.3)
    with pytest.raises(ValueError, match="argument `simd`"):
        fused.configure(simd="sse9")
    with pytest.raises(ValueError, match="argument `threads`"):
        fused.configure(threads=-1)
    with pytest.raises(ValueError, match="argument `threads`"):
        fused.contract(a, w, 1, 0.3, threads=True)


@built
def test_kernel_info_names_the_path():
    info = fused.kernel_info()
    assert info["available"] and info["simd"] in fused.SIMD_PATHS and info["threads"] >= 1
    assert info["simd_paths"][0] == "portable" and info["simd"] == info["simd_paths"][-1]
    assert info["simd"] in fused.describe()
    fused.configure(simd="portable", threads=1)
    try:
        assert fused.kernel_info()["simd"] == "portable" and fused.kernel_info()["threads"] == 1
    finally:
        fused.configure()


# ---------------------------------------------------------------------------------------------
# Backends


def _value_and_grads(fn, a, w, up):
    """``fn(a, w)`` and the gradients of ``sum(fn(a, w) * up)`` in ``a`` and ``w`` by the
    running backend's autodiff."""
    if BACKEND == "tensorflow":
        import tensorflow as tf

        at, wt = tf.constant(a), tf.constant(w)
        with tf.GradientTape() as tape:
            tape.watch([at, wt])
            y = fn(at, wt)
            total = tf.reduce_sum(y * up)
        ga, gw = tape.gradient(total, [at, wt])
        return y.numpy(), ga.numpy(), gw.numpy()
    if BACKEND == "jax":
        import jax

        y = fn(a, w)
        ga, gw = jax.grad(lambda a_, w_: (fn(a_, w_) * up).sum(), argnums=(0, 1))(a, w)
        return np.asarray(y), np.asarray(ga), np.asarray(gw)
    import torch

    at, wt = torch.tensor(a, requires_grad=True), torch.tensor(w, requires_grad=True)
    y = fn(at, wt)
    (y * torch.tensor(up)).sum().backward()
    return y.detach().numpy(), at.grad.numpy(), wt.grad.numpy()


@built
@pytest.mark.parametrize("rate, drop", [(0.3, False), (0.5, False), (0.3, True)])
def test_backend_gradients_equal_autodiff_on_the_explicit_mask(arrays, rate, drop):
    a, w, up = arrays
    key = ops.convert_to_tensor(np.array([7, -3], "int32"))
    mask = fused.keep_mask((a.shape[0], w.shape[0], w.shape[1]), np.array([7, -3], "int32"), rate, drop)
    mask = ops.convert_to_tensor(mask.astype("float32"))
    got = _value_and_grads(lambda a_, w_: fused.contraction(a_, w_, key, rate, drop), a, w, up)
    want = _value_and_grads(lambda a_, w_: ops.einsum("bi,bij->bj", a_, mask * w_[None]), a, w, up)
    bounds = [2 * _sum_bound(a, w), 2 * _sum_bound(up, w.T), 2 * _sum_bound(a.T, up)]
    for g, e, bound, name in zip(got, want, bounds, ["y", "ga", "gw"]):
        assert np.all(np.abs(g - e) <= bound), name


def _layer(stir, sampler, rate, seed, d_in, units, kernel=None, **kw):
    layer = PerNodeDense(units, rate, stir=stir, sampler=sampler, use_bias=False, seed=seed, **kw)
    layer.build((None, d_in))
    if kernel is not None:
        layer.kernel.assign(kernel)
    return layer


@built
@pytest.mark.parametrize("stir", ["bernoulli", "partial_gaussian"])
def test_layer_draws_its_key_from_the_seed_generator(stir):
    rng = np.random.default_rng(4)
    x = rng.normal(size=(5, 11)).astype("float32")
    w = rng.normal(size=(11, 6)).astype("float32")
    layer = _layer(stir, "fused", 0.3, 21, 11, 6, w)
    assert layer.resolved_sampler() == "fused"
    first, second = to_numpy(layer(x, training=True)), to_numpy(layer(x, training=True))
    again = to_numpy(_layer(stir, "fused", 0.3, 21, 11, 6, w)(x, training=True))
    np.testing.assert_array_equal(first, again)  # a fixed seed replays
    assert not np.allclose(first, second)  # the state advances each call
    if stir == "bernoulli":
        key = to_numpy(random_words((2,), keras.random.SeedGenerator(21)))
        want = fused.contract(x, w * np.float32(1 / realised_keep(0.3)), key, 0.3)
        np.testing.assert_array_equal(first, want)


def _atoms(a, b, tol=1e-5):
    """``a`` and ``b`` with values closer than ``tol`` (relative, from below) replaced by one
    representative, so that rounding in the last bits does not split an atom of a discrete law."""
    v = np.concatenate([a, b]).astype("float64")
    order = np.argsort(v)
    sv = v[order]
    new = np.concatenate([[True], np.diff(sv) > tol * np.maximum(1.0, np.abs(sv[1:]))])
    rep = sv[new][np.cumsum(new) - 1]
    out = np.empty_like(v)
    out[order] = rep
    return out[: len(a)], out[len(a):]


def _matches_the_reference(stir, rate, seeds, d_in, noise_variance, data_seed):
    """``d_in`` inputs, 3 units: one input row repeated 3000 times (every row an independent
    draw) through the fused and the reference sampler. The fused outputs' mean is x @ W and their
    variance ``noise_variance * sum_i x^2 W^2`` within 5 standard errors; per unit their law is
    the reference's (KS, p-values fixed by the seeds; 1e-3 leaves room for every unit and rate).
    Values within 1e-5 are one atom: the two samplers round a discrete law's values apart."""
    rng = np.random.default_rng(data_seed)
    x = np.repeat(rng.normal(size=(1, d_in)).astype("float32"), 3000, axis=0)
    w = rng.normal(size=(d_in, 3)).astype("float32")
    out = to_numpy(_layer(stir, "fused", rate, seeds[0], d_in, 3, w)(x, training=True)).astype("float64")
    ref = to_numpy(_layer(stir, "reference", rate, seeds[1], d_in, 3, w)(x, training=True))
    assert_mean_close(out, (x[:1] @ w)[0])
    assert_variance_close(out, noise_variance * (x[:1] ** 2 @ w**2)[0])
    for j in range(3):
        a, b = _atoms(out[:, j], ref[:, j])
        assert stats.ks_2samp(a, b).pvalue > 1e-3


@built
@pytest.mark.parametrize("rate", RATES)
def test_bernoulli_outputs_match_the_reference_sampler(rate):
    # Variance (1 - q) / q per connection. The outputs take 2**8 values, which the two samplers
    # round differently in the last bits (1 / q applied to the sum or to each weight).
    q = realised_keep(rate)
    _matches_the_reference("bernoulli", rate, (31, 32), 8, (1 - q) / q, data_seed=8)


@built
@pytest.mark.parametrize("rate", [0.3, 0.7])
def test_partial_gaussian_variance_formula(rate):
    # Per connection the noise variance is r / (1 - r), r = realised_rate, around the mean x @ W;
    # the atom at the mean (nothing perturbed) is rounded apart by matmul and einsum.
    r = realised_rate(rate)
    _matches_the_reference("partial_gaussian", rate, (41, 42), 6, r / (1 - r), data_seed=9)


@built
def test_nearby_layer_seeds_draw_independent_noise():
    rng = np.random.default_rng(10)
    x = np.repeat(rng.normal(size=(1, 16)).astype("float32"), 512, axis=0)
    w = rng.normal(size=(16, 8)).astype("float32")
    y0 = to_numpy(_layer("bernoulli", "fused", 0.5, 100, 16, 8, w)(x, training=True))
    y1 = to_numpy(_layer("bernoulli", "fused", 0.5, 101, 16, 8, w)(x, training=True))
    mean = x[:1] @ w  # the noise of each output, about its mean
    assert_uncorrelated((y0 - mean).ravel(), (y1 - mean).ravel())


@built
def test_mixed_precision_computes_in_float32():
    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        layer = PerNodeDense(4, 0.3, sampler="fused", seed=1)
        y = layer(np.full((3, 5), 300.0, "float32"), training=True)
        assert keras.backend.standardize_dtype(y.dtype) == "float16"
        assert np.all(np.isfinite(to_numpy(y)))
    finally:
        keras.mixed_precision.set_global_policy(previous)


@built
@pytest.mark.parametrize("stir", ["bernoulli", "partial_gaussian"])
def test_model_fit_with_the_fused_sampler(stir):
    rng = np.random.default_rng(11)
    x = rng.normal(size=(64, 12)).astype("float32")
    y = rng.integers(0, 3, size=64)
    model = keras.Sequential([keras.Input((12,)), PerNodeDense(16, 0.3, stir=stir, sampler="fused", seed=3,
                                                               activation="relu"), keras.layers.Dense(3)])
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="sparse_categorical_crossentropy")
    before = [to_numpy(v).copy() for v in model.layers[0].trainable_variables]
    history = model.fit(x, y, batch_size=32, epochs=2, verbose=0)
    assert np.all(np.isfinite(history.history["loss"]))
    after = [to_numpy(v) for v in model.layers[0].trainable_variables]
    assert all(not np.allclose(b, a) for b, a in zip(before, after))  # gradients reached the kernel
    assert model.layers[0].resolved_sampler() == "fused"


# ---------------------------------------------------------------------------------------------
# Choice of sampler


def test_fused_is_valid_for_two_stirs_only():
    assert "fused" in compatible("bernoulli") and "fused" in compatible("partial_gaussian")
    assert "fused" not in compatible("gaussian")
    assert validate_sampler("fused", "partial_gaussian") == "fused"
    with pytest.raises(ValueError, match="argument `sampler`.*stir in"):
        validate_sampler("fused", "gaussian")
    with pytest.raises(ValueError, match="argument `sampler`"):
        PerNodeDense(4, 0.3, stir="gaussian", sampler="fused")


@built
def test_auto_takes_fused_on_the_cpu():
    assert fused.on_cpu()  # this machine has no GPU
    assert resolve_sampler("auto", "bernoulli", 4096, 128) == "fused"
    assert resolve_sampler("auto", "partial_gaussian", None, 128) == "fused"
    assert resolve_sampler("auto", "gaussian", 4096, 128) == "local_reparam"
    assert PerNodeDense(8, 0.3).resolved_sampler() == "fused"


def test_without_the_kernel_auto_and_fused_keep_the_other_samplers(monkeypatch):
    monkeypatch.setattr(fused, "_loaded", {"lib": None, "origin": None, "error": "not built (test)"})
    assert not fused.available() and "not built" in fused.kernel_info()["error"]
    assert "not built" in fused.describe()
    for name in ("auto", "fused"):
        assert resolve_sampler(name, "partial_gaussian", 4096, 128) == "partial_reparam"
        assert resolve_sampler(name, "bernoulli", None, 128) == "chunked"
    layer = PerNodeDense(4, 0.3, sampler="fused", seed=0)
    assert layer.resolved_sampler() == "chunked"
    assert to_numpy(layer(np.ones((2, 3), "float32"), training=True)).shape == (2, 4)
    with pytest.raises(RuntimeError, match="not available"):
        fused.contract(np.ones((1, 1), "float32"), np.ones((1, 1), "float32"), 1, 0.3)


@built
def test_auto_follows_the_backend_table(monkeypatch):
    monkeypatch.setitem(samplers.AUTO_FUSED, BACKEND, False)
    assert resolve_sampler("auto", "partial_gaussian", 4096, 128) == "partial_reparam"
    assert resolve_sampler("fused", "bernoulli", 4096, 128) == "fused"  # asked for by name


@built
@pytest.mark.skipif(BACKEND != "tensorflow", reason="XLA compilation of a model is TensorFlow's jit_compile")
def test_under_xla_the_exact_samplers_run_instead():
    model = keras.Sequential([keras.Input((5,)), PerNodeDense(4, 0.3, sampler="fused", seed=3), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse", jit_compile=True)
    history = model.fit(np.ones((8, 5), "float32"), np.ones((8, 1), "float32"), epochs=1, verbose=0)
    assert np.all(np.isfinite(history.history["loss"]))
