import numpy as np
import pytest

import keras

from pernode_cli.layers import DropConnectDense
from tests.helpers import assert_mean_close, to_numpy


def _built(d_in, units, rate, seed=0):
    layer = DropConnectDense(units, rate, seed=seed)
    layer.build((None, d_in))
    layer.kernel.assign(np.random.default_rng(0).normal(size=(d_in, units)).astype("float32"))
    return layer


def test_one_mask_shared_by_the_batch():
    d_in, units, rate = 6, 5, 0.5
    layer = _built(d_in, units, rate)
    w = to_numpy(layer.kernel)
    # With x = [I; I] the output rows are the rows of the masked kernel, twice.
    x = np.concatenate([np.eye(d_in), np.eye(d_in)]).astype("float32")
    y = to_numpy(layer(x, training=True))
    np.testing.assert_allclose(y[:d_in], y[d_in:])
    ratio = y[:d_in] / w
    assert np.all(np.isclose(ratio, 0.0) | np.isclose(ratio, 1 / (1 - rate), rtol=1e-5))
    # A new call draws a new mask.
    assert not np.allclose(to_numpy(layer(x, training=True)), y)


def test_mean_preserved_and_drop_fraction():
    d_in, units, rate = 400, 500, 0.3
    layer = _built(d_in, units, rate)
    layer.kernel.assign(np.ones((d_in, units), "float32"))
    y = to_numpy(layer(np.ones((1, d_in), "float32"), training=True))[0]
    # y_j = sum_i m_ij, E = d_in, Var = d_in * rate / (1 - rate), independent over j.
    assert_mean_close(y.reshape(-1, 1), d_in)
    assert abs(y.var() - d_in * rate / (1 - rate)) < 0.2 * d_in * rate / (1 - rate)


def test_inference_uses_plain_kernel():
    layer = _built(7, 3, 0.6)
    x = np.random.default_rng(1).normal(size=(9, 7)).astype("float32")
    np.testing.assert_allclose(to_numpy(layer(x)), x @ to_numpy(layer.kernel), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(to_numpy(_built(7, 3, 0.0)(x, training=True)), x @ to_numpy(layer.kernel),
                               rtol=1e-5, atol=1e-5)


def test_config_and_save(tmp_path):
    inputs = keras.Input((4,))
    model = keras.Model(inputs, DropConnectDense(3, 0.4, activation="relu", seed=2)(inputs))
    x = np.random.default_rng(2).normal(size=(5, 4)).astype("float32")
    model.save(tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras")
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    config = model.layers[-1].get_config()
    assert {"units", "rate", "activation", "use_bias", "kernel_initializer", "seed"} <= set(config)
    assert DropConnectDense.from_config(config).get_config() == config


def test_same_signature_as_pernode_dense():
    import inspect

    from pernode_cli.layers import PerNodeDense

    shared = ["units", "rate", "activation", "use_bias", "kernel_initializer", "seed"]
    params = inspect.signature(DropConnectDense).parameters
    assert [p for p in params if p != "kwargs"] == shared
    pernode = inspect.signature(PerNodeDense).parameters
    for name in shared:
        assert params[name].default == pernode[name].default


def test_kernel_initializer_is_used():
    layer = DropConnectDense(3, 0.5, kernel_initializer="ones")
    layer.build((None, 4))
    np.testing.assert_array_equal(to_numpy(layer.kernel), np.ones((4, 3), "float32"))
    assert layer.get_config()["kernel_initializer"]["class_name"] == "Ones"


def test_gradients_reach_kernel_and_bias():
    inputs = keras.Input((4,))
    layer = DropConnectDense(3, 0.5, seed=0)
    model = keras.Model(inputs, layer(inputs))
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    before = [to_numpy(w).copy() for w in layer.trainable_weights]
    model.train_on_batch(np.ones((8, 4), "float32"), np.full((8, 3), 3.0, "float32"))
    for old, new in zip(before, layer.trainable_weights):
        assert not np.allclose(old, to_numpy(new))


@pytest.mark.parametrize(
    "kwargs, arg",
    [
        ({"units": 0, "rate": 0.5}, "units"),
        ({"units": 3, "rate": 1.0}, "rate"),
        ({"units": 3, "rate": 0.5, "seed": "x"}, "seed"),
        ({"units": 3, "rate": 0.5, "use_bias": 1}, "use_bias"),
        ({"units": 3, "rate": 0.5, "activation": "nope"}, "activation"),
        ({"units": 3, "rate": 0.5, "kernel_initializer": "nope"}, "kernel_initializer"),
        ({"units": 3, "rate": "0.5"}, "rate"),
    ],
)
def test_invalid_arguments(kwargs, arg):
    with pytest.raises(ValueError, match=f"argument `{arg}`"):
        DropConnectDense(**kwargs)


def test_error_wording_is_keras():
    with pytest.raises(ValueError) as info:
        DropConnectDense(3, 1.5)
    assert str(info.value) == (
        "Invalid value received for argument `rate`. Expected a float in [0, 1). Received: rate=1.5"
    )
