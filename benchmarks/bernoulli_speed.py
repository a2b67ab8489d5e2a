"""PerNodeBernoulli's training step against Dropout's, timed side by side in one process.

    python benchmarks/bernoulli_speed.py [--shapes cifar10,speech_commands]
        [--variants Dropout,PerNodeBernoulli,PerNodeBernoulli@0.3] [--rate 0.5]
        [--rounds 5] [--steps cifar10=3,speech_commands=1] [--out results.md]

Builds each variant's model with ``pernode_cli.models.build_model`` (the paper's CNN
backbone: CIFAR-10 input 32x32x3 with 10 outputs, flatten 4,096 -> 128 units; Speech
Commands 128x128x1 with 8 outputs, flatten 65,536 -> 128), compiles it as training does
(Adam 1e-3, Keras' default jit setting) and fits synthetic data at batch 128. After one
warm-up fit per model, every round fits ``steps`` steps of each model in turn, the order
alternating between rounds, so that a machine shared with other work slows all variants
alike; a callback times each step inside ``fit``. Prints the median step time of each
variant and its ratio to Dropout's median in the same run, next to the targets
(PerNodeBernoulli at most 4x Dropout at the CIFAR-10 shape, 5x at Speech Commands).
``VARIANT@RATE`` times a variant at another rate (rate 0.5 takes the one-bit path of the
exact Bernoulli sampler, 31 decisions per random word; a rate such as 0.3 needs 14 bits,
two decisions per word).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from datetime import datetime, timezone

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402

from pernode_cli.layers.bits import realised_rate  # noqa: E402
from pernode_cli.models import build_model, module_sampler  # noqa: E402

SHAPES = {"cifar10": ((32, 32, 3), 10), "speech_commands": ((128, 128, 1), 8)}
TARGETS = {("PerNodeBernoulli", "cifar10"): 4.0, ("PerNodeBernoulli", "speech_commands"): 5.0}
BATCH, UNITS = 128, 128


def parse_steps(spec: str, shapes) -> dict:
    """``N`` for every shape, or per shape: ``cifar10=3,speech_commands=1``."""
    if "=" not in spec:
        return {s: int(spec) for s in shapes}
    table = {k: int(v) for k, v in (item.split("=") for item in spec.split(","))}
    return {s: table.get(s, 1) for s in shapes}


def parse_variants(spec: str, rate: float) -> list[tuple[str, str, float]]:
    """``[(label, variant, rate)]`` from ``Dropout,PerNodeBernoulli@0.3``; Dropout first."""
    out = []
    for item in spec.split(","):
        name, _, r = item.partition("@")
        out.append((item, name, float(r) if r else rate))
    if not out or out[0][1] != "Dropout":
        raise SystemExit("--variants must start with Dropout (the baseline of the ratios)")
    return out


class StepTimer(keras.callbacks.Callback):
    """Records the wall time of every training step of ``fit``."""

    def __init__(self):
        super().__init__()
        self.times, self._start = [], None

    def on_train_batch_begin(self, batch, logs=None):
        self._start = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        self.times.append(time.perf_counter() - self._start)


def build(shape: str, variant: str, rate: float):
    input_shape, n_outputs = SHAPES[shape]
    model = build_model(input_shape, n_outputs, "cnn", variant, UNITS, rate, seed=0)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy")
    return model, module_sampler(model)


def synthetic(shape: str, steps: int):
    input_shape, n_outputs = SHAPES[shape]
    rng = np.random.default_rng(0)
    x = rng.normal(size=(BATCH * steps,) + input_shape).astype("float32")
    return x, rng.integers(0, n_outputs, size=BATCH * steps)


def time_shape(shape: str, variants, rounds: int, steps: int, log) -> dict:
    """Median step time (s) of every variant, interleaved in ``rounds`` rounds."""
    x, y = synthetic(shape, steps)
    models = {}
    for label, name, rate in variants:
        model, sampler = build(shape, name, rate)
        model.fit(x[:BATCH], y[:BATCH], batch_size=BATCH, epochs=1, verbose=0)  # warm-up: traces
        models[label] = (model, sampler, rate)
        log(f"{shape}: built and warmed up {label} (sampler {sampler or '-'})")
    times = {label: [] for label in models}
    for r in range(rounds):
        order = list(models) if r % 2 == 0 else list(reversed(models))
        for label in order:
            timer = StepTimer()
            models[label][0].fit(x, y, batch_size=BATCH, epochs=1, verbose=0, callbacks=[timer])
            times[label].extend(timer.times)
        medians = ", ".join(f"{k} {statistics.median(v) * 1e3:.0f} ms" for k, v in times.items())
        log(f"{shape}: round {r + 1}/{rounds} {medians}")
    return {label: (statistics.median(t), len(t), *models[label][1:]) for label, t in times.items()}


def table(results: dict, variants) -> str:
    lines = [
        "| shape | variant | rate (realised) | sampler | steps | median step | x Dropout | target |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for shape, rows in results.items():
        base = rows[variants[0][0]][0]
        for label, name, _ in variants:
            median, n, sampler, rate = rows[label]
            ratio = median / base
            target = TARGETS.get((name, shape))
            verdict = "" if target is None else f"<= {target:g}x: {'met' if ratio <= target else 'NOT met'}"
            shown = f"{rate:g} ({realised_rate(rate):.6g})" if name == "PerNodeBernoulli" else f"{rate:g}"
            cells = [shape, label, shown, sampler or "-", n, f"{median * 1e3:.0f} ms", f"{ratio:.2f}x", verdict]
            lines.append("| " + " | ".join(str(c) for c in cells) + " |")
    return "\n".join(lines)


def load_average() -> float:
    return os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")


def header(args) -> str:
    backend = keras.backend.backend()
    version = __import__(backend).__version__ if backend in ("tensorflow", "jax", "torch") else "?"
    return (
        f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC; {platform.machine()} {os.cpu_count()} CPUs; "
        f"Keras {keras.__version__}, {backend} {version}; batch {BATCH}, units {UNITS}; "
        f"{args.rounds} rounds, steps {args.steps}; load average {load_average():.1f} at start"
    )


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--shapes", default=",".join(SHAPES))
    p.add_argument("--variants", default="Dropout,PerNodeBernoulli")
    p.add_argument("--rate", type=float, default=0.5)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--steps", default="cifar10=3,speech_commands=1", help="N, or per shape")
    p.add_argument("--out", help="also write the table to this Markdown file")
    args = p.parse_args(argv)
    shapes = args.shapes.split(",")
    unknown = [s for s in shapes if s not in SHAPES]
    if unknown:
        raise SystemExit(f"unknown shape(s) {unknown}; use {sorted(SHAPES)}")
    variants = parse_variants(args.variants, args.rate)
    steps = parse_steps(args.steps, shapes)
    head = header(args)
    start = time.perf_counter()

    def log(msg):
        print(f"[{time.perf_counter() - start:6.0f} s] {msg}", file=sys.stderr, flush=True)

    results = {s: time_shape(s, variants, args.rounds, steps[s], log) for s in shapes}
    elapsed = time.perf_counter() - start
    text = f"{head}, {load_average():.1f} at end; {elapsed:.0f} s in all\n\n{table(results, variants)}"
    print(text)
    if args.out:
        with open(args.out, "w") as f:
            f.write(f"# PerNodeBernoulli vs Dropout, training step\n\n{text}\n")


if __name__ == "__main__":
    main()
