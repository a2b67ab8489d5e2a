"""Monte Carlo inference: the trained model's noise switched on at prediction time.

One wrapper model calls the trained model with ``training=True`` (the backbones have no
BatchNorm, so this only turns the regularizers' noise on) and is compiled once by Keras'
``predict``; the T passes reuse that compiled function. MaskEnsemble rotates which of its
masks each sample gets from pass to pass, so T = n passes visit every mask once.
"""

from __future__ import annotations

import keras
import numpy as np

from pernode_cli.layers import MaskEnsemble


class _NoiseOn(keras.layers.Layer):
    """Calls the wrapped model in training mode whatever mode it is itself called in."""

    def __init__(self, inner, **kwargs):
        super().__init__(**kwargs)
        self.inner = inner

    def call(self, inputs):
        return self.inner(inputs, training=True)



class MCPredictor:
    def __init__(self, model: keras.Model):
        self.model = model
        self.wrapper = keras.Sequential([keras.Input(model.input_shape[1:]), _NoiseOn(model)])
        self.ensembles = [lyr for lyr in model.layers if isinstance(lyr, MaskEnsemble)]

    def _set_member(self, t: int) -> None:
        for layer in self.ensembles:
            layer.member_offset.assign(t % layer.n)

    def predict_passes(self, x, passes: int, batch_size=None) -> np.ndarray:
        """Probabilities of every noisy pass, shape ``(passes, n, outputs)``.

        ``x`` is an array (cut into ``batch_size`` batches) or a Keras PyDataset.
        ``predict_on_batch`` reuses the wrapper's one compiled predict function.
        """
        if isinstance(x, keras.utils.PyDataset):
            batches = (x[i][0] for i in range(len(x)))
        else:
            batches = (x[s : s + batch_size] for s in range(0, len(x), batch_size))
        out = []
        try:
            for batch in batches:
                per_pass = []
                for t in range(passes):
                    self._set_member(t)
                    per_pass.append(np.asarray(self.wrapper.predict_on_batch(batch)))
                out.append(np.stack(per_pass))
        finally:
            self._set_member(0)
        return np.concatenate(out, axis=1)

    def mean(self, x, passes: int, batch_size=None) -> np.ndarray:
        return self.predict_passes(x, passes, batch_size).astype("float64").mean(axis=0)
