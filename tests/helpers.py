"""Helpers shared by the layer tests: statistical assertions, tensor conversion, gradients."""

from pathlib import Path

import numpy as np


def assert_mean_close(samples, target, n_se=5.0):
    """Sample mean over axis 0 equals ``target`` within ``n_se`` standard errors."""
    samples = np.asarray(samples, dtype="float64")
    se = samples.std(axis=0, ddof=1) / np.sqrt(samples.shape[0])
    diff = np.abs(samples.mean(axis=0) - target)
    assert np.all(diff <= n_se * se + 1e-9), (diff, se)


def assert_variance_close(samples, target, n_se=5.0):
    """Sample variance over axis 0 equals ``target`` within ``n_se`` standard errors.

    The standard error of a sample variance is ``sqrt((m4 - s^4) / n)``, with the fourth
    central moment ``m4`` estimated from the same samples.
    """
    samples = np.asarray(samples, dtype="float64")
    n = samples.shape[0]
    centred = samples - samples.mean(axis=0)
    var = (centred**2).mean(axis=0)
    m4 = (centred**4).mean(axis=0)
    se = np.sqrt(np.maximum(m4 - var**2, 0) / n)
    diff = np.abs(var - target)
    assert np.all(diff <= n_se * se), (var, target, se)


def assert_uncorrelated(a, b, n_se=5.0):
    """Pearson correlation of two sample vectors is within ``n_se / sqrt(n)`` of zero."""
    a = np.asarray(a, dtype="float64")
    b = np.asarray(b, dtype="float64")
    r = np.corrcoef(a, b)[0, 1]
    assert abs(r) <= n_se / np.sqrt(len(a)), r


def to_numpy(t):
    """A backend tensor (or variable) as a NumPy array."""
    from keras import ops

    return np.asarray(ops.convert_to_numpy(t))


def small_chunks(monkeypatch, batch, units, inputs):
    """Make the chunked samplers cut ``inputs`` inputs per chunk for this batch and width."""
    import pernode_cli.layers.chunked as chunked

    monkeypatch.setattr(chunked, "CHUNK_ELEMENTS", batch * units * inputs)


def grad_and_output(layer, x):
    """d sum(y) / dx and y for one training call, on whichever backend runs."""
    import keras

    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        xt = tf.constant(x)
        with tf.GradientTape() as tape:
            tape.watch(xt)
            y = layer(xt, training=True)
            total = tf.reduce_sum(y)
        return tape.gradient(total, xt).numpy(), y.numpy()
    if backend == "jax":
        import jax

        trainable = [v.value for v in layer.trainable_variables]
        non_trainable = [v.value for v in layer.non_trainable_variables]

        def total(xv):
            y, _ = layer.stateless_call(trainable, non_trainable, xv, training=True)
            return y.sum(), y

        grads, y = jax.grad(total, has_aux=True)(x)
        return np.asarray(grads), np.asarray(y)
    import torch

    xt = torch.tensor(x, requires_grad=True)
    y = layer(xt, training=True)
    y.sum().backward()
    return xt.grad.numpy(), y.detach().numpy()


HEAVY_MODULES = ("tensorflow", "keras", "jax", "torch")


def heavy_modules_after(cli_args: list, setup: str = "") -> list:
    """Run `pernode CLI_ARGS` in a fresh interpreter (after ``setup`` code) and return the
    training backends it imported: commands that only read logs must import none."""
    import subprocess
    import sys

    code = (
        "import sys\n" + setup + "from typer.testing import CliRunner\nfrom pernode_cli.cli import app\n"
        f"r = CliRunner().invoke(app, {list(cli_args)!r})\n"
        "assert r.exit_code == 0, r.output\n"
        f"print(','.join(m for m in {HEAVY_MODULES!r} if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return [m for m in out.stdout.strip().split(",") if m]


def installed_copy(package: Path, site: Path, dist: str, version: str, group: str, entry: str) -> Path:
    """``package`` (a folder) on ``site`` with the distribution metadata an install leaves: the
    distribution ``dist`` ``version`` with the entry point ``entry`` (``name = module``) of ``group``."""
    import shutil

    shutil.copytree(package, site / package.name)
    meta = site / f"{dist.replace('-', '_')}-{version}.dist-info"
    meta.mkdir()
    (meta / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n")
    (meta / "entry_points.txt").write_text(f"[{group}]\n{entry}\n")
    (meta / "top_level.txt").write_text(f"{package.name}\n")
    return site


COMMANDS_SCRIPT = '''
import json, sys
from typer.testing import CliRunner
from pernode_cli.cli import app

runner, out = CliRunner(), {}
for key, args in json.loads(sys.argv[1]):
    result = runner.invoke(app, args)
    out[key] = [result.exit_code, result.stdout, result.stderr]
print("\\n" + json.dumps(out))
'''


def run_commands(cwd: Path, pythonpath: str, commands: list, timeout: int = 600) -> tuple:
    """``commands`` (``[(key, [argument, ...])]``) run in order by one fresh pernode process (one
    backend start-up for all of them); ``({key: (exit code, stdout, stderr)}, the process's own
    stderr)``."""
    import json
    import os
    import subprocess
    import sys

    env = dict(os.environ, PYTHONPATH=pythonpath, COLUMNS="300")
    done = subprocess.run([sys.executable, "-c", COMMANDS_SCRIPT, json.dumps([[k, [str(a) for a in args]]
                                                                              for k, args in commands])],
                          cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, done.stderr
    return {k: tuple(v) for k, v in json.loads(done.stdout.splitlines()[-1]).items()}, done.stderr
