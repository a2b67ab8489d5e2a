"""The epoch-time runner of `pernode timeit` (paper Table IV).

Every variant is built and compiled first; epochs are then timed in rounds, each round
training every variant for one epoch in a fresh seeded order, so drift of a shared machine
spreads over all variants instead of landing on the one that ran during it. The first
``warmup`` rounds (compilation) are reported apart. Runs on any Keras backend; TensorFlow
is needed only by loaders that use it (``data="real"``).
"""

from __future__ import annotations

import json
import math
import os
import time
from dataclasses import dataclass
from typing import Optional

import keras

from pernode_cli.data import DATASETS, load_dataset
from pernode_cli.logs import CsvLog, LogLock
from pernode_cli.sizing import check_fits
from pernode_cli.models import build_model, check_plugin_parts, module_realised_rate, module_sampler
from pernode_cli.schema import TIMING_COLUMNS, TimingRecord
from pernode_cli.stats.timing import (
    apply_ratios,
    collect_warnings,
    round_order,
    summarize,
)
from pernode_cli.training.callbacks import EpochTimer, utc_now
from pernode_cli.training.environment import environment_stamp, jit_compile_setting, peak_memory
from pernode_cli.training.inputs import SyntheticBatches, fit_batch_size, keras_inputs
from pernode_cli.training.config import TimeitConfig
from pernode_cli.training.run import loss_for

@dataclass
class Contender:
    """One variant, compiled, with its inputs and its clock."""

    variant: str
    model: object
    x: object
    y: object
    timer: EpochTimer
    sampler: str
    realised_rate: float
    peak: Optional[int] = None


def _inputs(config: TimeitConfig, loaded):
    """``(x, y, steps, shape, outputs, backbone, multilabel)`` of the timed epochs."""
    bs = config.batch_size
    if config.needs_loader():
        ds = loaded or load_dataset(config.dataset, config.data_dir, config.seed)
        whole = math.ceil(ds.x_train.shape[0] / bs)
        steps = min(config.steps_per_epoch or whole, whole)  # the steps that run: no more than the data holds
        n = min(ds.x_train.shape[0], steps * bs)
        x, y = keras_inputs(ds.x_train[:n], ds.y_train[:n], bs, True, config.seed)
        return x, y, steps, ds.input_shape, ds.n_outputs, ds.backbone, ds.multilabel
    spec = DATASETS[config.dataset]
    steps = config.steps_per_epoch or math.ceil(spec.n_train / bs)
    x = SyntheticBatches(spec.input_shape, spec.n_outputs, spec.multilabel, bs, steps, config.seed)
    return x, None, steps, spec.input_shape, spec.n_outputs, spec.backbone, spec.multilabel


def _contender(config: TimeitConfig, name: str, inputs, origin: float) -> Contender:
    x, y, _, shape, n_out, backbone, multilabel = inputs
    keras.utils.set_random_seed(config.seed)
    model = build_model(shape, n_out, backbone, name, config.units, config.rate, multilabel=multilabel,
                        seed=config.seed, sampler=config.sampler)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss=loss_for(multilabel), jit_compile=jit_compile_setting())
    return Contender(name, model, x, y, EpochTimer(origin=origin), module_sampler(model),
                     module_realised_rate(model, config.rate))


def _one_epoch(c: Contender, config: TimeitConfig, backend: str) -> float:
    peak_memory(backend, reset=True)
    c.model.fit(c.x, c.y, batch_size=fit_batch_size(c.y, config.batch_size), epochs=1, verbose=0,
                callbacks=[c.timer])
    peak = peak_memory(backend)
    if peak is not None:
        c.peak = max(peak, c.peak or 0)
    return c.timer.seconds[-1]


class TimeitEvents:
    """Hooks for progress output; the default does nothing."""

    def round_start(self, index: int, total: int) -> None: ...

    def epoch(self, variant: str, index: int, seconds: float) -> None: ...

    def round_end(self, index: int, total: int, seconds_left: Optional[float]) -> None:
        """``seconds_left``: estimated from the timed rounds so far (None during warm-up)."""


def load_average() -> Optional[float]:
    try:
        return os.getloadavg()[0]
    except (OSError, AttributeError):  # not every platform has one
        return None


def _run_rounds(config: TimeitConfig, contenders: dict, events: TimeitEvents, stopped=None) -> int:
    """Time rounds until ``config.epochs`` or ``max_minutes``; returns the rounds run.

    ``stopped()`` true (a Ctrl-C or SIGTERM arrived) while a round runs ends the timing with
    the rounds that finished, as ``max_minutes`` does: the unfinished round is dropped, since
    every round must hold one epoch of every variant for the paired ratios."""
    backend, start, timed_start = keras.backend.backend(), time.perf_counter(), None
    done = 0
    try:
        for r in range(config.epochs):
            if r == config.warmup:
                timed_start = time.perf_counter()
            events.round_start(r, config.epochs)
            for name in round_order(config.variants, r, config.seed):
                events.epoch(name, r + 1, _one_epoch(contenders[name], config, backend))
            done = r + 1
            now, left = time.perf_counter(), None
            if timed_start is not None:
                left = (now - timed_start) / (r + 1 - config.warmup) * (config.epochs - r - 1)
            events.round_end(r, config.epochs, left)
            if timed_start is not None and config.max_minutes and now - start >= 60 * config.max_minutes:
                break
    except BaseException:
        if stopped is None or not stopped():
            raise
    for c in contenders.values():  # an interrupted round's epochs are not kept
        del c.timer.seconds[done:], c.timer.offsets[done:]
    return done


def _record(c: Contender, config: TimeitConfig, steps: int, rounds: int, stamp: dict) -> TimingRecord:
    w = config.warmup
    return TimingRecord(
        dataset=config.dataset, variant=c.variant, **summarize(c.timer.seconds, w),
        peak_memory_bytes=c.peak, sampler=c.sampler, rate=config.rate, realised_rate=c.realised_rate,
        units=config.units,
        batch_size=config.batch_size, steps_per_epoch=steps, data=config.data,
        jit_compile=str(getattr(c.model, "jit_compile", "")), timestamp=utc_now(), rounds=rounds,
        epoch_seconds=c.timer.seconds[w:], epoch_offsets_s=[round(t, 4) for t in c.timer.offsets[w:]], **stamp,
    )


def run_timeit(config: TimeitConfig, log=None, events: Optional[TimeitEvents] = None, loaded=None,
               stopped=None) -> list[TimingRecord]:
    """Time every variant of ``config`` in interleaved rounds; append one row per variant to
    ``log`` when given. ``loaded``: the data set already loaded, for ``data="real"``.
    ``stopped``: a callable, true once the user interrupted; the rounds finished by then are
    reported and logged (none when no round after the warm-up finished: ``[]``)."""
    config.validate()
    if log:
        LogLock(log).probe()  # a second writer is refused before any work
    if config.needs_loader() and loaded is None:
        loaded = load_dataset(config.dataset, config.data_dir, config.seed)  # once for all variants
    if loaded is not None:
        check_fits(loaded.input_shape, loaded.backbone, config.units, config.batch_size, loaded.n_outputs)
    spec = loaded if loaded is not None else DATASETS[config.dataset]
    check_plugin_parts(config.variants, spec.backbone, spec.input_shape, config.rate)  # before the log exists
    csv_log = CsvLog(log, TIMING_COLUMNS) if log else None
    try:
        records = _time_all(config, loaded, events or TimeitEvents(), stopped)
        for rec in records if csv_log else []:
            csv_log.append({k: json.dumps(v) if isinstance(v, list) else v for k, v in rec.to_dict().items()})
        return records
    finally:
        if csv_log:
            csv_log.close()


def _time_all(config: TimeitConfig, loaded, events: TimeitEvents, stopped=None) -> list[TimingRecord]:
    inputs = _inputs(config, loaded)
    origin = time.perf_counter()
    contenders = {name: _contender(config, name, inputs, origin) for name in config.variants}
    stamp = dict(environment_stamp(), load_start=load_average())
    rounds = _run_rounds(config, contenders, events, stopped)
    if rounds <= config.warmup:  # interrupted before any round was timed
        return []
    stamp["load_end"] = load_average()
    records = apply_ratios([_record(contenders[n], config, inputs[2], rounds, stamp) for n in config.variants],
                           seed=config.seed)
    for rec in records:
        rec.warnings = collect_warnings(rec, os.cpu_count())
    return records
