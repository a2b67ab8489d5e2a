"""`pernode timeit`: epoch times of every variant on one data set's backbone (paper Table IV).

Runs on any Keras backend; TensorFlow is needed only for `--data real` loaders that use it.
Statistics are pure functions (``summarize``, ``add_ratios``); training is in ``time_variant``.
"""

from __future__ import annotations

import math
import statistics
import time
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from typing import Callable, Optional

import numpy as np

from pernode_cli import __version__
from pernode_cli.errors import PernodeError
from pernode_cli.logs import SCHEMA_VERSION
from pernode_cli.variants import PERNODE, VARIANTS, canonical_variant

# name -> (input shape, outputs, backbone, multilabel, training-set size)
SHAPES = {
    "digits": ((8, 8, 1), 10, "cnn", False, 1437),
    "cifar10": ((32, 32, 3), 10, "cnn", False, 50000),
    "speech_commands": ((128, 128, 1), 8, "cnn", False, 5600),
    "rcv1": ((47236,), 25, "mlp", True, 18519),
}

TIMING_COLUMNS = [
    "timestamp", "dataset", "variant", "mean_s", "std_s", "median_s", "min_s", "max_s", "n",
    "warmup_s", "ratio_to_dropout", "peak_memory_bytes", "sampler", "rate", "units", "batch_size",
    "steps_per_epoch", "data", "jit_compile", "backend", "backend_version", "device", "machine",
    "pernode_version", "schema_version",
]


@dataclass
class TimingRecord:
    dataset: str
    variant: str
    mean_s: float
    std_s: float
    median_s: float
    min_s: float
    max_s: float
    n: int
    warmup_s: list
    ratio_to_dropout: Optional[float] = None
    peak_memory_bytes: Optional[int] = None
    sampler: str = ""
    rate: float = 0.0
    units: int = 0
    batch_size: int = 0
    steps_per_epoch: int = 0
    data: str = "synthetic"
    jit_compile: str = ""
    backend: str = ""
    backend_version: str = ""
    device: str = ""
    machine: str = ""
    pernode_version: str = __version__
    schema_version: int = SCHEMA_VERSION
    timestamp: str = ""

    def to_dict(self) -> dict:
        return asdict(self)


def parse_variants(text: str) -> list[str]:
    if text.strip().lower() == "all":
        return list(VARIANTS)
    names = [canonical_variant(v) for v in text.split(",") if v.strip()]
    if not names:
        raise PernodeError("--variants must be 'all' or a comma-separated list of variants.")
    return list(dict.fromkeys(names))


def summarize(epoch_seconds: list[float], warmup: int) -> dict:
    """Statistics of the timed epochs; the first ``warmup`` epochs are reported apart."""
    timed = epoch_seconds[warmup:]
    if not timed:
        raise PernodeError(f"--epochs must exceed --warmup ({warmup}) to leave epochs to time.")
    return {
        "mean_s": statistics.fmean(timed),
        "std_s": statistics.stdev(timed) if len(timed) > 1 else 0.0,
        "median_s": statistics.median(timed),
        "min_s": min(timed),
        "max_s": max(timed),
        "n": len(timed),
        "warmup_s": list(epoch_seconds[:warmup]),
    }


def add_ratios(records: list[TimingRecord]) -> list[TimingRecord]:
    """Ratio of each mean to Dropout's mean on the same data set (None without Dropout)."""
    base = {r.dataset: r.mean_s for r in records if r.variant == "Dropout"}
    for r in records:
        r.ratio_to_dropout = r.mean_s / base[r.dataset] if r.dataset in base else None
    return records


def check_sampler(sampler: Optional[str], variants: list[str]) -> None:
    """A sampler forced on the command line must suit every dynamic PerNode variant timed."""
    if sampler is None:
        return
    from pernode_cli.layers.samplers import compatible

    for v in variants:
        if v in PERNODE and PERNODE[v][1] == "dynamic" and sampler not in compatible(PERNODE[v][0]):
            raise PernodeError(
                f"--sampler {sampler} cannot run {v} (stir {PERNODE[v][0]}); "
                f"use one of {', '.join(compatible(PERNODE[v][0]))}, or time that variant apart."
            )


def needs_loader(dataset: str, data: str) -> bool:
    """Real data, or an .npz whose shapes only its file knows."""
    return data == "real" or dataset not in SHAPES


def validate(dataset, epochs, warmup, batch_size, units, rate, steps_per_epoch, data):
    if dataset not in SHAPES and not str(dataset).endswith(".npz"):
        raise PernodeError(f"Unknown data set {dataset!r}. Use one of {', '.join(SHAPES)} or an .npz path.")
    if data not in ("synthetic", "real"):
        raise PernodeError(f"--data must be synthetic or real; got {data!r}.")
    for name, value in (("epochs", epochs), ("batch-size", batch_size), ("units", units)):
        if value <= 0:
            raise PernodeError(f"--{name} must be a positive integer; got {value}.")
    if warmup < 0 or warmup >= epochs:
        raise PernodeError(f"--warmup must be in [0, --epochs); got {warmup} with --epochs {epochs}.")
    if steps_per_epoch is not None and steps_per_epoch <= 0:
        raise PernodeError(f"--steps-per-epoch must be positive; got {steps_per_epoch}.")
    if not 0 <= rate < 1:
        raise PernodeError(f"--rate must be in [0, 1); got {rate}.")


def _synthetic_batches(shape, n_out, multilabel, batch_size, steps, seed=0):
    """A PyDataset cycling through a few random batches of the data set's exact shapes."""
    import keras

    rng = np.random.default_rng(seed)
    pool = []
    for _ in range(min(steps, 4)):
        x = rng.random((batch_size,) + tuple(shape), dtype=np.float32)
        if multilabel:
            y = (rng.random((batch_size, n_out)) < 0.1).astype("float32")
        else:
            y = np.eye(n_out, dtype="float32")[rng.integers(0, n_out, batch_size)]
        pool.append((x, y))

    class Batches(keras.utils.PyDataset):
        def __len__(self):
            return steps

        def __getitem__(self, i):
            return pool[i % len(pool)]

    return Batches()


def _peak_memory(backend: str, reset: bool = False) -> Optional[int]:
    """Peak bytes on the accelerator where the backend reports it; None on CPU."""
    try:
        if backend == "tensorflow":
            import tensorflow as tf

            if not tf.config.list_physical_devices("GPU"):
                return None
            if reset:
                tf.config.experimental.reset_memory_stats("GPU:0")
                return None
            return int(tf.config.experimental.get_memory_info("GPU:0")["peak"])
        if backend == "torch":
            import torch

            if not torch.cuda.is_available():
                return None
            if reset:
                torch.cuda.reset_peak_memory_stats()
                return None
            return int(torch.cuda.max_memory_allocated())
        if backend == "jax":
            import jax

            dev = jax.devices()[0]
            if dev.platform == "cpu" or reset:
                return None
            stats = dev.memory_stats() or {}
            return int(stats.get("peak_bytes_in_use")) if "peak_bytes_in_use" in stats else None
    except Exception:
        return None
    return None


def time_variant(
    variant: str,
    dataset: str,
    *,
    rate: float,
    units: int,
    batch_size: int,
    epochs: int,
    warmup: int,
    steps_per_epoch: Optional[int],
    data: str,
    data_dir=None,
    seed: int = 0,
    sampler: Optional[str] = None,
    loaded=None,
    on_epoch: Optional[Callable[[int, float], None]] = None,
) -> TimingRecord:
    """Time one variant. ``loaded``: the data set already loaded (real data), so that a
    run over many variants reads it once."""
    import keras

    from pernode_cli.env import backend_name, backend_version, device_name, machine_info
    from pernode_cli.models import build_model, module_sampler

    if needs_loader(dataset, data):
        from pernode_cli.data import load_dataset

        ds = loaded or load_dataset(dataset, data_dir, seed)
        shape, n_out, backbone, multilabel = ds.input_shape, ds.n_outputs, ds.backbone, ds.multilabel
        from pernode_cli.train import _inputs

        steps = steps_per_epoch or math.ceil(ds.x_train.shape[0] / batch_size)
        n = min(ds.x_train.shape[0], steps * batch_size)
        x, y = _inputs(ds.x_train[:n], ds.y_train[:n], batch_size, True, seed)
    else:
        shape, n_out, backbone, multilabel, n_train = SHAPES[dataset]
        steps = steps_per_epoch or math.ceil(n_train / batch_size)
        x, y = _synthetic_batches(shape, n_out, multilabel, batch_size, steps, seed), None
    backend = backend_name()
    keras.utils.set_random_seed(seed)
    model = build_model(shape, n_out, backbone, variant, units, rate, multilabel=multilabel, seed=seed, sampler=sampler)
    loss = "binary_crossentropy" if multilabel else "categorical_crossentropy"
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss=loss)
    ran = module_sampler(model)
    _peak_memory(backend, reset=True)
    times: list[float] = []

    class Clock(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.t0 = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            # Wait for the device before reading the clock (JAX and torch dispatch async).
            keras.ops.convert_to_numpy(self.model.trainable_variables[0])
            times.append(time.perf_counter() - self.t0)
            if on_epoch:
                on_epoch(epoch + 1, times[-1])

    model.fit(x, y, batch_size=batch_size if y is not None else None, epochs=epochs, verbose=0, callbacks=[Clock()])
    stats = summarize(times, warmup)
    return TimingRecord(
        dataset=dataset,
        variant=canonical_variant(variant),
        **stats,
        peak_memory_bytes=_peak_memory(backend),
        sampler=ran,
        rate=rate,
        units=units,
        batch_size=batch_size,
        steps_per_epoch=steps,
        data=data,
        jit_compile=str(getattr(model, "jit_compile", "")),
        backend=backend,
        backend_version=backend_version(backend),
        device=device_name(backend),
        machine=machine_info(),
        timestamp=datetime.now(timezone.utc).isoformat(timespec="seconds"),
    )
