"""Layer seeds from the run seed: the mixing function, and noise of runs with nearby seeds
uncorrelated at every lag on every installed backend."""

import importlib.util
import json
import math
import os
import subprocess
import sys

import numpy as np
import pytest

from pernode_cli.seeds import SEED_BITS, layer_seed, overlap_bound, role_code, splitmix64

# Run seeds: consecutive ones (the case the PyTorch backend shifted), and a few others.
RUN_SEEDS = [0, 1, 2, 3, 10, 1000]
# Every variant with a random layer; fixed masks are one draw each (lag 0 only).
DYNAMIC = ["Dropout", "GaussianDropout", "DropConnect", "PerNodeBernoulli", "PerNodePartialGaussian"]
FIXED = ["PerNodeBernoulli_Fixed", "PerNodeGaussian_Fixed", "MaskEnsemble"]
CALLS, MAX_LAG, N_SE = 12, 3, 5.0


def test_splitmix64_matches_the_reference_generator():
    # The reference SplitMix64 seeded with 0 outputs 0xE220A8397B1DCDAF, 0x6E789E6AA1B965F4.
    gamma = 0x9E3779B97F4A7C15
    assert splitmix64(0) == 0xE220A8397B1DCDAF
    assert splitmix64(gamma) == 0x6E789E6AA1B965F4


def test_layer_seed_is_fixed_31_bit_and_role_dependent():
    # Known values: a change of the mixing function would silently change every run's noise.
    assert [layer_seed(s) for s in range(3)] == [1046068081, 957894419, 52598923]
    assert layer_seed(0, "module") == layer_seed(0) != layer_seed(0, "other")
    assert layer_seed(None) is None
    assert role_code("module") == role_code("module") != role_code("fixed")
    seeds = [layer_seed(s, role) for s in range(20000) for role in ("module", "second")]
    assert all(0 <= v < 2**SEED_BITS for v in seeds)
    assert len(set(seeds)) == len(seeds)  # 40,000 values of 2**31: a collision has p = 3.7e-4
    for bad in (-1, 1.5, True, "3"):
        with pytest.raises(ValueError, match="argument `run_seed`"):
            layer_seed(bad)


def test_consecutive_run_seeds_land_far_apart():
    # Mixed seeds of consecutive run seeds behave like independent uniforms on [0, 2**31):
    # P(|S(s + 1) - S(s)| < N) = (2N - 1) / 2**31 for N = 2**24 is 1/64 - 2**-31. Over
    # 200,000 pairs the count is within 5 standard errors of that; without the mixing every
    # pair would be 1 apart.
    n, window = 200_000, 2**24
    mixed = np.array([layer_seed(s) for s in range(n + 1)], dtype=np.int64)
    close = np.abs(np.diff(mixed)) < window
    p = overlap_bound(window)
    assert p == (2 * window - 1) / 2**31
    assert abs(close.mean() - p) <= N_SE * math.sqrt(p * (1 - p) / n)
    assert np.abs(np.diff(mixed)).min() > 0


def test_models_seed_layers_through_the_mixing_function():
    from pernode_cli.models import model_strategy_adder

    for variant in DYNAMIC + FIXED:
        layer = model_strategy_adder(variant, 4, 0.3, seed=5)[0]
        assert layer.seed == layer_seed(5), variant
    assert model_strategy_adder("Dropout", 4, 0.3, seed=None)[0].seed is None


def noise_report(backend_name: str) -> dict:
    """Largest |correlation| / (standard error) between the noise of modules built for
    different run seeds, over all pairs of ``RUN_SEEDS`` and lags ``-MAX_LAG..MAX_LAG`` of
    their sequences of ``CALLS`` training calls, per variant; plus the same for layers
    seeded straight with consecutive ints (the failure the mixing prevents) and for
    ``keras.utils.set_random_seed`` with unseeded layers."""
    import keras

    from pernode_cli.models import model_strategy_adder

    assert keras.backend.backend() == backend_name
    # Ones: every position of a Dropout-like layer's noise has the same distribution.
    x = np.ones((16, 8), "float32")
    # Eager JAX traces the chunk loops again at every call (seconds each): the seeds reach
    # the materialising sampler the same way.
    sampler = "reference" if backend_name == "jax" else None

    def calls(layer, n):
        # DropConnect shares its mask across the batch: one row holds all of its noise.
        rows = 1 if type(layer).__name__ == "DropConnectDense" else len(x)
        out = []
        for _ in range(n):
            y = np.asarray(keras.ops.convert_to_numpy(layer(x, training=True)), dtype="float64")
            base = np.asarray(keras.ops.convert_to_numpy(layer(x, training=False)), dtype="float64")
            out.append((y - base)[:rows].ravel())
        return np.array(out)

    def module(variant, s):
        return model_strategy_adder(variant, 8, 0.5, seed=s, sampler=sampler if "PerNode" in variant else None)[0]

    def fixed_mask(layer):
        layer(x)
        weights = layer.masks if hasattr(layer, "masks") else layer.fixed_mask
        return np.asarray(keras.ops.convert_to_numpy(weights), dtype="float64").ravel()[None, :]

    def worst(sequences):
        """max |r| * sqrt(n) over pairs and lags (|r| sqrt(n) ~ N(0, 1) when independent),
        each position standardised over all runs and calls first (positions of a PerNode
        layer's output differ in variance)."""
        pooled = np.concatenate(sequences)
        scale = pooled.std(axis=0)
        scale[scale == 0] = 1.0
        sequences = [(q - pooled.mean(axis=0)) / scale for q in sequences]
        z = 0.0
        for i in range(len(sequences)):
            for j in range(i + 1, len(sequences)):
                a, b = sequences[i], sequences[j]
                lags = range(-MAX_LAG, MAX_LAG + 1) if len(a) > 1 else [0]
                for lag in lags:
                    u, v = (a[lag:], b[: len(b) - lag]) if lag >= 0 else (a[:lag], b[-lag:])
                    u, v = u.ravel(), v.ravel()
                    r = np.corrcoef(u, v)[0, 1]
                    z = max(z, abs(r) * math.sqrt(len(u)))
        return z

    report = {}
    for variant in DYNAMIC:
        report[variant] = worst([calls(module(variant, s), CALLS) for s in RUN_SEEDS])
    for variant in FIXED:
        report[variant] = worst([fixed_mask(module(variant, s)) for s in RUN_SEEDS])
    report["raw consecutive seeds"] = worst([calls(keras.layers.Dropout(0.5, seed=s), CALLS) for s in (0, 1)])
    unseeded = []
    for s in (0, 1, 2):
        keras.utils.set_random_seed(s)
        unseeded.append(calls(keras.layers.Dropout(0.5), CALLS))
    report["set_random_seed, unseeded layers"] = worst(unseeded)
    return report


_CHILD = (
    "import json, sys\n"
    "from tests.test_seeds import noise_report\n"
    "print('REPORT ' + json.dumps(noise_report(sys.argv[1])))\n"
)


def _report_on(backend_name: str) -> dict:
    import keras

    if keras.backend.backend() == backend_name:
        return noise_report(backend_name)
    env = dict(os.environ, KERAS_BACKEND=backend_name, JAX_PLATFORMS="cpu", TF_CPP_MIN_LOG_LEVEL="3")
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    out = subprocess.run([sys.executable, "-c", _CHILD, backend_name], capture_output=True, text=True,
                         env=env, cwd=root, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    line = next(ln for ln in out.stdout.splitlines() if ln.startswith("REPORT "))
    return json.loads(line[len("REPORT "):])


@pytest.mark.parametrize("backend_name", ["tensorflow", "jax", "torch"])
def test_runs_of_nearby_seeds_draw_uncorrelated_noise(backend_name):
    # Every correlation between two runs' noise sequences (12 training calls of 128 values,
    # lags -3..3) is within 5 standard errors of 0, for every variant with a random layer.
    # Control: layers seeded straight with 0 and 1 repeat each other one call apart on the
    # PyTorch backend (r = 1 at lag 1), which this statistic detects.
    if importlib.util.find_spec(backend_name) is None:
        pytest.skip(f"{backend_name} is not installed")
    report = _report_on(backend_name)
    for name in DYNAMIC + FIXED + ["set_random_seed, unseeded layers"]:
        assert report[name] <= N_SE, (name, report[name])
    if backend_name == "torch":
        assert report["raw consecutive seeds"] > 5 * N_SE  # r = 1 at lag 1: sqrt(11 * 128) = 37.5
    else:
        assert report["raw consecutive seeds"] <= N_SE
