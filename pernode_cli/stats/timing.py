"""Epoch-time statistics of `pernode timeit` (paper Table IV): pure functions, no I/O.

``TimingRecord`` declares every field once; the timing log's columns and the table's
columns are derived from it (``TIMING_COLUMNS``, ``table_fields``).

Epochs are timed in interleaved rounds: each round visits every variant once, in an
order drawn afresh per round (``round_order``), so slow drift of the machine (clock
boost, heat, other jobs) lands on all variants alike. Element ``r`` of two records'
``epoch_seconds`` is then the same round, and ratios to Dropout are bootstrapped over
rounds with both lists resampled together (``paired_ratio_interval``): the drift that
the two variants share cancels in the ratio instead of widening its interval.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import fields
from typing import Optional

import numpy as np

from pernode_cli.errors import PernodeError
from pernode_cli.schema import TimingRecord

# hyperfine's outlier cut-off: |x - median| > 14.826 MAD, ten standard deviations of a
# normal sample; as a modified z-score 0.6745 (x - median) / MAD that is 10. Iglewicz and
# Hoaglin's 3.5 flags some epoch in 9-20 % of clean normal samples of 5-30 epochs
# (simulated): too often for a warning that asks for a rerun. 10 does so in under 4 % at
# 5 epochs and almost never from 10 on, yet flags one epoch 15 % slow among epochs that
# vary by 1 % in 7 of 10 samples of 5 epochs and 9 of 10 samples of 10.
OUTLIER_Z = 10.0
# The MAD is floored at this fraction of the median: it is 0 when more than half the
# epochs are equal, and without a floor any difference at all would count as an outlier.
# With the floor an epoch within 1.5 % of the median (10 / 0.6745 x 0.1 %) never does.
MAD_FLOOR = 1e-3
# Fixed-size epochs on an idle machine vary by a few per cent; 10 % means something
# else competed for the device, and is as large as the gaps Table IV measures.
CV_THRESHOLD = 0.10
REFERENCE = "Dropout"
# A paired bootstrap over fewer rounds than this rests on too few resampling units for its
# 95% interval to mean much (with 2 rounds it has 3 distinct resamples): say so beside it.
MIN_ROUNDS_FOR_INTERVAL = 10


def few_rounds_note(n: int) -> Optional[str]:
    """A caution for intervals over ``n`` timed rounds, or None when there are enough."""
    if n >= MIN_ROUNDS_FOR_INTERVAL:
        return None
    return (f"the 95% intervals rest on {n} timed round(s), too few to mean much (at least "
            f"{MIN_ROUNDS_FOR_INTERVAL} are needed); time more rounds (`epochs`) for a usable interval.")


def table_fields(narrow: bool = False) -> list[tuple[str, str, str]]:
    """``(header, field, format)`` of the table's columns, in record order.

    ``narrow`` keeps the columns that fit an 80-column terminal. Render cells with
    ``cell_text``: the "95% CI" cell joins two fields and its format takes both.
    """
    out = [(f.metadata["header"], f.name, f.metadata["fmt"]) for f in fields(TimingRecord)
           if f.metadata["header"] and (f.metadata["narrow"] or not narrow)]
    at = next(i for i, (_, name, _) in enumerate(out) if name == "mean_s") + 1
    return out[:at] + [STEP_COLUMN] + out[at:]  # the absolute time of a step, beside the ratio


# A column of the table derived from the record: the mean epoch's milliseconds per training step.
STEP_COLUMN = ("ms/step", "step_ms", "{:.1f}")


def step_ms(record: TimingRecord) -> Optional[float]:
    """Milliseconds of one training step: the mean epoch over its steps (None without steps)."""
    if not record.steps_per_epoch or record.mean_s is None:
        return None
    return 1000.0 * record.mean_s / record.steps_per_epoch


def cell_text(record: TimingRecord, name: str) -> str:
    """The table cell of field ``name``: "n/a" for a missing value, memory in MiB."""
    if name == STEP_COLUMN[1]:
        value = step_ms(record)
        return "n/a" if value is None else STEP_COLUMN[2].format(value)
    meta = {f.name: f.metadata for f in fields(TimingRecord)}[name]
    value = getattr(record, name)
    if name == "ratio_ci_low":
        if value is None or record.ratio_ci_high is None:
            return "n/a"
        return meta["fmt"].format(value, record.ratio_ci_high)
    if value is None:
        return "n/a"
    if name == "peak_memory_bytes":
        value = value / 2**20
    if name == "warmup_s":
        return ", ".join(f"{v:.2f}" for v in value) or "-"
    return meta["fmt"].format(value)


def summarize(epoch_seconds: list[float], warmup: int) -> dict:
    """Statistics of the timed epochs; the first ``warmup`` epochs are reported apart.

    The standard deviation of a single timed epoch is undefined: ``None``, not 0.
    """
    timed = epoch_seconds[warmup:]
    if not timed:
        raise PernodeError(f"`epochs` must exceed `warmup` ({warmup}) to leave epochs to time.")
    return {
        "mean_s": statistics.fmean(timed),
        "std_s": statistics.stdev(timed) if len(timed) > 1 else None,
        "median_s": statistics.median(timed),
        "min_s": min(timed),
        "max_s": max(timed),
        "n": len(timed),
        "warmup_s": list(epoch_seconds[:warmup]),
    }


def round_order(variants: list[str], round_index: int, seed: int) -> list[str]:
    """The order in which round ``round_index`` visits ``variants``: a seeded permutation.

    Each round draws from its own generator, seeded from ``(seed, round_index)``, so any
    round's order can be recomputed alone, and no variant always runs first or last.
    """
    if seed < 0 or round_index < 0:
        raise PernodeError(f"`seed` ({seed}) and `round_index` ({round_index}) must be non-negative.")
    rng = np.random.default_rng([seed, round_index])
    return [variants[i] for i in rng.permutation(len(variants))]


def _check_times(name: str, values) -> np.ndarray:
    arr = np.asarray(values, dtype=float)
    if arr.ndim != 1 or arr.size == 0 or not np.all(np.isfinite(arr)) or np.any(arr < 0):
        raise PernodeError(f"`{name}` must be a non-empty list of finite, non-negative seconds.")
    return arr


def paired_ratio_interval(times: list[float], base: list[float], n_boot: int = 2000,
                          level: float = 0.95, seed: int = 0, *,
                          paired: bool = True) -> tuple[float, Optional[float], Optional[float]]:
    """``mean(times) / mean(base)`` and its percentile bootstrap interval over rounds.

    Element ``r`` of both lists is round ``r``; each resample draws round indices once and
    takes them from both lists, keeping the pairs, so drift shared within a round cancels.
    ``paired=False`` resamples the lists independently (only to show what pairing buys).
    One round leaves nothing to resample: the bounds are then None.
    """
    t, b = _check_times("times", times), _check_times("base", base)
    if paired and t.size != b.size:
        raise PernodeError(f"`times` ({t.size}) and `base` ({b.size}) must hold the same rounds.")
    if not 0 < level < 1 or n_boot < 1:
        raise PernodeError(f"`level` ({level}) must lie in (0, 1) and `n_boot` ({n_boot}) be positive.")
    if b.mean() <= 0:
        raise PernodeError("`base` must have a positive mean.")
    ratio = float(t.mean() / b.mean())
    if t.size < 2 or b.size < 2:
        return ratio, None, None
    rng = np.random.default_rng(seed)
    idx_t = rng.integers(0, t.size, size=(n_boot, t.size))
    idx_b = idx_t if paired else rng.integers(0, b.size, size=(n_boot, b.size))
    with np.errstate(divide="ignore", invalid="ignore"):
        boot = t[idx_t].mean(axis=1) / b[idx_b].mean(axis=1)
    alpha = (1 - level) / 2
    low, high = np.quantile(boot, [alpha, 1 - alpha])
    return ratio, float(low), float(high)


def apply_ratios(records: list[TimingRecord], n_boot: int = 2000, level: float = 0.95,
                 seed: int = 0) -> list[TimingRecord]:
    """Ratio of each mean to Dropout's on the same data set, with its paired interval.

    The interval comes from ``paired_ratio_interval`` over the two records' timed
    epochs, which must be the same rounds (equal lengths, two at least); otherwise it
    is None, as are all three fields on a data set without Dropout. Dropout's own row
    gets ratio 1.0 and no interval. The table heads the interval "95% CI", the default
    ``level``. Records are updated in place and returned.
    """
    base = {r.dataset: r for r in records if r.variant == REFERENCE}
    for r in records:
        ref = base.get(r.dataset)
        r.ratio_to_dropout = r.mean_s / ref.mean_s if ref is not None and ref.mean_s > 0 else None
        r.ratio_ci_low = r.ratio_ci_high = r.indistinct_from_dropout = None
        if r.ratio_to_dropout is None or r is ref:
            continue
        if len(r.epoch_seconds) == len(ref.epoch_seconds) >= 2:
            _, low, high = paired_ratio_interval(r.epoch_seconds, ref.epoch_seconds, n_boot, level, seed)
            r.ratio_ci_low, r.ratio_ci_high = low, high
            r.indistinct_from_dropout = bool(low <= 1.0 <= high)
    return records




def modified_zscores(xs: list[float]) -> np.ndarray:
    """``0.6745 (x - median) / MAD`` per value, the MAD floored at ``MAD_FLOOR`` x median.

    0.6745 makes the score read as standard deviations for a normal sample (Iglewicz
    and Hoaglin); the median and MAD ignore the outliers they are meant to expose.
    """
    x = np.asarray(xs, dtype=float)
    if x.size == 0:
        return x
    median = np.median(x)
    mad = max(np.median(np.abs(x - median)), MAD_FLOOR * abs(median))
    if mad == 0:  # all-zero median: any other value is infinitely far out
        return np.where(x == median, 0.0, np.inf)
    return 0.6745 * (x - median) / mad


def outlier_warning(epoch_seconds: list[float], threshold: float = OUTLIER_Z) -> Optional[str]:
    """A message when some epochs' modified z-score exceeds ``threshold``, else None."""
    count = int(np.sum(np.abs(modified_zscores(epoch_seconds)) > threshold))
    if count == 0:
        return None
    return (f"{count} of {len(epoch_seconds)} timed epochs are outliers (modified z-score > {threshold:g}); "
            "rerun on a quiet machine.")


def cv_warning(epoch_seconds: list[float], threshold: float = CV_THRESHOLD) -> Optional[str]:
    """A message when std / mean of the epochs exceeds ``threshold``; None under two epochs."""
    if len(epoch_seconds) < 2:
        return None
    mean = statistics.fmean(epoch_seconds)
    cv = statistics.stdev(epoch_seconds) / mean if mean > 0 else math.inf
    if cv <= threshold:
        return None
    return f"epoch times vary by {cv:.0%} of their mean (over {threshold:.0%}); compare ratios with care."


def load_warning(load_start: Optional[float], load_end: Optional[float], cores: int) -> Optional[str]:
    """A message when the 1-minute load average exceeded ``cores`` at start or end.

    A load above the core count means runnable work queued for the CPU, which feeds the
    device and times the epochs. A reading of None (not available) is skipped.
    """
    if cores < 1:
        raise PernodeError(f"`cores` must be positive; got {cores}.")
    busy = [f"{when} {load:.1f}" for when, load in (("start", load_start), ("end", load_end))
            if load is not None and load > cores]
    if not busy:
        return None
    return f"busy machine: 1-minute load above the {cores} cores ({', '.join(busy)}); rerun on a quiet machine."


# Beyond this factor between two backends' Dropout steps on one machine, ratios are said to rest on
# different baselines (measured on the 2-core CPU: JAX's Dropout step about 4x TensorFlow's).
BASELINE_FACTOR = 2.0


def baseline_warnings(groups) -> list[str]:
    """Where timing runs of several backends on one data set and device time Dropout's step far
    apart, a warning that their ratios rest on different baselines. ``groups``: ``(dataset,
    device, backend, dropout_step_ms)`` per run (``dropout_step_ms`` None: no Dropout row)."""
    by_place: dict = {}
    for dataset, device, backend, ms in groups:
        if ms is not None and ms > 0:
            by_place.setdefault((dataset, device), {}).setdefault(backend, ms)
    out = []
    for (dataset, device), steps in sorted(by_place.items(), key=lambda x: (str(x[0][0]), str(x[0][1]))):
        if len(steps) < 2:
            continue
        fast, slow = min(steps, key=steps.get), max(steps, key=steps.get)
        factor = steps[slow] / steps[fast]
        if factor >= BASELINE_FACTOR:
            out.append(f"{dataset} on {device or 'an unnamed device'}: Dropout's training step takes "
                       f"{steps[slow]:.1f} ms on {slow} against {steps[fast]:.1f} ms on {fast} ({factor:.1f}x), "
                       f"so {slow}'s ratios to Dropout rest on a slower baseline and flatter its variants; "
                       "compare the ms per step.")
    return out


def collect_warnings(record: TimingRecord, cores: Optional[int]) -> list[str]:
    """Every warning for ``record``'s timed epochs and load readings; no load check without ``cores``."""
    found = [outlier_warning(record.epoch_seconds), cv_warning(record.epoch_seconds)]
    if cores is not None:
        found.append(load_warning(record.load_start, record.load_end, cores))
    return [w for w in found if w]
