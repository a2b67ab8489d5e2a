"""How many configurations, how many seeds: the power of a ranking design, from a pilot. Pure, no I/O.

Input: a pilot tensor ``pilot[c, s, v]``, the metric of variant ``v`` run with seed ``s`` in
configuration ``c`` (``NaN`` where that run is missing; a seed row that is all ``NaN`` was
not run, so configurations may hold different numbers of seeds). The planned design runs
every variant in ``n_configs`` configurations with ``n_seeds`` seeds each; a block is one
configuration with its seeds averaged (the configs design's ``seeds="average"``).

How a simulated design is built (the *alternative*). From the pilot:

- ``m[c, v]``: the mean over the seeds that ran; configurations in which some variant never
  ran are left out of the pool (they cannot make a complete block);
- the two-way decomposition ``m[c, v] = mu_c + tau_v + I[c, v]`` (row, column and
  interaction of the configuration x variant table). The observed variant effects
  ``tau_v`` are removed: in the simulated world no variant differs, except that variant
  ``target`` is shifted by ``delta`` in the better direction (up when ``maximize``);
- seed residuals ``e[c, s, v] = pilot[c, s, v] - m[c, v]``, scaled by ``sqrt(r / (r - 1))``
  (``r`` runs in the cell) so that their variance is the unbiased seed variance.

A simulated block draws a pilot configuration ``c`` with replacement, then ``n_seeds`` seed
rows of residuals with replacement, and is ``mu_c + lam * I[c, v] + mean of the drawn
e[s, v] + shift_v``. Whole seed rows are drawn, so a seed's effect shared by the variants
is kept; they are drawn from the seeds of *every* configuration (``residuals="pooled"``,
the default), which assumes the seed spread is alike across configurations. Drawing them
within the drawn configuration (``residuals="within"``) is the literal two-stage bootstrap,
but it draws from the ``r`` residuals of one cell, which sum to zero: with ``r = 3`` seeds,
2 in 9 draws of 3 give a mean of exactly 0, the simulated block noise is spikier than the
real one at the same variance, and rank tests gain power they do not have. On simulated
logs (t5 seed noise, pilots of 20-200 configurations x 2-3 seeds,
``benchmarks/effects_coverage.py``) ``within`` overstates power by 0.03-0.11 for designs
of 3 seeds at true power 0.40-0.77; ``pooled`` stays within 0.04 of the truth on average,
a little under it at one seed per configuration (a residual of several seeds is closer to
normal than one seed's noise, and rank tests lose power on lighter tails). Residual rows
of cells that ran once carry no spread and are left out of the pool. A missing pilot
run stays missing: the design loses runs at the pilot's rate, and a block without a value
for some variant is dropped, as the ranking drops it.

``lam`` corrects the double counting that resampling both levels causes (Davison and
Hinkley 1997, "Bootstrap methods and their application", section 3.8): the pilot's
interaction table already holds the pilot's seed noise (``sigma_e^2 / r``), and the drawn
seeds add it again. ``lam`` scales ``I`` so that the simulated interaction has the
method-of-moments variance ``sigma_I^2 = SS_I / ((C - 1)(k - 1)) - sigma_e^2 * mean(1 / r)``
(floored at 0), including the ``C / (C - 1)`` a bootstrap of ``C`` rows loses. With one seed
per configuration the seed spread is unknown: ``I`` then holds all block-level noise at one
seed, and only ``n_seeds = 1`` can be planned.

Tests on each simulated design (level ``alpha``; a test rejects when ``p <= alpha``):

- omnibus: ``block_test(matrix) -> p`` over the ``(blocks, k)`` matrix; default
  ``friedman_p``, Friedman's chi-square p-value exactly as ``scipy.stats.friedmanchisquare``
  gives it (vectorised). Pass another callable (say the ranking's exact or permutation
  p-value) to plan for it; ``vectorized=True`` says it takes a ``(batch, blocks, k)`` stack
  and returns ``(batch,)`` p-values;
- against a control (when ``control`` is given): two-sided Wilcoxon signed-rank tests of
  every other variant against it (``signed_rank_p``: ``scipy.stats.wilcoxon``'s p-value, as
  the ranking runs it, wherever no two ``|d|`` tie), Holm's correction over the ``k - 1``
  comparisons; the design detects the effect when ``target``'s
  adjusted p is at most ``alpha`` and its median difference from the control has the
  improving sign.

Power is the share of ``n_resamples`` simulated designs (default ``N_RESAMPLES`` = 1,000,
seed ``SEED`` = 0; Monte Carlo standard error at most 0.016, 0.013 at power 0.8) that
reject. The designs of different sizes share their draws (the first ``n`` configurations
and seeds of the largest design), so power rises smoothly along the grid.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Optional

import numpy as np

from pernode_cli.errors import PernodeError
from pernode_cli.stats.arguments import check_count
from pernode_cli.stats.arguments import invalid_argument as _invalid
from pernode_cli.stats.rows import Record

N_RESAMPLES = 1_000
PILOT_RESAMPLES = 20  # bootstrap pilots behind the power interval
PILOT_DESIGNS = 100  # simulated designs per size for each bootstrap pilot
INTERVAL = 0.8  # the power interval's level: its lower end is what a recommendation rests on
SEED = 0
POWER = 0.8
ALPHA = 0.05
N_CONFIGS = (5, 10, 15, 20, 30, 40, 60)
N_SEEDS = (1, 2, 3, 5)
RESIDUALS = ("pooled", "within")
_CHUNK_CELLS = 4_000_000


@dataclass(frozen=True, kw_only=True)
class PilotComponents(Record):
    """What the pilot says about the spread of block values (metric units)."""

    n_configs: int  # configurations in the pilot
    configs_used: int  # of those, the ones where every variant ran at least once
    k: int
    max_seeds: int  # most seeds any configuration ran
    missing_runs: float  # share of (configuration, seed, variant) runs missing among the seeds that ran
    seed_sd: Optional[float]  # pooled seed-to-seed standard deviation; None with one seed everywhere
    interaction_sd: float  # configuration x variant spread, seed noise removed (sigma_I)
    interaction_scale: float  # lam: the factor applied to the pilot's interaction table
    variant_effects: tuple  # tau_v, removed from the simulated world


@dataclass(frozen=True, kw_only=True)
class PowerPlan(Record):
    """Estimated power over a grid of designs and the smallest designs reaching ``power``.

    ``*_power[i][j]`` is the power with ``n_seeds[i]`` seeds per configuration and
    ``n_configs[j]`` configurations. ``*_min_configs[i]`` is the fewest configurations in
    the grid reaching ``power`` with ``n_seeds[i]`` seeds (None: none in the grid does);
    ``*_smallest`` is ``(n_configs, n_seeds)`` reaching it with the fewest runs (configurations
    x seeds; among equals the higher power), None when no design in the grid does.
    """

    delta: float  # metric units
    maximize: bool
    alpha: float
    power: float  # the target, e.g. 0.8
    target: int  # the variant shifted by delta
    control: Optional[int]
    n_configs: tuple
    n_seeds: tuple
    n_resamples: int
    seed: int
    block_test: str  # name of the omnibus test's callable
    omnibus_power: tuple
    omnibus_min_configs: tuple
    omnibus_smallest: Optional[tuple]
    control_power: Optional[tuple] = None  # None without a control
    control_min_configs: Optional[tuple] = None
    control_smallest: Optional[tuple] = None
    pilot: Optional[PilotComponents] = None
    # How sure: the pilot is itself a sample. Its configurations resampled ``pilot_resamples``
    # times, the power re-estimated on each: ``*_power_low``/``*_power_high`` are the
    # ``interval`` percentile bounds; ``*_smallest`` and ``*_min_configs`` rest on the lower
    # bound (a design whose power is likely enough, not only estimated, to reach ``power``),
    # ``*_smallest_estimate`` on the point estimate. No bounds with ``pilot_resamples=0``.
    pilot_resamples: int = 0
    interval: Optional[float] = None
    omnibus_power_low: Optional[tuple] = None
    omnibus_power_high: Optional[tuple] = None
    omnibus_smallest_estimate: Optional[tuple] = None
    control_power_low: Optional[tuple] = None
    control_power_high: Optional[tuple] = None
    control_smallest_estimate: Optional[tuple] = None


# --- tests on stacks of block matrices -------------------------------------------------


def friedman_chi2(matrices) -> np.ndarray:
    """Tie-corrected Friedman chi-square of ``(..., n, k)`` stacks, as scipy computes it."""
    from scipy.stats import rankdata

    m = np.asarray(matrices, dtype="float64")
    n, k = m.shape[-2], m.shape[-1]
    ranks = rankdata(m, axis=-1)
    r_sum = ranks.sum(axis=-2)
    chi2 = 12.0 / (n * k * (k + 1)) * (r_sum**2).sum(axis=-1) - 3.0 * n * (k + 1)
    # sum of t^3 - t over tie groups: a value tied with d others adds d (d + 2)
    d = (m[..., :, None] == m[..., None, :]).sum(axis=-1) - 1
    correction = 1.0 - (d * (d + 2)).sum(axis=(-1, -2)) / (n * (k**3 - k))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(correction > 0, chi2 / np.where(correction > 0, correction, 1.0), 0.0)


def friedman_p(matrices) -> np.ndarray:
    """Friedman chi-square p-value of one ``(n, k)`` matrix or a ``(..., n, k)`` stack; 1 where every
    block is one big tie (``scipy.stats.friedmanchisquare`` gives NaN there)."""
    from scipy.stats import chi2

    m = np.asarray(matrices, dtype="float64")
    p = chi2.sf(friedman_chi2(m), m.shape[-1] - 1)
    return p if np.ndim(p) else float(p)


def holm_adjust(p) -> np.ndarray:
    """Holm step-down adjusted p-values along the last axis (monotone, capped at 1)."""
    p = np.asarray(p, dtype="float64")
    m = p.shape[-1]
    order = np.argsort(p, axis=-1, kind="stable")
    ranked = np.take_along_axis(p, order, axis=-1) * (m - np.arange(m))
    adjusted = np.minimum(1.0, np.maximum.accumulate(ranked, axis=-1))
    out = np.empty_like(adjusted)
    np.put_along_axis(out, order, adjusted, axis=-1)
    return out


def signed_rank_p(d) -> np.ndarray:
    """Two-sided Wilcoxon signed-rank p-values over the last axis of ``d`` (paired differences).

    As ``scipy.stats.wilcoxon`` with its defaults when no two ``|d|`` tie: zeros dropped, the
    exact null distribution up to 50 non-zero values, the normal approximation above. Where
    ``|d|`` ties (a resampled design repeats blocks) it uses the tie-corrected normal
    approximation (scipy's ``method="asymptotic"``), where scipy would switch to a permutation
    test, too slow to run on every simulated design. 1 where every difference is zero.
    """
    from scipy.stats import norm, rankdata

    from pernode_cli.stats.effects import signed_rank_pmf

    d = np.asarray(d, dtype="float64")
    a = np.abs(d)
    nonzero = a > 0
    n = nonzero.sum(axis=-1)
    # Zeros are the smallest |d|, so the ranks among the non-zero values are the ranks among all
    # minus the number of zeros; a value's tie group has max rank - min rank + 1 members.
    ranks = np.where(nonzero, rankdata(a, axis=-1) - (~nonzero).sum(axis=-1, keepdims=True), 0.0)
    group = rankdata(a, method="max", axis=-1) - rankdata(a, method="min", axis=-1) + 1
    r_plus = np.where(d > 0, ranks, 0.0).sum(axis=-1)
    total = n * (n + 1) / 2.0
    stat = np.minimum(r_plus, total - r_plus)
    tie_sum = np.where(nonzero, group**2 - 1, 0).sum(axis=-1)  # t members each add t^2 - 1: t^3 - t
    var = n * (n + 1) * (2 * n + 1) / 24.0 - tie_sum / 48.0
    with np.errstate(invalid="ignore", divide="ignore"):
        z = (stat - total / 2.0) / np.sqrt(var)
    p = np.where(var > 0, np.minimum(1.0, 2.0 * norm.cdf(z)), 1.0)
    exact = (tie_sum == 0) & (n >= 1) & (n <= 50)
    for size in np.unique(n[exact]):
        sel = exact & (n == size)
        cdf = np.cumsum(signed_rank_pmf(int(size)))
        p[sel] = np.minimum(1.0, 2.0 * cdf[stat[sel].astype(np.intp)])
    return p


# --- the pilot -------------------------------------------------------------------------


@dataclass(frozen=True)
class _Pilot:
    row: np.ndarray  # (C,) configuration levels mu_c
    inter: np.ndarray  # (C, k) lam * I
    resid: np.ndarray  # (C, R, k) scaled seed residuals, NaN where a run is missing or not run
    pool: np.ndarray  # (C, R) seed rows that ran, left-packed
    pool_size: np.ndarray  # (C,)
    pooled: np.ndarray  # flat indices of the (C * R) seed rows the pooled residuals draw from
    components: PilotComponents


def _pilot(pilot) -> _Pilot:
    p = np.asarray(pilot, dtype="float64")
    if p.ndim != 3:
        raise _invalid("pilot", "a (configs, seeds, variants) array, NaN where a run is missing",
                       f"array of shape {p.shape}")
    if np.isinf(p).any():
        raise _invalid("pilot", "finite values or NaN", "an array with infinite values")
    n_configs, _, k = p.shape
    present = np.isfinite(p)
    cell_n = present.sum(axis=1)  # (C, k)
    usable = cell_n.min(axis=1) >= 1
    if usable.sum() < 2 or k < 2:
        raise PernodeError(
            f"The pilot (`pilot`) has {int(usable.sum())} configuration(s) in which every one of its {k} variant(s) "
            "ran; planning needs at least 2 such configurations and 2 variants."
        )
    p, present, cell_n = p[usable], present[usable], cell_n[usable]
    ran = present.any(axis=2)  # (C, R): seeds that ran
    c = len(p)
    m = np.nanmean(p, axis=1)
    resid = p - m[:, None, :]
    df_e = int(np.maximum(cell_n - 1, 0).sum())
    seed_var = float(np.nansum(resid**2) / df_e) if df_e > 0 else None
    scale = np.sqrt(np.where(cell_n >= 2, cell_n / np.maximum(cell_n - 1, 1), 0.0))
    resid = resid * scale[:, None, :]
    resid[~ran] = np.nan
    # A run that is its cell's only one has a residual of 0, no spread: its seed row stays out
    # of the pooled residuals (unless no cell ran twice: then every residual is 0 anyway).
    single = (present & (cell_n[:, None, :] == 1)).any(axis=2)
    rows_ok = ran & ~single if df_e > 0 and (ran & ~single).any() else ran
    row, col, grand = m.mean(axis=1, keepdims=True), m.mean(axis=0, keepdims=True), m.mean()
    inter = m - row - col + grand
    ss_i = float((inter**2).sum())
    noise = 0.0 if seed_var is None else seed_var * float((1.0 / cell_n).mean())
    sigma_i2 = max(0.0, ss_i / ((c - 1) * (k - 1)) - noise)
    lam = math.sqrt(sigma_i2 * (k - 1) * c / ss_i) if ss_i > 0 else 0.0
    order = np.argsort(~ran, axis=1, kind="stable")  # seed rows that ran first
    runs = ran.sum()
    components = PilotComponents(
        n_configs=n_configs, configs_used=c, k=k, max_seeds=int(ran.sum(axis=1).max()),
        missing_runs=float(1.0 - present.sum() / (runs * k)),
        seed_sd=None if seed_var is None else math.sqrt(seed_var), interaction_sd=math.sqrt(sigma_i2),
        interaction_scale=lam, variant_effects=tuple(float(t) for t in (col - grand).ravel()),
    )
    return _Pilot(row=row.ravel(), inter=lam * inter, resid=resid, pool=order, pool_size=ran.sum(axis=1),
                  pooled=np.flatnonzero(rows_ok.ravel()),
                  components=components)


# --- simulation ------------------------------------------------------------------------


def _grid(name: str, values) -> tuple:
    items = list(np.atleast_1d(np.asarray(values, dtype=object)))
    if not items or any(isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1 for v in items):
        raise _invalid(name, "a non-empty sequence of positive integers", values)
    return tuple(sorted({int(v) for v in items}))


def _simulate(pl: _Pilot, shift: np.ndarray, rows: int, c_max: int, s_grid: tuple, rng,
              residuals: str = "pooled") -> dict:
    """``{n_seeds: (rows, c_max, k) block values}`` of ``rows`` simulated designs (nested draws)."""
    s_max = s_grid[-1]
    cfg = rng.integers(0, len(pl.row), (rows, c_max))
    if residuals == "pooled":  # seed rows of any configuration
        picks = pl.pooled[rng.integers(0, len(pl.pooled), (rows, c_max, s_max))]
        e = pl.resid.reshape(-1, pl.resid.shape[-1])[picks]  # (rows, c_max, s_max, k)
    else:  # seed rows of the drawn configuration
        size = pl.pool_size[cfg][..., None]
        pick = np.minimum((rng.random((rows, c_max, s_max)) * size).astype(np.intp), size - 1)
        seeds = np.take_along_axis(pl.pool[cfg], pick, axis=-1)
        e = pl.resid[cfg[..., None], seeds]
    ok = np.isfinite(e)
    total = np.cumsum(np.where(ok, e, 0.0), axis=2)
    count = np.cumsum(ok, axis=2)
    base = pl.row[cfg][..., None] + pl.inter[cfg] + shift
    out = {}
    for s in s_grid:
        n = count[:, :, s - 1]
        out[s] = np.where(n > 0, base + total[:, :, s - 1] / np.maximum(n, 1), np.nan)
    return out


def _by_complete(blocks: np.ndarray, fn, fill: float) -> np.ndarray:
    """``fn`` on ``(g, n', k)`` stacks of each design's complete blocks, grouped by their count
    ``n'``; ``fill`` for designs left with fewer than 2 complete blocks."""
    complete = np.isfinite(blocks).all(axis=-1)  # (rows, C)
    counts = complete.sum(axis=1)
    if counts.min() == blocks.shape[1]:
        return np.asarray(fn(blocks), dtype="float64")
    order = np.argsort(~complete, axis=1, kind="stable")
    packed = np.take_along_axis(blocks, order[..., None], axis=1)
    out = np.full(len(blocks), float(fill))
    for n in np.unique(counts[counts >= 2]):
        sel = counts == n
        out[sel] = fn(packed[sel][:, :n])
    return out


def _omnibus_p(blocks, block_test, vectorized: bool) -> np.ndarray:
    def run(stack):
        if vectorized:
            return np.asarray(block_test(stack), dtype="float64").reshape(len(stack))
        return np.array([float(block_test(x)) for x in stack])

    return _by_complete(blocks, run, fill=1.0)


def _control_detects(blocks, control: int, target: int, alpha: float, better: float) -> np.ndarray:
    others = [v for v in range(blocks.shape[-1]) if v != control]
    where = others.index(target)

    def run(stack):
        d = stack[..., others] - stack[..., [control]]  # (g, n, k - 1)
        held = holm_adjust(signed_rank_p(np.moveaxis(d, -2, -1)))[:, where] <= alpha
        return held & (better * np.median(d[..., where], axis=1) > 0)

    return _by_complete(blocks, run, fill=0.0) > 0


def _smallest(power: np.ndarray, n_configs: tuple, n_seeds: tuple, goal: float):
    mins, best = [], None
    for i, s in enumerate(n_seeds):
        hit = np.flatnonzero(power[i] >= goal)
        mins.append(int(n_configs[hit[0]]) if len(hit) else None)
        for j in hit:
            key = (n_configs[j] * s, -power[i, j])
            if best is None or key < best[0]:
                best = (key, (int(n_configs[j]), int(s)))
    return tuple(mins), (None if best is None else best[1])


def check_plan_arguments(delta, alpha, power, n_resamples) -> int:
    """The planner's arguments that do not depend on the pilot; returns ``n_resamples``."""
    if isinstance(delta, bool) or not isinstance(delta, (int, float, np.floating)) or not math.isfinite(delta) \
            or delta < 0:
        raise _invalid("delta", "a finite float >= 0 in metric units", delta)
    for name, value in (("alpha", alpha), ("power", power)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < 1:
            raise _invalid(name, "a float in (0, 1)", value)
    return check_count("n_resamples", n_resamples)


def _power_grid(pl: _Pilot, shift, c_grid, s_grid, n_resamples: int, rng, block_test, vectorized: bool,
                residuals: str, alpha: float, control, target, better) -> tuple:
    """Shares of ``n_resamples`` simulated designs of each size that reject: omnibus, control."""
    k = len(shift)
    omnibus = np.zeros((len(s_grid), len(c_grid)))
    versus = np.zeros_like(omnibus)
    rows = max(1, _CHUNK_CELLS // (c_grid[-1] * s_grid[-1] * k))
    for start in range(0, n_resamples, rows):
        batch = min(rows, n_resamples - start)
        sims = _simulate(pl, shift, batch, c_grid[-1], s_grid, rng, residuals)
        for i, s in enumerate(s_grid):
            for j, c in enumerate(c_grid):
                blocks = sims[s][:, :c]
                omnibus[i, j] += (_omnibus_p(blocks, block_test, vectorized) <= alpha).sum()
                if control is not None:
                    versus[i, j] += _control_detects(blocks, control, target, alpha, better).sum()
    return omnibus / n_resamples, versus / n_resamples


def _pilot_spread(pilot, n_boot: int, designs: int, level: float, rng, **grid) -> Optional[tuple]:
    """Percentile bounds of the power grids over bootstrap pilots (configurations resampled), or
    None when no bootstrap pilot can be planned."""
    p = np.asarray(pilot, dtype="float64")
    usable = np.isfinite(p).sum(axis=1).min(axis=1) >= 1
    p = p[usable]
    grids = []
    for _ in range(n_boot):
        try:
            pl = _pilot(p[rng.integers(0, len(p), len(p))])
        except PernodeError:
            continue
        if pl.components.seed_sd is None and grid["s_grid"][-1] > 1:
            continue  # a draw of single-seed configurations only: no seed spread to resample
        grids.append(_power_grid(pl, n_resamples=designs, rng=rng, **grid))
    if not grids:
        return None
    # Expanded percentiles (Hesterberg 2015, as for the mean's interval): a bootstrap of C
    # configurations is too narrow by about sqrt(C / (C - 1)) and a t quantile's worth.
    from scipy.stats import norm, t

    c = len(p)
    tail = 100 * float(norm.cdf(-math.sqrt(c / (c - 1)) * t.ppf(1 - (1 - level) / 2, c - 1)))
    omnibus = np.array([g[0] for g in grids])
    versus = np.array([g[1] for g in grids])
    bounds = lambda a: (np.percentile(a, tail, axis=0), np.percentile(a, 100 - tail, axis=0))  # noqa: E731
    return bounds(omnibus), bounds(versus)


def _plan_arguments(pl, delta, alpha, power, n_resamples, control, target, block_test, vectorized, n_configs,
                    n_seeds, residuals, pilot_resamples, interval, pilot_designs) -> tuple:
    """``plan_sizes``' arguments checked against the pilot: ``(n_resamples, target, block_test,
    vectorized, c_grid, s_grid)``."""
    k = pl.components.k
    n_resamples = check_plan_arguments(delta, alpha, power, n_resamples)
    pilot_resamples = check_count("pilot_resamples", pilot_resamples, 0)
    pilot_designs = check_count("pilot_designs", pilot_designs)
    if isinstance(interval, bool) or not isinstance(interval, (int, float)) or not 0 < interval < 1:
        raise _invalid("interval", "a float in (0, 1)", interval)
    for name, value in (("control", control), ("target", target)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, np.integer))
                                  or not 0 <= value < k):
            raise _invalid(name, f"a variant index in [0, {k})", value)
    if target is None:
        target = next(v for v in range(k) if v != control)
    if control is not None and target == control:
        raise PernodeError("`target` is the `control`: the variant shifted by `delta` must be another one.")
    if block_test is None:
        block_test, vectorized = friedman_p, True if vectorized is None else vectorized
    elif not callable(block_test):
        raise _invalid("block_test", "a callable matrix -> p-value", block_test)
    vectorized = bool(vectorized)
    if k < 3 and block_test is friedman_p:
        raise PernodeError(f"The pilot has {k} variants; Friedman's omnibus test needs at least 3.")
    c_grid, s_grid = _grid("n_configs", n_configs), _grid("n_seeds", n_seeds)
    if c_grid[0] < 2:
        raise _invalid("n_configs", "sizes of at least 2 configurations", n_configs)
    if pl.components.seed_sd is None and s_grid[-1] > 1:
        raise PernodeError(
            "The pilot (`pilot`) has one run per configuration and variant, so the seed-to-seed spread is unknown: "
            "run at least 2 seeds in some configurations, or plan `n_seeds` = 1 only."
        )
    if residuals not in RESIDUALS:
        raise _invalid("residuals", " or ".join(repr(r) for r in RESIDUALS), residuals)
    return n_resamples, target, block_test, vectorized, c_grid, s_grid


def plan_sizes(pilot, delta: float, maximize: bool, alpha: float = ALPHA, control: Optional[int] = None,
               target: Optional[int] = None, n_configs=N_CONFIGS, n_seeds=N_SEEDS,
               block_test: Optional[Callable] = None, vectorized: Optional[bool] = None, power: float = POWER,
               n_resamples: int = N_RESAMPLES, seed: int = SEED, residuals: str = "pooled",
               pilot_resamples: int = PILOT_RESAMPLES, interval: float = INTERVAL,
               pilot_designs: int = PILOT_DESIGNS) -> PowerPlan:
    """Power to detect ``delta`` (metric units) for every design in ``n_configs`` x ``n_seeds``,
    by resampling the pilot (module docstring), its ``interval`` bounds over ``pilot_resamples``
    bootstrap pilots (``pilot_designs`` simulated designs per size each; 0: no bounds), and the
    smallest designs whose lower bound reaches ``power``.

    ``target``: the variant shifted by ``delta`` (default: the first that is not ``control``).
    ``block_test``: the omnibus p-value of one ``(blocks, k)`` matrix (default ``friedman_p``);
    ``vectorized``: it also takes ``(batch, blocks, k)`` stacks (default: True for ``friedman_p``).
    """
    pl = _pilot(pilot)
    k = pl.components.k
    n_resamples, target, block_test, vectorized, c_grid, s_grid = _plan_arguments(
        pl, delta, alpha, power, n_resamples, control, target, block_test, vectorized, n_configs, n_seeds, residuals,
        pilot_resamples, interval, pilot_designs)
    better = 1.0 if maximize else -1.0
    shift = np.zeros(k)
    shift[target] = better * float(delta)
    rng = np.random.default_rng(seed)
    grid = dict(shift=shift, c_grid=c_grid, s_grid=s_grid, block_test=block_test, vectorized=vectorized,
                residuals=residuals, alpha=alpha, control=control, target=target, better=better)
    omnibus, versus = _power_grid(pl, n_resamples=n_resamples, rng=rng, **grid)
    spread = (_pilot_spread(pilot, pilot_resamples, pilot_designs, float(interval), np.random.default_rng(seed + 1),
                            **grid) if pilot_resamples else None)
    as_rows = lambda a: tuple(tuple(float(x) for x in r) for r in a)  # noqa: E731
    omnibus_low = spread[0][0] if spread else omnibus
    o_min, o_best = _smallest(omnibus_low, c_grid, s_grid, power)
    extra = {}
    if spread:
        extra.update(pilot_resamples=pilot_resamples, interval=float(interval), omnibus_power_low=as_rows(spread[0][0]),
                     omnibus_power_high=as_rows(spread[0][1]),
                     omnibus_smallest_estimate=_smallest(omnibus, c_grid, s_grid, power)[1])
    if control is not None:
        versus_low = spread[1][0] if spread else versus
        c_min, c_best = _smallest(versus_low, c_grid, s_grid, power)
        extra.update(control_power=as_rows(versus), control_min_configs=c_min, control_smallest=c_best)
        if spread:
            extra.update(control_power_low=as_rows(spread[1][0]), control_power_high=as_rows(spread[1][1]),
                         control_smallest_estimate=_smallest(versus, c_grid, s_grid, power)[1])
    return PowerPlan(delta=float(delta), maximize=bool(maximize), alpha=float(alpha), power=float(power),
                     target=int(target), control=None if control is None else int(control), n_configs=c_grid,
                     n_seeds=s_grid, n_resamples=n_resamples, seed=int(seed),
                     block_test=getattr(block_test, "__name__", type(block_test).__name__),
                     omnibus_power=as_rows(omnibus), omnibus_min_configs=o_min, omnibus_smallest=o_best,
                     pilot=pl.components, **extra)
