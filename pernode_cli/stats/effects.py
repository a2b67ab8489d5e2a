"""How large, how sure: intervals and effect sizes over a blocks x variants matrix. Pure, no I/O.

Input is the matrix a ranking reads, ``values[i, j]``: the value of variant ``j`` on block
``i`` (a configuration, or a data set), in metric units. Records name variants by their
column index; the caller maps indices to names.

Definitions (Agarwal et al. 2021, "Deep reinforcement learning at the edge of the
statistical precipice", NeurIPS; the rliable library):

- **mean** and **interquartile mean** (IQM, the 25% trimmed mean: ``int(n / 4)`` values cut
  from each end, as ``scipy.stats.trim_mean(x, 0.25)`` and rliable's ``aggregate_iqm``) of
  a variant's block values, with a bootstrap interval. Blocks are resampled with
  replacement; with ``strata`` (one label per block, e.g. the data set when several are
  pooled) they are resampled within their stratum, so every resample keeps the design's
  count of blocks per data set (rliable's stratified bootstrap). The point estimate is the
  statistic over all blocks pooled.
- **probability of improvement** ``P(a better than b)``: rliable's
  ``probability_of_improvement`` averages, over tasks, the Mann-Whitney share of run pairs
  in which X beats Y (ties count 1/2). The ranking's task is the block, with one value per
  variant, so that definition is the share of blocks in which ``a`` beats ``b``, ties
  counting 1/2: the *paired* form. Pairing across blocks (a's value in one configuration
  against b's in another) would mix configuration effects into the comparison, so the
  unpaired form is not offered. "Better" follows ``maximize``.
- **Hodges-Lehmann estimate** of the paired difference ``a - b``: the median of the Walsh
  averages ``(d_i + d_j) / 2``, ``i <= j`` (Hodges and Lehmann 1963), in metric units (its
  sign is not turned by ``maximize``, like ``PairwiseTest.median_difference``).
- **performance profile**: for each variant, the share of blocks in which it reaches each
  score on a grid (value ``>= t`` when maximizing, ``<= t`` when minimizing; rliable's
  score distributions count ``> t``, which differs only at observed values).

Intervals and why (coverage measured in ``benchmarks/effects_coverage.py``):

- mean and IQM: the *expanded percentile* bootstrap (Hesterberg 2015, "What teachers should
  know about the bootstrap", The American Statistician 69(4)): percentiles taken at
  ``Phi(-sqrt(n / (n - 1)) * t(1 - alpha / 2, n - 1))`` instead of ``alpha / 2``. With
  strata the factor and the degrees of freedom are those of the stratified mean (its
  unbiased variance over the bootstrap's, which loses ``(n_h - 1) / n_h`` in each stratum,
  and Welch-Satterthwaite degrees of freedom; ``expanded_tails``). The plain percentile
  interval (rliable's default) is too narrow at the block counts rankings have: 0.90-0.92
  coverage of a 95% interval of the mean at 14 blocks (0.946 expanded), and 0.87 with
  three data sets of 5, 5 and 4 blocks (0.942 expanded). For the IQM the expanded interval
  is conservative (0.96-0.97 at 8-20 blocks). ``method="percentile"`` and ``"bca"`` (as
  ``scipy.stats.bootstrap``) are there too. Default ``N_RESAMPLES`` = 10,000 resamples with
  seed ``SEED`` = 0, so the numbers reproduce; the resamples of all variants share their
  block indices.
- Hodges-Lehmann: the exact distribution-free interval from the signed-rank distribution
  (Hollander, Wolfe and Chicken 2014, section 3.3): ``[W_(c), W_(M + 1 - c)]`` of the
  ``M = n (n + 1) / 2`` sorted Walsh averages, ``c`` the largest count with
  ``2 P(T+ < c) <= alpha`` under the exact null distribution of the Wilcoxon statistic
  ``T+`` (a normal approximation above ``EXACT_MAX_N`` blocks). Its coverage is at least
  the nominal level whenever the differences are independent and symmetric about a
  common centre (the data sets need not share a distribution), and the record carries the
  exact level reached (measured 0.944-0.969 against levels of 0.950-0.969). A percentile
  bootstrap of this median-type statistic is discrete and too narrow: 0.86-0.93 at 6-14
  blocks. With fewer than 6 blocks no 95% interval exists: the bounds are
  infinite (None in JSON).
- probability of improvement: the Wilson score interval (Wilson 1927) on the share of
  blocks, with ``n`` the number of blocks (measured 0.91-0.98 over 8-50 blocks and true
  shares 0.5-0.95). Unlike a bootstrap it does not collapse to a point when one variant
  wins every block: a percentile bootstrap covers 0.33-0.63 at a true share of 0.95 with
  8-20 blocks. Ties (scores of 1/2) have less variance than
  a win or a loss, and stratified sampling less than simple sampling, so with either the
  interval is conservative.
- performance profile: a pointwise Wilson interval at each grid point (not a simultaneous
  band).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field, fields
from typing import Optional, Sequence

import numpy as np

from pernode_cli.errors import PernodeError
from pernode_cli.stats import exact
from pernode_cli.stats.arguments import as_matrix, check_confidence, check_count, invalid_argument
from pernode_cli.stats.exact import Exact, exact_difference, exact_pair, exact_vector
from pernode_cli.stats.rows import Record, not_in_json

N_RESAMPLES = 10_000  # bootstrap resamples of the mean and IQM intervals
POSTERIOR_SHOWN = 3_000  # posterior draws a pair keeps for its figure
SEED = 0
CONFIDENCE = 0.95
INTERVAL_METHODS = ("expanded", "percentile", "bca")
EXACT_MAX_N = 300  # the Hodges-Lehmann interval uses the exact signed-rank distribution up to here
_CHUNK_CELLS = 4_000_000  # resampled values held in memory at once (32 MB of float64)


# --- records ---------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class VariantEffects(Record):
    """One variant's block values: mean and interquartile mean with their intervals."""

    variant: int  # column of the matrix
    n_blocks: int
    mean: float
    mean_ci: tuple  # (low, high), metric units
    iqm: float
    iqm_ci: tuple  # (low, high), metric units


@dataclass(frozen=True, kw_only=True)
class VariantIntervals(Record):
    """``variant_intervals``: every column's ``VariantEffects`` and how the intervals were made."""

    variants: tuple  # VariantEffects, in column order
    confidence: float
    method: str  # expanded | percentile | bca
    n_resamples: int
    seed: int
    n_strata: int  # 1 when the blocks were resampled as one group


def statistic(label: Optional[str] = None, caption: str = "", interval: bool = False):
    """A per-pair statistic, declared once as a field of ``PairStatistics``: a ranking's pairs
    (``stats.ranking.PairTest``) carry it, and the report's effects table shows it as column
    ``label`` (None: not shown; ``interval``: a ``(low, high)`` pair) with ``caption`` in its
    caption (``{metric}`` and ``{rope}`` filled in) wherever some pair has a value."""
    return field(default=None, metadata={"label": label, "caption": caption, "interval": interval})


@dataclass(frozen=True, kw_only=True)
class PairStatistics(Record):
    """How large and how sure the difference between two variants is (None: too few blocks, or
    no ROPE for the Bayesian test). A new pair statistic is a field here and its computation in
    ``pair_effects`` (or ``compare_pairs``)."""

    hodges_lehmann: Optional[float] = statistic(  # of a - b, metric units
        "HL A - B", "Hodges-Lehmann estimate of the paired difference A - B ({metric}) with its exact interval")
    hodges_lehmann_ci: Optional[tuple] = statistic(  # exact signed-rank interval; (-inf, inf) with too few blocks
        "HL 95% CI", interval=True)
    hodges_lehmann_confidence: Optional[float] = statistic()  # the exact level the interval reaches (>= nominal)
    p_improvement: Optional[float] = statistic(  # share of blocks where a is better than b, ties counting 1/2
        "P(A better)", "the probability that A is better than B in a block with its Wilson interval")
    p_improvement_ci: Optional[tuple] = statistic("95% CI", interval=True)  # Wilson score interval
    # Bayesian signed-rank test with a ROPE (pernode_cli.stats.bayes), when a ROPE is given:
    bayes_a_better: Optional[float] = statistic(
        "P(A)", "Bayesian signed-rank test (Benavoli et al. 2017) with a region of practical equivalence of "
        "+-{rope}: P(A practically better), P(equivalent), P(B practically better)")
    bayes_equivalent: Optional[float] = statistic("P(rope)")
    bayes_b_better: Optional[float] = statistic("P(B)")
    bayes_sample: Optional[tuple] = not_in_json()  # posterior draws for the simplex figure (``POSTERIOR_SHOWN``)


PAIR_STATISTICS = tuple(f.name for f in fields(PairStatistics))


@dataclass(frozen=True, kw_only=True)
class _Pair(Record):
    a: int  # column of the matrix
    b: int
    n_blocks: int


@dataclass(frozen=True, kw_only=True)
class PairEffects(PairStatistics, _Pair):
    """How large and how sure the difference between variants ``a`` and ``b`` is."""


@dataclass(frozen=True, kw_only=True)
class PairComparisons(Record):
    """``compare_pairs``: the pairs and the settings behind their numbers."""

    pairs: tuple  # PairEffects
    maximize: bool
    confidence: float
    rope: Optional[float] = None  # metric units; None: no Bayesian test
    prior_strength: Optional[float] = None
    n_samples: Optional[int] = None  # posterior samples of the Bayesian test
    seed: Optional[int] = None


@dataclass(frozen=True, kw_only=True)
class PerformanceProfile(Record):
    """Data for a performance-profile figure: ``shares[j][t]`` is the share of blocks in which
    variant ``j`` reaches ``thresholds[t]``; ``low``/``high`` are pointwise Wilson bounds."""

    thresholds: tuple
    shares: tuple  # per variant (column order), per threshold
    low: tuple
    high: tuple
    maximize: bool
    n_blocks: int
    confidence: float


# --- checks ----------------------------------------------------------------------------


def strata_codes(strata, n_blocks: int) -> np.ndarray:
    """``strata`` labels (one per block, any hashable values) as codes 0..h-1; None is one stratum."""
    if strata is None:
        return np.zeros(n_blocks, dtype=np.intp)
    labels = np.asarray(strata)
    if labels.shape != (n_blocks,):
        raise invalid_argument("strata", f"one label per block ({n_blocks})", f"array of shape {labels.shape}")
    _, codes = np.unique(labels, return_inverse=True)
    return codes.astype(np.intp)


# --- point statistics ------------------------------------------------------------------


def iqm(values, axis: int = -1):
    """Interquartile mean along ``axis``: ``int(n / 4)`` values cut from each end, then the mean."""
    x = np.sort(np.asarray(values, dtype="float64"), axis=axis)
    n = x.shape[axis]
    g = n // 4
    return np.take(x, np.arange(g, n - g), axis=axis).mean(axis=axis)


def _walsh_sums(d: Exact) -> np.ndarray:
    """Twice the Walsh averages, ``d_i + d_j`` (``i <= j``), as exact numerators, sorted."""
    i, j = np.triu_indices(len(d.nums))
    return np.sort(d.nums[i] + d.nums[j])


def walsh_averages(d) -> np.ndarray:
    """The ``n (n + 1) / 2`` Walsh averages ``(d_i + d_j) / 2``, ``i <= j``, sorted: computed
    exactly on the differences' decimals, each rounded once (equal decimals give equal averages)."""
    d = exact_vector(d)
    return exact.to_floats(_walsh_sums(d), 2 * d.den)


def hodges_lehmann(d) -> float:
    """Hodges-Lehmann estimate of the centre of paired differences ``d``: the median of the Walsh
    averages, exact, rounded once."""
    d = exact_vector(d)
    w = _walsh_sums(d)
    m = len(w)
    middle = w[m // 2] * 2 if m % 2 else w[m // 2 - 1] + w[m // 2]
    return float(exact.to_floats(np.array([middle], dtype=w.dtype), 4 * d.den)[0])


def improvement_scores(a, b, maximize: bool) -> np.ndarray:
    """Per block: 1 where ``a`` is better than ``b``, 1/2 where they tie (equal decimals), 0 where
    it is worse."""
    x, y = exact_pair(a, b)
    better = x.nums > y.nums if maximize else x.nums < y.nums
    return better + 0.5 * (x.nums == y.nums)


def probability_of_improvement(a, b, maximize: bool) -> float:
    """Share of blocks in which ``a`` is better than ``b``, ties counting 1/2 (module docstring)."""
    return float(improvement_scores(a, b, maximize).mean())


# --- intervals without resampling ------------------------------------------------------


@functools.lru_cache(maxsize=64)
def signed_rank_pmf(n: int) -> np.ndarray:
    """Exact null distribution of the Wilcoxon signed-rank statistic ``T+`` for ``n`` untied
    non-zero values: ``pmf[t] = P(T+ = t)``, ``t = 0 .. n (n + 1) / 2``."""
    n = check_count("n", n, 0)
    pmf = np.zeros(n * (n + 1) // 2 + 1)
    pmf[0] = 1.0
    top = 0
    for r in range(1, n + 1):  # each rank r joins T+ with probability 1/2
        pmf[r:top + r + 1] = 0.5 * pmf[r:top + r + 1] + 0.5 * pmf[:top + 1]
        pmf[:r] *= 0.5
        top += r
    pmf.flags.writeable = False  # cached: shared by every caller
    return pmf


def _signed_rank_count(n: int, alpha: float) -> tuple[int, float]:
    """Largest ``c`` with ``2 P(T+ < c) <= alpha`` and the level ``1 - 2 P(T+ < c)`` it gives."""
    if n > EXACT_MAX_N:
        from scipy.stats import norm

        mean, sd = n * (n + 1) / 4.0, math.sqrt(n * (n + 1) * (2 * n + 1) / 24.0)
        c = max(0, int(math.floor(mean - norm.ppf(1 - alpha / 2) * sd + 0.5)))
        return c, float(1 - 2 * norm.cdf((c - 0.5 - mean) / sd))
    cdf = np.cumsum(signed_rank_pmf(n))  # cdf[t] = P(T+ <= t)
    c = int(np.searchsorted(2 * cdf, alpha * (1 + 1e-12), side="right"))  # P(T+ <= c - 1) <= alpha / 2
    return c, float(1 - 2 * cdf[c - 1]) if c > 0 else 1.0


def hodges_lehmann_interval(d, confidence: float = CONFIDENCE) -> tuple[float, float, float]:
    """Exact distribution-free interval for the centre of ``d``: ``(low, high, level reached)``.

    ``(-inf, inf, 1.0)`` when no interval at ``confidence`` exists with so few values.
    """
    confidence = check_confidence(confidence)
    d = exact_vector(d)
    c, level = _signed_rank_count(len(d.nums), 1 - confidence)
    if c == 0:
        return -math.inf, math.inf, 1.0
    w = _walsh_sums(d)
    low, high = exact.to_floats(np.array([w[c - 1], w[len(w) - c]], dtype=w.dtype), 2 * d.den)
    return float(low), float(high), level


def wilson_interval(share: float, n: int, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """Wilson score interval for a share observed over ``n`` blocks."""
    from scipy.stats import norm

    z = norm.ppf(0.5 + check_confidence(confidence) / 2)
    p = np.asarray(share, dtype="float64")
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    # the bound at an observed share of 0 or 1 is that share itself (rounding left aside)
    low = np.where(p <= 0, 0.0, np.clip(centre - half, 0.0, 1.0))
    high = np.where(p >= 1, 1.0, np.clip(centre + half, 0.0, 1.0))
    return (float(low), float(high)) if low.ndim == 0 else (low, high)


# --- bootstrap -------------------------------------------------------------------------


def _stratified_draws(codes: np.ndarray, rows: int, rng) -> np.ndarray:
    """``(rows, n)`` block indices: each block position redrawn within its own stratum."""
    n = len(codes)
    out = np.empty((rows, n), dtype=np.intp)
    for h in range(int(codes.max()) + 1):  # one draw per stratum, vectorised over resamples
        members = np.flatnonzero(codes == h)
        out[:, members] = members[rng.integers(0, len(members), (rows, len(members)))]
    return out


def bootstrap_distribution(values, statistic, strata=None, n_resamples: int = N_RESAMPLES,
                           seed: int = SEED) -> np.ndarray:
    """``(n_resamples, k)`` bootstrap replicates of ``statistic`` for every column.

    ``statistic(x, axis)`` reduces ``axis`` (the blocks) of an array, like ``np.mean``;
    blocks are resampled jointly for all columns, within ``strata`` when given.
    """
    m = as_matrix(values)
    n_resamples = check_count("n_resamples", n_resamples)
    codes = strata_codes(strata, len(m))
    rng = np.random.default_rng(seed)
    rows = max(1, _CHUNK_CELLS // m.size)
    out = []
    for start in range(0, n_resamples, rows):
        idx = _stratified_draws(codes, min(rows, n_resamples - start), rng)
        out.append(statistic(m[idx], axis=1))  # (rows, n, k) -> (rows, k)
    return np.concatenate(out, axis=0)


def _jackknife_acceleration(m: np.ndarray, statistic) -> np.ndarray:
    n = len(m)
    keep = ~np.eye(n, dtype=bool)
    jack = np.stack([statistic(m[keep[i]], axis=0) for i in range(n)])  # (n, k)
    u = jack.mean(axis=0) - jack
    den = 6.0 * (u**2).sum(axis=0) ** 1.5
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, (u**3).sum(axis=0) / den, 0.0)


def expanded_tails(values, codes: np.ndarray, confidence: float = CONFIDENCE) -> np.ndarray:
    """Per column, the percentile ``Phi(-kappa * t(1 - alpha / 2, nu))`` of the expanded interval.

    ``kappa^2`` is the unbiased variance of the (stratified) mean over the variance the
    bootstrap gives it, ``nu`` its Welch-Satterthwaite degrees of freedom; with one stratum
    they are Hesterberg's ``n / (n - 1)`` and ``n - 1``. Strata of one block, which every
    resample keeps as they are, add nothing to either.
    """
    from scipy.stats import norm
    from scipy.stats import t as t_dist

    m = as_matrix(values)
    n, alpha = len(m), 1 - check_confidence(confidence)
    if codes.max() == 0:  # one stratum: the same tail for every column
        return np.full(m.shape[1], norm.cdf(-math.sqrt(n / (n - 1)) * t_dist.ppf(1 - alpha / 2, n - 1)))
    v_true, v_boot, v_df = np.zeros(m.shape[1]), np.zeros(m.shape[1]), np.zeros(m.shape[1])
    for h in range(int(codes.max()) + 1):
        x = m[codes == h]
        size = len(x)
        if size < 2:
            continue
        part = size / n**2 * x.var(axis=0, ddof=1)  # (n_h / n)^2 s_h^2 / n_h
        v_true += part
        v_boot += part * (size - 1) / size
        v_df += part**2 / (size - 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        kappa = np.sqrt(np.where(v_boot > 0, v_true / v_boot, 1.0))  # 1: a column without spread
        nu = np.where(v_df > 0, v_true**2 / v_df, n - 1.0)
    return norm.cdf(-kappa * t_dist.ppf(1 - alpha / 2, nu))


def bootstrap_interval(values, statistic, strata=None, confidence: float = CONFIDENCE,
                       method: str = "expanded", n_resamples: int = N_RESAMPLES,
                       seed: int = SEED) -> tuple[np.ndarray, np.ndarray]:
    """Bootstrap interval of ``statistic`` for every column of ``values``: ``(low, high)`` arrays.

    ``method``: ``expanded`` (expanded percentile), ``percentile`` or ``bca`` (module docstring).
    """
    from scipy.stats import norm

    confidence = check_confidence(confidence)
    if method not in INTERVAL_METHODS:
        raise invalid_argument("method", " or ".join(repr(x) for x in INTERVAL_METHODS), method)
    m = as_matrix(values, min_blocks=2)
    codes = strata_codes(strata, len(m))
    n, h = len(m), int(codes.max()) + 1
    if h >= n:
        raise invalid_argument("strata", "at least one stratum with two or more blocks (nothing to resample)",
                       f"{h} strata for {n} blocks")
    boot = bootstrap_distribution(m, statistic, strata, n_resamples, seed)
    alpha = 1 - confidence
    if method == "percentile":
        low, high = np.quantile(boot, [alpha / 2, 1 - alpha / 2], axis=0)
        return low, high
    if method == "expanded":
        tails = expanded_tails(m, codes, confidence)
        if np.all(tails == tails[0]):
            low, high = np.quantile(boot, [tails[0], 1 - tails[0]], axis=0)
            return low, high
        low = np.array([np.quantile(boot[:, j], tails[j]) for j in range(m.shape[1])])
        high = np.array([np.quantile(boot[:, j], 1 - tails[j]) for j in range(m.shape[1])])
        return low, high
    # BCa, as scipy.stats.bootstrap computes it
    theta = statistic(m, axis=0)
    below = ((boot < theta).sum(axis=0) + (boot <= theta).sum(axis=0)) / (2.0 * len(boot))
    edge = 0.5 / len(boot)  # a statistic outside its whole bootstrap distribution: keep z0 finite
    z0 = norm.ppf(np.clip(below, edge, 1 - edge))
    a = _jackknife_acceleration(m, statistic)
    z = norm.ppf([alpha / 2, 1 - alpha / 2])[:, None]
    q = norm.cdf(z0 + (z0 + z) / (1 - a * (z0 + z)))
    low = np.array([np.quantile(boot[:, j], q[0, j]) for j in range(m.shape[1])])
    high = np.array([np.quantile(boot[:, j], q[1, j]) for j in range(m.shape[1])])
    return low, high


# --- matrix-level records --------------------------------------------------------------


def variant_intervals(values, strata=None, confidence: float = CONFIDENCE, method: str = "expanded",
                      n_resamples: int = N_RESAMPLES, seed: int = SEED) -> VariantIntervals:
    """Mean and IQM of every column of ``values`` (blocks x variants) with bootstrap intervals."""
    m = as_matrix(values, min_blocks=2)
    codes = strata_codes(strata, len(m))
    mean_lo, mean_hi = bootstrap_interval(m, np.mean, codes, confidence, method, n_resamples, seed)
    iqm_lo, iqm_hi = bootstrap_interval(m, iqm, codes, confidence, method, n_resamples, seed)
    means, iqms = m.mean(axis=0), iqm(m, axis=0)
    rows = tuple(
        VariantEffects(variant=j, n_blocks=len(m), mean=float(means[j]),
                       mean_ci=(float(mean_lo[j]), float(mean_hi[j])), iqm=float(iqms[j]),
                       iqm_ci=(float(iqm_lo[j]), float(iqm_hi[j])))
        for j in range(m.shape[1])
    )
    return VariantIntervals(variants=rows, confidence=check_confidence(confidence), method=method,
                            n_resamples=int(n_resamples), seed=int(seed), n_strata=int(codes.max()) + 1)


def pair_effects(a, b, maximize: bool, confidence: float = CONFIDENCE, a_index: int = 0,
                 b_index: int = 1) -> PairEffects:
    """Hodges-Lehmann estimate and probability of improvement of ``a`` over ``b`` (paired vectors)."""
    x, y = exact_pair(a, b)
    d = exact_difference(x, y)
    low, high, level = hodges_lehmann_interval(d, confidence)
    share = probability_of_improvement(x, y, maximize)
    return PairEffects(a=int(a_index), b=int(b_index), n_blocks=len(d.nums), hodges_lehmann=hodges_lehmann(d),
                       hodges_lehmann_ci=(low, high), hodges_lehmann_confidence=level, p_improvement=share,
                       p_improvement_ci=wilson_interval(share, len(d), confidence))


def pair_list(k: int, pairs=None, control: Optional[int] = None) -> list:
    """``pairs`` checked, or every pair ``(i, j)``, ``i < j``, or each column against ``control``."""
    if pairs is not None and control is not None:
        raise PernodeError("Give `pairs` or `control`, not both.")
    if control is not None:
        if isinstance(control, bool) or not isinstance(control, (int, np.integer)) or not 0 <= control < k:
            raise invalid_argument("control", f"a column index in [0, {k})", control)
        return [(j, int(control)) for j in range(k) if j != control]
    if pairs is None:
        return [(i, j) for i in range(k) for j in range(i + 1, k)]
    out = []
    for p in pairs:
        i, j = (int(x) for x in p)
        if not (0 <= i < k and 0 <= j < k) or i == j:
            raise invalid_argument("pairs", f"pairs of two different column indices in [0, {k})", tuple(p))
        out.append((i, j))
    return out


def compare_pairs(values, maximize: bool, pairs: Optional[Sequence] = None, control: Optional[int] = None,
                  confidence: float = CONFIDENCE, rope: Optional[float] = None, prior_strength: Optional[float] = None,
                  n_samples: Optional[int] = None, seed: int = SEED) -> PairComparisons:
    """``PairEffects`` for every pair of columns (``a < b``), the given ``pairs`` or each column
    against ``control`` (``a`` the column, ``b`` the control). With ``rope`` (metric units) each
    pair also gets the Bayesian signed-rank probabilities (``pernode_cli.stats.bayes``)."""
    from pernode_cli.stats import bayes

    m = values if isinstance(values, Exact) else exact.from_floats(as_matrix(values, min_blocks=2))
    if m.nums.ndim != 2 or m.nums.shape[0] < 2:
        raise invalid_argument("values", "at least 2 block(s) (rows)", f"array of shape {m.nums.shape}")
    todo = pair_list(m.nums.shape[1], pairs, control)
    prior = bayes.PRIOR_STRENGTH if prior_strength is None else prior_strength
    samples = bayes.N_SAMPLES if n_samples is None else n_samples
    out = []
    for i, j in todo:
        effect = pair_effects(m[:, i], m[:, j], maximize, confidence, i, j)
        if rope is not None:
            post = bayes.bayes_signed_rank(m[:, i], m[:, j], rope, maximize, prior_strength=prior,
                                           n_samples=samples, seed=seed)
            effect = _with_bayes(effect, post)
        out.append(effect)
    return PairComparisons(pairs=tuple(out), maximize=bool(maximize), confidence=check_confidence(confidence),
                           rope=None if rope is None else float(rope),
                           prior_strength=None if rope is None else float(prior),
                           n_samples=None if rope is None else int(samples), seed=None if rope is None else int(seed))


def _with_bayes(effect: PairEffects, post) -> PairEffects:
    from dataclasses import replace

    samples = post.samples
    step = max(1, len(samples) // POSTERIOR_SHOWN)  # every step-th draw of the ones the probabilities came from
    return replace(effect, bayes_a_better=post.p_a_better, bayes_equivalent=post.p_equivalent,
                   bayes_b_better=post.p_b_better, bayes_sample=tuple(map(tuple, samples[::step][:POSTERIOR_SHOWN])))


def performance_profile(values, maximize: bool, thresholds=None,
                        confidence: float = CONFIDENCE) -> PerformanceProfile:
    """Share of blocks in which each variant reaches each score of ``thresholds`` (default: every
    distinct value in ``values``, so a step plot over them is exact), with pointwise Wilson bounds."""
    m = as_matrix(values)
    grid = np.unique(m) if thresholds is None else np.asarray(thresholds, dtype="float64").ravel()
    if grid.size == 0 or not np.all(np.isfinite(grid)):
        raise invalid_argument("thresholds", "a non-empty sequence of finite scores", thresholds)
    # (n, k, 1) against (T,): a variant reaches t when its value is at least as good as t.
    reached = m[:, :, None] >= grid if maximize else m[:, :, None] <= grid
    shares = reached.mean(axis=0)  # (k, T)
    low, high = wilson_interval(shares, len(m), confidence)
    as_rows = lambda a: tuple(tuple(float(x) for x in row) for row in np.atleast_2d(a))  # noqa: E731
    return PerformanceProfile(thresholds=tuple(float(t) for t in grid), shares=as_rows(shares), low=as_rows(low),
                              high=as_rows(high), maximize=bool(maximize), n_blocks=len(m),
                              confidence=check_confidence(confidence))
