"""Sampler resolution, chunk seeds and the non-finite rule of the noise scale."""

import numpy as np
import pytest

import keras

from pernode_cli.layers import SAMPLERS, PerNodeDense, register_stir
from pernode_cli.layers import chunked
from pernode_cli.layers.samplers import _sqrt, compatible, resolve_sampler
from tests.helpers import grad_and_output, small_chunks, to_numpy

OLD_CHUNK_OFFSET = 1000003  # the per-chunk shift of the first seed word before the fold-in


def _uniform_stir(shape, rate, seed_generator, dtype):
    a = float(np.sqrt(3 * rate / (1 - rate)))
    return keras.random.uniform(shape, 1 - a, 1 + a, seed=seed_generator, dtype=dtype)


def test_auto_resolves_to_chunked_for_a_registered_stir(monkeypatch):
    from pernode_cli.layers import samplers

    monkeypatch.setitem(samplers.AUTO_FUSED, keras.backend.backend(), False)  # the table without the kernel
    register_stir("test_uniform_auto", _uniform_stir, replace=True)
    layer = PerNodeDense(4, 0.3, stir="test_uniform_auto")
    assert layer.sampler == "auto"
    assert layer.resolved_sampler() == "chunked"
    assert resolve_sampler("auto", "test_uniform_auto") == "chunked"
    assert "auto" in compatible("test_uniform_auto") and "local_reparam" not in compatible("test_uniform_auto")
    assert [resolve_sampler("auto", s) for s in ("bernoulli", "gaussian", "partial_gaussian")] == [
        "chunked",
        "local_reparam",
        "partial_reparam",
    ]
    assert PerNodeDense(4, 0.3, stir="bernoulli", mask="fixed").resolved_sampler() == "fixed"


def test_sampler_signature_has_no_stir_name():
    import inspect

    for fn in (s.fn for s in SAMPLERS.values()):
        assert list(inspect.signature(fn).parameters) == ["x", "kernel", "rate", "stir_fn", "seed_generator"]


def _chunk_noise(seed, monkeypatch, stir="bernoulli"):
    """Per-input noise of one call, chunks of 2 inputs: d sum(y) / dx with W = 1."""
    small_chunks(monkeypatch, batch=64, units=3, inputs=2)
    layer = PerNodeDense(3, 0.5, stir=stir, sampler="chunked", use_bias=False, seed=seed)
    layer.build((None, 8))
    layer.kernel.assign(np.ones((8, 3), "float32"))
    grads, _ = grad_and_output(layer, np.ones((64, 8), "float32"))
    return [grads[:, 2 * c : 2 * c + 2] for c in range(4)]


@pytest.mark.parametrize("stir", ["bernoulli", "gaussian"])
def test_seeds_one_old_multiple_apart_share_no_chunk(stir, monkeypatch):
    # The old chunk seeds added (c + 1) * 1000003 to the first seed word, so seed s + 1000003
    # replayed seed s's chunk c + 1 in its chunk c. Folded-in seeds share nothing.
    a = _chunk_noise(11, monkeypatch, stir)
    b = _chunk_noise(11 + OLD_CHUNK_OFFSET, monkeypatch, stir)
    for ca in a:
        for cb in b:
            assert not np.allclose(ca, cb)
    # Different chunks of one call differ as well, and one seed replays itself.
    assert not any(np.allclose(a[i], a[j]) for i in range(4) for j in range(i))
    for ca, cc in zip(a, _chunk_noise(11, monkeypatch, stir)):
        np.testing.assert_array_equal(ca, cc)


def test_consecutive_calls_draw_new_chunk_seeds():
    gen = keras.random.SeedGenerator(4)
    first, second = to_numpy(chunked.chunk_seeds(gen, 5)), to_numpy(chunked.chunk_seeds(gen, 5))
    assert first.shape == (5, 2) and not np.array_equal(first, second)
    assert len({tuple(row) for row in np.concatenate([first, second])}) == 10


def test_drawing_a_block_leaves_the_layer_state_alone():
    gen = keras.random.SeedGenerator(9)
    before = to_numpy(gen.state)
    source = chunked.MaskSource(lambda shape, g: keras.random.uniform(shape, seed=g), gen)
    seed = keras.ops.convert_to_tensor([5, 6], "int32")
    x = to_numpy(source.block((3, 4), seed))
    np.testing.assert_array_equal(to_numpy(gen.state), before)
    np.testing.assert_array_equal(to_numpy(source.block((3, 4), seed)), x)


@pytest.mark.parametrize(
    "d_in, expected", [(4096, 128), (256, 128), (65536, 128), (40, 40), (7, 7), (129, 65), (1000, 125)]
)
def test_chunk_size_pads_less_than_one_input_per_chunk(d_in, expected, monkeypatch):
    # 2**21 elements at batch 128 and 128 units: a target of 128 inputs, so n = ceil(d_in /
    # 128) chunks of ceil(d_in / n). A 256-wide input is two chunks of 128 (the earlier
    # layout rounded chunks to 124 = 4 * 31 decisions a word and padded it to 372).
    monkeypatch.setattr(chunked, "CHUNK_ELEMENTS", 1 << 21)
    for multiple in (1, 2, 31):  # no longer changes the layout
        assert chunked.chunk_size(128, d_in, 128, multiple) == expected
    assert chunked.chunk_size(None, d_in, 128) == expected  # unknown batch: hint 128
    monkeypatch.setattr(chunked, "CHUNK_ELEMENTS", 3 * 6 * 2)
    assert chunked.chunk_size(3, 8, 6) == 2


@pytest.mark.parametrize("budget", [1, 7, 128, 5000])
def test_chunk_padding_is_below_the_chunk_count(budget, monkeypatch):
    monkeypatch.setattr(chunked, "CHUNK_ELEMENTS", budget)
    for d_in in (1, 2, 31, 127, 256, 4097):
        size = chunked.chunk_size(1, d_in, 1)
        n = -(-d_in // size)
        assert size <= budget and n * size - d_in < n, (d_in, size)


def test_noise_scale_keeps_non_finite_values():
    v = keras.ops.convert_to_tensor(np.array([0.0, 4.0, np.nan, np.inf, 1e-30], "float32"))
    out = to_numpy(_sqrt(v))
    assert out[0] == 0.0 and out[1] == 2.0 and np.isnan(out[2]) and out[3] == np.inf
    assert out[4] == pytest.approx(1e-15)


@pytest.mark.parametrize("stir, sampler", [("gaussian", "local_reparam"), ("partial_gaussian", "partial_reparam")])
def test_nan_variance_gives_nan_output(stir, sampler):
    # x = 1e20 against a zero weight: the mean is finite (x * 0), but x * x overflows
    # float32 and inf * 0 makes the variance NaN. The output must show it; the old
    # sqrt turned the NaN into zero noise and returned the bare mean.
    layer = PerNodeDense(2, 0.5, stir=stir, sampler=sampler, use_bias=False, seed=0)
    layer.build((None, 3))
    w = np.ones((3, 2), "float32")
    w[0, 0] = 0.0
    layer.kernel.assign(w)
    x = np.ones((64, 3), "float32")
    x[:, 0] = 1e20
    y = to_numpy(layer(x, training=True))
    assert np.all(np.isnan(y[:, 0])) if stir == "gaussian" else np.any(np.isnan(y[:, 0]))
    assert np.all(np.isfinite(to_numpy(layer(x, training=False))[:, 0]))


def test_auto_follows_the_measured_table_for_the_backend(monkeypatch):
    from pernode_cli.layers import samplers

    backend = keras.backend.backend()
    monkeypatch.setitem(samplers.AUTO_FUSED, backend, False)  # the table without the fused kernel
    monkeypatch.setitem(samplers.AUTO_REFERENCE_ELEMENTS, backend, 128 * 256 * 128)
    assert resolve_sampler("auto", "bernoulli", 256, 128) == "reference"
    assert resolve_sampler("auto", "bernoulli", 257, 128) == "chunked"
    assert resolve_sampler("auto", "bernoulli", None, 128) == "chunked"  # width unknown
    assert resolve_sampler("auto", "gaussian", 256, 128) == "local_reparam"
    assert resolve_sampler("auto", "partial_gaussian", 256, 128) == "partial_reparam"
    assert resolve_sampler("chunked", "bernoulli", 256, 128) == "chunked"
    # A layer names the sampler that runs once its width is known.
    layer = PerNodeDense(128, 0.3)
    assert layer.resolved_sampler() == "chunked"
    layer.build((None, 256))
    assert layer.resolved_sampler() == "reference"
    monkeypatch.setitem(samplers.AUTO_REFERENCE_ELEMENTS, backend, 0)
    assert layer.resolved_sampler() == "chunked"
    # The shipped table (docs/layers.md): at 128 units, the digits / RCV1 width 256 and the CIFAR-10
    # width 4,096, and Speech Commands' 65,536 (always the chunk loop: memory).
    monkeypatch.undo()
    monkeypatch.setitem(samplers.AUTO_FUSED, backend, False)
    expected = {"tensorflow": ["chunked"] * 3, "jax": ["reference", "chunked", "chunked"],
                "torch": ["reference", "reference", "chunked"]}
    assert [resolve_sampler("auto", "bernoulli", d, 128) for d in (256, 4096, 65536)] == expected[backend]


def test_a_registered_sampler_serves_existing_variants_and_auto_picks_it_by_priority():
    from pernode_cli import register_sampler
    from pernode_cli.catalog import catalog
    from pernode_cli.layers import samplers
    from pernode_cli.models import build_model, module_sampler

    saved = samplers.SAMPLERS.snapshot()
    try:
        def doubled_reference(x, kernel, rate, stir_fn, seed_generator):
            return samplers.reference_sampler(x, kernel, rate, stir_fn, seed_generator)

        register_sampler("plugin_ref", doubled_reference, stirs=("bernoulli",), auto=lambda stir, d, u: True,
                         priority=99, description="a plugin's sampler")
        assert resolve_sampler("auto", "bernoulli", 256, 128) == "plugin_ref"
        assert resolve_sampler("auto", "gaussian", 256, 128) == "local_reparam"  # not exact for that stir
        model = build_model((8, 8, 1), 10, "cnn", "PerNodeBernoulli", 4, 0.3, seed=0)
        assert module_sampler(model) == "plugin_ref"
        assert {"name": "plugin_ref", "description": "a plugin's sampler"}.items() <= next(
            r for r in catalog("samplers") if r["name"] == "plugin_ref").items()
        with pytest.raises(ValueError, match="already registered"):
            register_sampler("Plugin_Ref", doubled_reference)
        with pytest.raises(ValueError, match="argument `fn`"):
            register_sampler("bad", lambda x: x)
    finally:
        samplers.SAMPLERS.restore(saved)
    assert resolve_sampler("auto", "bernoulli", 256, 128) != "plugin_ref"
