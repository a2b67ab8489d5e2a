"""Pieces the timing benchmarks share: a step timer, the paired bootstrap of a ratio of medians,
and the CPU the numbers were measured on. Imported by the scripts of this folder (run as
``python benchmarks/NAME.py``, so this folder is on ``sys.path``) after they set the backend."""

from __future__ import annotations

import platform
import time

import numpy as np


def step_timer():
    """A Keras callback recording the wall time of every training step of ``fit`` in ``.times``."""
    import keras

    class StepTimer(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.times, self._start = [], None

        def on_train_batch_begin(self, batch, logs=None):
            self._start = time.perf_counter()

        def on_train_batch_end(self, batch, logs=None):
            self.times.append(time.perf_counter() - self._start)

    return StepTimer()


def ratio_interval(rounds_a, rounds_b, draws=2000, seed=0):
    """95% bootstrap interval of median(a) / median(b) over all steps, resampling rounds paired
    (drift shared by a round stays in both)."""
    rng = np.random.default_rng(seed)
    a = [np.asarray(r) for r in rounds_a]
    b = [np.asarray(r) for r in rounds_b]
    ratios = []
    for _ in range(draws):
        pick = rng.integers(0, len(a), size=len(a))
        ratios.append(np.median(np.concatenate([a[i] for i in pick])) / np.median(np.concatenate([b[i] for i in pick])))
    return float(np.quantile(ratios, 0.025)), float(np.quantile(ratios, 0.975))


def cpu_description() -> str:
    """The CPU model and its vector extensions (from /proc/cpuinfo where there is one)."""
    model, flags = platform.processor() or platform.machine(), set()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                if line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
                    break
    except OSError:
        pass
    vector = sorted(f for f in flags if f.startswith(("avx", "sse4", "fma", "amx")))
    return f"{model}; vector extensions: {' '.join(vector) or 'unknown'}"


def publish(text: str, out, title: str) -> None:
    """Print a result and, when ``out`` names a file, keep it there as Markdown under ``title``."""
    print(text)
    if out:
        with open(out, "w") as f:
            f.write(f"# {title}\n\n{text}\n")
