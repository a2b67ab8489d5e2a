"""Every layer checks its input like keras.layers.Dense: rank >= 2, last axis fixed at build."""

import numpy as np
import pytest

import keras

from pernode_cli.layers import DropConnectDense, MaskEnsemble, PerNodeDense
from tests.helpers import to_numpy

LAYERS = {
    "PerNodeDense": lambda: PerNodeDense(3, 0.5, seed=0),
    "PerNodeDense-fixed": lambda: PerNodeDense(3, 0.5, mask="fixed", seed=0),
    "DropConnectDense": lambda: DropConnectDense(3, 0.5, seed=0),
    "MaskEnsemble": lambda: MaskEnsemble(0.5, n=4, seed=0),
}


def _called(name, width=8):
    layer = LAYERS[name]()
    layer(np.ones((4, width), "float32"))
    return layer


@pytest.mark.parametrize("name", LAYERS)
@pytest.mark.parametrize("training", [False, True])
@pytest.mark.parametrize("width", [5, 11])
def test_wrong_width_is_refused(name, training, width):
    layer = _called(name)
    expected = r"incompatible with the layer: expected axis -1 of input shape to have value 8"
    with pytest.raises(ValueError, match=expected):
        layer(np.ones((4, width), "float32"), training=training)


@pytest.mark.parametrize("name", LAYERS)
@pytest.mark.parametrize("built", [False, True])
def test_rank1_input_is_refused(name, built):
    layer = _called(name) if built else LAYERS[name]()
    with pytest.raises(ValueError, match=r"expected min_ndim=2, found ndim=1"):
        layer(np.ones((8,), "float32"), training=True)


@pytest.mark.parametrize("name", LAYERS)
def test_symbolic_wrong_width_is_refused(name):
    layer = _called(name)
    with pytest.raises(ValueError, match="incompatible with the layer"):
        layer(keras.Input((7,)))


def test_mask_ensemble_narrower_input_no_longer_broadcasts():
    # Before the input spec, a (4, 1) input was broadcast against the 8-wide masks and
    # came back as (4, 8); a matching width still works and keeps its shape.
    layer = _called("MaskEnsemble")
    with pytest.raises(ValueError, match="incompatible with the layer"):
        layer(np.ones((4, 1), "float32"), training=True)
    y = to_numpy(layer(np.ones((4, 3, 8), "float32"), training=True))
    assert y.shape == (4, 3, 8)


@pytest.mark.parametrize("name", LAYERS)
def test_rank3_matching_width_accepted(name):
    layer = _called(name)
    y = to_numpy(layer(np.ones((2, 3, 8), "float32"), training=True))
    assert y.shape[:2] == (2, 3)
