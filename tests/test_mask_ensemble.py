import numpy as np
import pytest

import keras

from pernode_cli.layers import MaskEnsemble, ensemble_masks
from tests.helpers import to_numpy


@pytest.mark.parametrize("width", [1, 7, 31, 4096])
@pytest.mark.parametrize("rate", [0.0, 0.3, 0.68, 0.9])
@pytest.mark.parametrize("n", [1, 4, 5])
def test_masks_keep_the_right_fraction_and_cover_evenly(width, rate, n):
    masks = ensemble_masks(width, n, rate, seed=0)
    keep = max(1, round((1 - rate) * width))
    assert masks.shape == (n, width)
    assert set(np.unique(masks)) <= {0.0, 1.0}
    np.testing.assert_array_equal(masks.sum(axis=1), keep)
    coverage = masks.sum(axis=0)
    # Every feature is kept by floor or ceil of n * keep / width masks.
    lo, hi = np.floor(n * keep / width), np.ceil(n * keep / width)
    assert coverage.min() >= lo and coverage.max() <= hi
    if n * keep >= width:
        assert coverage.min() >= 1


def test_masks_differ_and_are_seeded():
    a = ensemble_masks(64, 4, 0.5, seed=1)
    assert len({row.tobytes() for row in a}) == 4
    np.testing.assert_array_equal(a, ensemble_masks(64, 4, 0.5, seed=1))
    assert not np.array_equal(a, ensemble_masks(64, 4, 0.5, seed=2))


@pytest.mark.parametrize("width", [1, 7, 31, 4096])
@pytest.mark.parametrize("batch", [1, 3, 128])
def test_training_groups_and_inference(width, batch):
    n, rate = 4, 0.5
    layer = MaskEnsemble(rate, n=n, seed=3)
    layer.build((None, width))
    masks = to_numpy(layer.masks)
    # Rounding to whole features moves the realised fraction by at most half a feature.
    assert abs(layer.drop_fraction - rate) <= 0.5 / width + 1e-6 or width == 1
    x = np.random.default_rng(0).normal(size=(batch, width)).astype("float32")
    y = to_numpy(layer(x, training=True))
    group = (np.arange(batch) * n) // batch
    np.testing.assert_allclose(y, x * masks[group])
    # Inference: the mean mask, the same for a sample alone or among neighbours.
    inf = to_numpy(layer(x, training=False))
    np.testing.assert_allclose(inf, x * masks.mean(axis=0), rtol=1e-6)
    np.testing.assert_allclose(to_numpy(layer(x[-1:], training=False)), inf[-1:], rtol=1e-6)


def test_rank3_and_fit_with_partial_last_batch(tmp_path):
    inputs = keras.Input((5, 7))
    h = MaskEnsemble(0.5, n=4, seed=0)(inputs)
    outputs = keras.layers.Dense(2)(keras.layers.Flatten()(h))
    model = keras.Model(inputs, outputs)
    model.compile(optimizer="adam", loss="mse")
    x = np.random.default_rng(1).normal(size=(10, 5, 7)).astype("float32")
    history = model.fit(x, np.zeros((10, 2), "float32"), batch_size=4, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    model.save(tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras")
    np.testing.assert_array_equal(to_numpy(loaded.layers[1].masks), to_numpy(model.layers[1].masks))
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0))


@pytest.mark.parametrize(
    "kwargs, arg",
    [({"rate": 1.0}, "rate"), ({"rate": 0.5, "n": 0}, "n"), ({"rate": 0.5, "seed": -3}, "seed")],
)
def test_invalid_arguments(kwargs, arg):
    with pytest.raises(ValueError, match=f"argument `{arg}`"):
        MaskEnsemble(**kwargs)
