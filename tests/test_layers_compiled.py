"""The chunk loop in every execution mode: TF eager, TF graph (fit), XLA, and jitted JAX memory."""

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import keras

from pernode_cli.layers import DropConnectDense, MaskEnsemble, PerNodeDense, chunked
from tests.helpers import small_chunks, to_numpy

D_IN = 13
MODES = {"eager": {"run_eagerly": True}, "graph": {}, "xla": {"jit_compile": True}}
STIRS = [("bernoulli", "chunked"), ("gaussian", "chunked"), ("partial_gaussian", "partial_reparam")]


def _model(stir, sampler, mode):
    inputs = keras.Input((D_IN,))
    h = PerNodeDense(6, 0.5, stir=stir, sampler=sampler, activation="relu", seed=1)(inputs)
    h = DropConnectDense(5, 0.3, seed=2)(MaskEnsemble(0.25, n=3, seed=3)(h))
    model = keras.Model(inputs, keras.layers.Dense(1)(h))
    if mode == "xla" and keras.backend.backend() != "tensorflow":
        pytest.skip("XLA mode is TensorFlow's jit_compile")
    model.compile(optimizer=keras.optimizers.SGD(0.01), loss="mse", **MODES[mode])
    return model


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("stir, sampler", STIRS)
def test_fit_runs_in_every_mode(stir, sampler, mode, monkeypatch):
    # At most 5 inputs a chunk for batch 16: three chunks of 5 for 13 inputs, two padded.
    small_chunks(monkeypatch, batch=16, units=6, inputs=5)
    model = _model(stir, sampler, mode)
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(40, D_IN)).astype("float32"), rng.normal(size=(40, 1)).astype("float32")
    kernel = model.layers[1].kernel
    before = to_numpy(kernel).copy()
    history = model.fit(x, y, batch_size=16, epochs=2, verbose=0)  # last batch of 8
    assert np.all(np.isfinite(history.history["loss"]))
    assert not np.allclose(before, to_numpy(kernel))
    assert np.all(np.isfinite(model.predict(x, verbose=0)))


_JAX_MEMORY = textwrap.dedent(
    """
    import os, sys
    os.environ["KERAS_BACKEND"] = "jax"
    import jax, jax.numpy as jnp
    from pernode_cli.layers import PerNodeDense

    def temp_bytes(stir, sampler):
        layer = PerNodeDense(128, 0.5, stir=stir, sampler=sampler, seed=0)
        layer.build((None, 4096))
        tv = [v.value for v in layer.trainable_variables]
        ntv = [v.value for v in layer.non_trainable_variables]

        def loss(tv, x):
            y, _ = layer.stateless_call(tv, ntv, x, training=True)
            return jnp.sum(y * y)

        step = jax.jit(jax.value_and_grad(loss, argnums=(0, 1)))  # forward + backward
        x = jax.ShapeDtypeStruct((128, 4096), jnp.float32)
        return step.lower(tv, x).compile().memory_analysis().temp_size_in_bytes

    for stir, sampler in [a.split(":") for a in sys.argv[1:]]:
        print(stir, sampler, temp_bytes(stir, sampler))
    """
)


def test_jitted_chunked_memory_is_one_chunk_on_jax():
    # Batch 128, 4096 -> 128 under jax.jit: the materialised reference needs the whole
    # (batch, d_in, units) mask; the chunk loop must stay a loop (one chunk live).
    pytest.importorskip("jax")
    pairs = ["bernoulli:reference", "bernoulli:chunked", "gaussian:chunked", "partial_gaussian:partial_reparam"]
    env = dict(os.environ, KERAS_BACKEND="jax", JAX_PLATFORMS="cpu")
    out = subprocess.run(
        [sys.executable, "-c", _JAX_MEMORY, *pairs], capture_output=True, text=True, env=env, timeout=600
    )
    assert out.returncode == 0, out.stderr[-3000:]
    temp = {tuple(line.split()[:2]): int(line.split()[2]) for line in out.stdout.splitlines()}
    reference = temp[("bernoulli", "reference")]
    assert reference >= 128 * 4096 * 128 * 4  # the mask is there
    for pair, size in temp.items():
        if pair[1] != "reference":
            assert size <= reference / 4, (pair, size, reference)
            # A handful of (batch, chunk, units) float32 blocks, not the 16 of the whole mask.
            assert size <= 12 * 4 * chunked.CHUNK_ELEMENTS, (pair, size)
