"""Registers, when imported, what a researcher brings to a pernode benchmark:

- two variants built from stock Keras layers, each followed by the Dense layer of the
  module (the paper's fairness rule: every module is one Dense(units) plus its noise);
- a data set made with scikit-learn's generator (fixed data, split by the run's seed);
- the small MLP backbone it trains on.

Keras is imported inside the builders, so `pernode list` and `rank` stay light.
"""

import numpy as np

import pernode_cli


@pernode_cli.register_variant("GaussianNoiseDense",
                              description="keras GaussianNoise(stddev = rate) on the module's input, then "
                                          "Dense(units, relu): additive, not multiplicative, noise")
def gaussian_noise(units, rate, seed):
    import keras

    return [keras.layers.GaussianNoise(rate, seed=seed), keras.layers.Dense(units, activation="relu")]


@pernode_cli.register_variant("AlphaDropoutDense",
                              description="keras AlphaDropout(rate), then Dense(units, relu)")
def alpha_dropout(units, rate, seed):
    import keras

    return [keras.layers.AlphaDropout(rate, seed=seed), keras.layers.Dense(units, activation="relu")]


def mlp2(inputs):
    import keras

    h = keras.layers.Dense(64, activation="relu")(inputs)
    return keras.layers.Dense(32, activation="relu")(h)


pernode_cli.register_backbone("mlp2", mlp2, head_units=16, description="Dense 64, Dense 32; head Dense 16",
                              feature_width=lambda shape: 32,
                              params=lambda shape: shape[0] * 64 + 64 + 64 * 32 + 32)


def blobs(data_dir, seed):
    """600 samples of 20 features in 4 classes (fixed data), split 60/20/20 by ``seed``."""
    from sklearn.datasets import make_classification
    from sklearn.model_selection import train_test_split

    x, y = make_classification(n_samples=600, n_features=20, n_informative=8, n_classes=4, random_state=0)
    x = x.astype(np.float32)
    x_rest, x_test, y_rest, y_test = train_test_split(x, y, test_size=0.2, random_state=seed, stratify=y)
    x_train, x_val, y_train, y_val = train_test_split(x_rest, y_rest, test_size=0.25, random_state=seed,
                                                      stratify=y_rest)
    return x_train, y_train, x_val, y_val, x_test, y_test


pernode_cli.register_dataset("blobs", blobs, input_shape=(20,), n_outputs=4, backbone="mlp2", n_train=360,
                             description="scikit-learn make_classification: 600 x 20 features, 4 classes, "
                                         "60/20/20 by seed")
