"""The measurements behind `sampler="auto"`: materialised mask against the chunk loop, by width.

    KERAS_BACKEND=torch python benchmarks/sampler_choice.py [--widths 64,256,1024,4096]
        [--batch 128] [--units 128] [--rounds 5] [--steps 3] [--out results.md]

For each input width it builds a module alone, ``Input(d_in) -> PerNodeDense(units)``,
compiled as training compiles it (Adam 1e-3, Keras' default jit setting), in four forms:
the Bernoulli stir with ``sampler="reference"`` (the whole ``(batch, d_in, units)`` mask
drawn at once) and with ``sampler="chunked"`` (the chunk loop), and the partial-Gaussian
stir's ``partial_reparam`` with its choice mask drawn at once and in the chunk loop. After a
warm-up fit of each, every round fits ``steps`` steps of each form in turn (the order
reversed every other round), and a callback times each step. It prints the median step of
each form, the ratio materialised / chunked with a 95% bootstrap interval over rounds
(paired by round), and the largest mask that materialising won: the value for
``pernode_cli.layers.samplers.AUTO_REFERENCE_ELEMENTS`` on this backend and machine.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from datetime import datetime, timezone

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402

from _common import cpu_description, publish, ratio_interval, step_timer  # noqa: E402
from pernode_cli.layers import PerNodeDense  # noqa: E402
from pernode_cli.layers import samplers as samplers_module  # noqa: E402

FORMS = {  # label -> (stir, sampler, materialise the choice mask of partial_reparam)
    "bernoulli reference": ("bernoulli", "reference", None),
    "bernoulli chunked": ("bernoulli", "chunked", None),
    "partial_reparam at once": ("partial_gaussian", "partial_reparam", True),
    "partial_reparam chunked": ("partial_gaussian", "partial_reparam", False),
}
PAIRS = [("bernoulli reference", "bernoulli chunked"), ("partial_reparam at once", "partial_reparam chunked")]


def build(d_in, units, stir, sampler, rate):
    inputs = keras.Input((d_in,))
    outputs = PerNodeDense(units, rate, stir=stir, sampler=sampler, seed=0)(inputs)
    model = keras.Model(inputs, outputs)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="mse")
    return model


def forced(at_once):
    """Context: make ``partial_reparam`` draw its choice mask at once (or in chunks)."""

    class Force:
        def __enter__(self):
            self.saved = dict(samplers_module.AUTO_REFERENCE_ELEMENTS)
            if at_once is not None:
                samplers_module.AUTO_REFERENCE_ELEMENTS[keras.backend.backend()] = (1 << 62) if at_once else 0

        def __exit__(self, *exc):
            samplers_module.AUTO_REFERENCE_ELEMENTS.clear()
            samplers_module.AUTO_REFERENCE_ELEMENTS.update(self.saved)

    return Force()


def measure(d_in, args, log):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(args.batch * args.steps, d_in)).astype("float32")
    y = rng.normal(size=(args.batch * args.steps, args.units)).astype("float32")
    models = {}
    for label, (stir, sampler, at_once) in FORMS.items():
        with forced(at_once):  # the choice is made while tracing, in the warm-up fit
            model = build(d_in, args.units, stir, sampler, args.rate)
            model.fit(x[: args.batch], y[: args.batch], batch_size=args.batch, epochs=1, verbose=0)
        models[label] = (model, at_once)
    rounds = {label: [] for label in models}
    for r in range(args.rounds):
        order = list(models) if r % 2 == 0 else list(reversed(models))
        for label in order:
            model, at_once = models[label]
            timer = step_timer()
            with forced(at_once):  # eager backends decide at every call
                model.fit(x, y, batch_size=args.batch, epochs=1, verbose=0, callbacks=[timer])
            rounds[label].append(timer.times)
    log(f"d_in {d_in}: " + ", ".join(f"{k} {statistics.median(sum(v, [])) * 1e3:.1f} ms" for k, v in rounds.items()))
    return rounds


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--widths", default="64,256,1024,4096")
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--units", type=int, default=128)
    p.add_argument("--rate", type=float, default=0.3)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--steps", type=int, default=3)
    p.add_argument("--out")
    args = p.parse_args(argv)
    start = time.perf_counter()

    def log(msg):
        print(f"[{time.perf_counter() - start:6.0f} s] {msg}", file=sys.stderr, flush=True)

    backend = keras.backend.backend()
    version = __import__(backend).__version__
    load0 = os.getloadavg()[0]
    results = {int(w): measure(int(w), args, log) for w in args.widths.split(",")}
    lines = [
        f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC; {cpu_description()}; {os.cpu_count()} CPUs; "
        f"Keras {keras.__version__}, {backend} {version}; batch {args.batch}, units {args.units}, rate {args.rate}; "
        f"{args.rounds} rounds of {args.steps} steps; 1-minute load {load0:.1f} at start, "
        f"{os.getloadavg()[0]:.1f} at end",
        "",
        "| d_in | mask elements | form | median step | at once / chunked [95% CI] |",
        "|---|---|---|---|---|",
    ]
    limit = {a: 0 for a, _ in PAIRS}
    for d_in, rounds in results.items():
        elements = args.batch * d_in * args.units
        for a, b in PAIRS:
            ma, mb = statistics.median(sum(rounds[a], [])), statistics.median(sum(rounds[b], []))
            lo, hi = ratio_interval(rounds[a], rounds[b])
            if hi < 1.0:
                limit[a] = max(limit[a], elements)
            lines.append(f"| {d_in} | {elements:,} | {a} | {ma * 1e3:.1f} ms | {ma / mb:.2f}x [{lo:.2f}, {hi:.2f}] |")
            lines.append(f"| {d_in} | {elements:,} | {b} | {mb * 1e3:.1f} ms | |")
    lines.append("")
    for a, _ in PAIRS:
        lines.append(f"- largest mask where `{a}` was faster (interval below 1): {limit[a]:,} elements")
    text = "\n".join(lines)
    publish(text, args.out, f"Sampler choice on {backend}")


if __name__ == "__main__":
    main()
