"""PerNode training steps against Dropout's, timed side by side in one process.

    python benchmarks/bernoulli_speed.py [--shapes cifar10,speech_commands]
        [--variants Dropout,PerNodeBernoulli@0.1,...,PerNodeBernoulli@0.7,
                    PerNodePartialGaussian@0.1,...,PerNodePartialGaussian@0.7]
        [--rate 0.5] [--rounds 5] [--steps cifar10=3,speech_commands=1] [--out results.md]

Builds each variant's model with ``pernode_cli.models.build_model`` (the paper's CNN
backbone: CIFAR-10 input 32x32x3 with 10 outputs, flatten 4,096 -> 128 units; Speech
Commands 128x128x1 with 8 outputs, flatten 65,536 -> 128), with the default sampler
(``auto``: the table names the sampler it chose on this backend), compiles it as training
does (Adam 1e-3, Keras' default jit setting) and fits synthetic data at batch 128. After one
warm-up fit per model, every round fits ``steps`` steps of each model in turn, the order
alternating between rounds, so that a machine shared with other work slows all variants
alike; a callback times each step inside ``fit``. Prints the CPU model and its vector
extensions, the 1-minute load at the start and the end, the median step time of each
variant, its ratio to Dropout's median in the same run with a 95% bootstrap interval over
rounds (paired by round: a round's drift cancels), and the targets: at the CIFAR-10 shape
PerNodeBernoulli and PerNodePartialGaussian at most 1.3x Dropout (and never above 2x) at
every rate.
``--primitives`` only times the pieces an exact mask is made of (random words, a field's
AND and compare, a prefix sum, a gather), in ns per element on the running backend.
``VARIANT@RATE`` times a variant at another rate (rate 0.5 takes the one-bit path of the
exact Bernoulli thresholds, 31 decisions per random word; 0.1, 0.3 and 0.7 need 14 or 15
bits, two decisions per word). Runs on any Keras backend (``KERAS_BACKEND``).
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

from _common import cpu_description, publish, ratio_interval, step_timer  # noqa: E402
from pernode_cli.layers.bits import realised_rate  # noqa: E402
from pernode_cli.models import build_model, module_sampler  # noqa: E402
from pernode_cli.training.environment import jit_compile_setting  # noqa: E402

SHAPES = {"cifar10": ((32, 32, 3), 10), "speech_commands": ((128, 128, 1), 8)}
# Targets at the CIFAR-10 shape: <= 1.3x Dropout's training step (at most 2x at every rate).
TARGETS = {("PerNodeBernoulli", "cifar10"): 1.3, ("PerNodePartialGaussian", "cifar10"): 1.3}
CEILING = 2.0
DEFAULT_VARIANTS = ",".join(
    ["Dropout"] + [f"{v}@{r}" for v in ("PerNodeBernoulli", "PerNodePartialGaussian") for r in (0.1, 0.3, 0.5, 0.7)]
)
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


def build(shape: str, variant: str, rate: float):
    input_shape, n_outputs = SHAPES[shape]
    model = build_model(input_shape, n_outputs, "cnn", variant, UNITS, rate, seed=0)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy",
                  jit_compile=jit_compile_setting())
    return model, module_sampler(model)


def synthetic(shape: str, steps: int):
    input_shape, n_outputs = SHAPES[shape]
    rng = np.random.default_rng(0)
    x = rng.normal(size=(BATCH * steps,) + input_shape).astype("float32")
    return x, rng.integers(0, n_outputs, size=BATCH * steps)


def time_shape(shape: str, variants, rounds: int, steps: int, log) -> dict:
    """Step times (s) of every variant, per round, interleaved in ``rounds`` rounds."""
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
            timer = step_timer()
            models[label][0].fit(x, y, batch_size=BATCH, epochs=1, verbose=0, callbacks=[timer])
            times[label].append(timer.times)
        medians = ", ".join(f"{k} {statistics.median(sum(v, [])) * 1e3:.0f} ms" for k, v in times.items())
        log(f"{shape}: round {r + 1}/{rounds} {medians}")
    return {label: (t, *models[label][1:]) for label, t in times.items()}


def table(results: dict, variants) -> str:
    lines = [
        "| shape | variant | rate (realised) | sampler | steps | median step | x Dropout [95% CI] | target |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for shape, rows in results.items():
        base_rounds = rows[variants[0][0]][0]
        base = statistics.median(sum(base_rounds, []))
        for label, name, _ in variants:
            rounds, sampler, rate = rows[label]
            median = statistics.median(sum(rounds, []))
            ratio = median / base
            lo, hi = ratio_interval(rounds, base_rounds) if label != variants[0][0] else (1.0, 1.0)
            target = TARGETS.get((name, shape))
            verdict = "" if target is None else (
                f"<= {target:g}x: {'met' if ratio <= target else 'NOT met'}; "
                f"<= {CEILING:g}x: {'met' if ratio <= CEILING else 'NOT met'}")
            shown = (f"{rate:g} ({realised_rate(rate):.6g})" if name.startswith(("PerNodeBernoulli", "PerNodePartial"))
                     else f"{rate:g}")
            n = sum(len(r) for r in rounds)
            cells = [shape, label, shown, sampler or "-", n, f"{median * 1e3:.0f} ms",
                     f"{ratio:.2f}x [{lo:.2f}, {hi:.2f}]", verdict]
            lines.append("| " + " | ".join(str(c) for c in cells) + " |")
    return "\n".join(lines)


def primitives(log, n=1 << 21, repeats=15) -> str:
    """ns per element of the pieces an exact mask is made of, on the running backend (eager
    ops on ``n`` elements, median of ``repeats``): random words against the per-entry ops
    that fewer random bits per decision would need (a prefix sum and a gather)."""
    from keras import ops

    gen = keras.random.SeedGenerator(0)
    words = keras.random.randint((n,), -(2**30), 2**30, dtype="int32", seed=gen)
    flags = ops.cast(ops.less(words, 0), "int32")
    index = keras.random.randint((n,), 0, n // 16, dtype="int32", seed=gen)
    pool = keras.random.randint((n // 16,), -(2**30), 2**30, dtype="int32", seed=gen)
    pieces = {
        "random int32 words (randint)": (
            lambda: keras.random.randint((n,), -(2**30), 2**30, dtype="int32", seed=gen), n),
        "float32 uniforms": (lambda: keras.random.uniform((n,), seed=gen), n),
        "AND + compare (one field)": (lambda: ops.less(ops.bitwise_and(words, 0x7FFF), 1234), n),
        "prefix sum (cumsum)": (lambda: ops.cumsum(flags), n),
        "gather (take)": (lambda: ops.take(pool, index), n),
    }
    lines = ["| piece | ns per element |", "|---|---|"]
    for name, (fn, count) in pieces.items():
        np.asarray(ops.convert_to_numpy(fn()))
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            np.asarray(ops.convert_to_numpy(fn()))
            times.append(time.perf_counter() - t0)
        lines.append(f"| {name} | {statistics.median(times) / count * 1e9:.2f} |")
        log(f"primitives: {name} done")
    return "\n".join(lines)


def load_average() -> float:
    return os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")


def header(args) -> str:
    backend = keras.backend.backend()
    version = __import__(backend).__version__ if backend in ("tensorflow", "jax", "torch") else "?"
    return (
        f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC; {platform.machine()} {os.cpu_count()} CPUs; "
        f"CPU {cpu_description()}; "
        f"Keras {keras.__version__}, {backend} {version}; batch {BATCH}, units {UNITS}; "
        f"{args.rounds} rounds, steps {args.steps}; 1-minute load {load_average():.1f} at start"
    )


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--shapes", default=",".join(SHAPES))
    p.add_argument("--variants", default=DEFAULT_VARIANTS)
    p.add_argument("--rate", type=float, default=0.5)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--steps", default="cifar10=3,speech_commands=1", help="N, or per shape")
    p.add_argument("--out", help="also write the table to this Markdown file")
    p.add_argument("--primitives", action="store_true", help="only time the pieces of a mask (ns per element)")
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

    if args.primitives:
        text = f"{head}\n\n{primitives(log)}\n\n1-minute load {load_average():.1f} at end"
        publish(text, args.out, "Pieces of an exact mask")
        return
    results = {s: time_shape(s, variants, args.rounds, steps[s], log) for s in shapes}
    elapsed = time.perf_counter() - start
    text = f"{head}, {load_average():.1f} at end; {elapsed:.0f} s in all\n\n{table(results, variants)}"
    publish(text, args.out, "PerNode variants vs Dropout, training step")


if __name__ == "__main__":
    main()
