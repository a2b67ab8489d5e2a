import keras
import numpy as np
import pytest

from pernode_cli.errors import PernodeError
from pernode_cli.layers import DropConnectDense, MaskEnsemble, PerNodeDense
from pernode_cli.models import build_model, model_strategy_adder
from pernode_cli.variants import VARIANTS, canonical_variant


@pytest.mark.parametrize(
    "name, expected",
    [("pernodegaussian", "PerNodeGaussian"), ("PerNodeBernoulli_F", "PerNodeBernoulli_Fixed"),
     ("perNodePartialGaussian_fixed", "PerNodePartialGaussian_Fixed"), ("DENSE", "Dense")],
)
def test_variant_names(name, expected):
    assert canonical_variant(name) == expected


def test_unknown_variant_lists_valid_ones():
    with pytest.raises(PernodeError, match="Valid variants: Dropout, GaussianDropout"):
        canonical_variant("SpatialDropout")


@pytest.mark.parametrize("variant", VARIANTS)
def test_fairness_rule(variant):
    module = model_strategy_adder(variant, 16, 0.3, seed=1)
    kinds = [type(lyr) for lyr in module]
    if variant.startswith("PerNode"):
        assert kinds == [PerNodeDense]
        assert module[0].units == 16 and module[0].activation.__name__ == "relu"
        assert module[0].mask == ("fixed" if variant.endswith("_Fixed") else "dynamic")
    elif variant == "DropConnect":
        assert kinds == [DropConnectDense] and module[0].units == 16
    elif variant == "DropConnectWan":
        from pernode_cli.layers import WanDropConnectDense

        assert kinds == [WanDropConnectDense] and module[0].units == 16
    elif variant == "Dense":
        assert kinds == [keras.layers.Dense]
    else:
        regularizer = {"Dropout": keras.layers.Dropout, "GaussianDropout": keras.layers.GaussianDropout,
                       "MaskEnsemble": MaskEnsemble}[variant]
        assert kinds == [regularizer, keras.layers.Dense]
        assert module[1].units == 16 and module[1].activation.__name__ == "relu"
    # The module's trainable size is one Dense(16) on the same input, for every variant.
    inputs = keras.Input((10,))
    h = inputs
    for layer in module:
        h = layer(h)
    trainable = sum(int(np.prod(w.shape)) for w in keras.Model(inputs, h).trainable_weights)
    assert trainable == 10 * 16 + 16


@pytest.mark.parametrize(
    "shape, backbone, flat", [((8, 8, 1), "cnn", 256), ((32, 32, 3), "cnn", 4096), ((47,), "mlp", 256)]
)
def test_backbones(shape, backbone, flat):
    model = build_model(shape, 5, backbone, "Dropout", 32, 0.5, multilabel=backbone == "mlp")
    module_input = next(lyr for lyr in model.layers if isinstance(lyr, keras.layers.Dropout)).input
    assert module_input.shape[-1] == flat
    assert model.output_shape == (None, 5)
    out = model.predict(np.zeros((2,) + shape, "float32"), verbose=0)
    if backbone == "cnn":
        np.testing.assert_allclose(out.sum(axis=1), 1.0, rtol=1e-5)  # softmax
    else:
        assert np.all((out > 0) & (out < 1))
