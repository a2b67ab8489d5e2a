"""The test procedures of a ranking: pure functions over a ``(n blocks, k variants)`` matrix.

- Friedman's test over blocks, its p-value exact (the null distribution of the rank sums
  enumerated, block by block) where that is small enough to enumerate, else a permutation
  p-value (ranks permuted within blocks, ``(b + 1) / (B + 1)``, seeded), and for many blocks
  the Iman-Davenport F approximation. The Iman-Davenport F and Kendall's W are monotone in
  Friedman's chi-square for fixed ``n`` and ``k``, so one p-value serves all three.
  Chi-square is tie-corrected as scipy corrects it (Demsar's formula has no tie correction;
  the two agree without ties).
- The Wilcoxon signed-rank test of paired blocks, always from its exact conditional null
  distribution (every sign pattern of the ranked differences equally likely, midranks for
  ties) up to ``EXACT_WILCOXON_MAX`` non-zero differences, the normal approximation with
  tie correction beyond; zeros handled by ``zero_method`` as scipy names them: ``wilcox``
  drops them (scipy's default), ``pratt`` ranks them and then drops them, ``zsplit``
  (Demsar 2006) gives half of each zero's rank to either sign. Computed here, not by scipy,
  so the p-values do not depend on scipy's version.
- Holm's step-down adjustment, Nemenyi's critical difference, and what a family of tests
  can attain at all (the smallest p-value the data's size allows).
"""

from __future__ import annotations

import functools
import itertools
import math
from dataclasses import dataclass
from typing import Optional

import numpy as np

from pernode_cli.errors import PernodeError

ZERO_METHODS = ("wilcox", "pratt", "zsplit")
EXACT_STATES = 200_000  # rows (states x arrangements) the exact Friedman enumeration may touch per block
EXACT_WORK = 1_000_000  # ... and over all blocks; beyond either, a permutation p-value
EXACT_MAX_BLOCKS = {2: 400, 3: 50, 4: 16, 5: 6, 6: 3, 7: 2}  # k -> most blocks worth enumerating (about 0.5 s)
PERMUTATION_RESAMPLES = 20_000
PERMUTATION_MAX_BLOCKS = 200  # beyond this many blocks the Iman-Davenport F approximation is used
EXACT_WILCOXON_MAX = 200  # non-zero paired differences up to which the signed-rank p is exact
SEED = 20260101  # fixed: permutation p-values reproduce


def block_ranks(matrix, maximize: bool) -> np.ndarray:
    """Within-block ranks, 1 = best, ties given their mean rank. An ``Exact`` matrix
    (``stats.exact``) is ranked on its exact values: values equal in decimals tie."""
    from scipy.stats import rankdata

    from pernode_cli.stats.exact import Exact

    m = matrix.nums if isinstance(matrix, Exact) else np.asarray(matrix, dtype="float64")
    m = -m if maximize else m
    if m.dtype == object:  # Python integers beyond int64: ranked by their exact order
        return np.array([midranks(row) for row in m], dtype=np.float64).reshape(m.shape)
    return rankdata(m, axis=1)


def midranks(values) -> np.ndarray:
    """Ranks 1..n of ``values`` (any ordered objects), ties given their mean rank."""
    values = list(values)
    order = sorted(range(len(values)), key=lambda i: values[i])
    out = np.empty(len(values))
    start = 0
    while start < len(order):
        end = start
        while end + 1 < len(order) and values[order[end + 1]] == values[order[start]]:
            end += 1
        for i in order[start:end + 1]:
            out[i] = (start + end) / 2 + 1
        start = end + 1
    return out


def _chi2(ranks: np.ndarray) -> float:
    """Tie-corrected Friedman chi-square of within-block ranks (0 when every block is one tie)."""
    n, k = ranks.shape
    sums = ranks.sum(axis=0)
    raw = 12.0 / (n * k * (k + 1)) * float(np.dot(sums, sums)) - 3.0 * n * (k + 1)
    ties = 0.0
    for row in ranks:
        _, counts = np.unique(row, return_counts=True)
        ties += float(np.sum(counts**3 - counts))
    correction = 1.0 - ties / (n * (k**3 - k))
    return max(raw / correction, 0.0) if correction > 1e-12 else 0.0


@dataclass(frozen=True)
class FriedmanResult:
    chi2: float
    iman_davenport_f: Optional[float]  # None when every block ranks the variants alike (F infinite)
    kendall_w: float
    p: float
    method: str  # exact | permutation | iman-davenport
    n_resamples: Optional[int]
    min_attainable_p: float  # the smallest p any data of this size (and these ties) can give
    mean_ranks: tuple


def _arrangements(row_ranks: np.ndarray) -> np.ndarray:
    """Every arrangement of one block's (doubled, integer) ranks over the k columns, each
    permutation once (a multiset's repeats are repeated, so all rows are equally likely)."""
    return np.array(list(itertools.permutations(row_ranks)), dtype=np.int64)


def _exact_null(ranks2: np.ndarray, budget: int = EXACT_STATES):
    """The exact null distribution of sum_j R_j^2 (doubled ranks), or None if too large.

    Block by block, the multiset of column sums is a Markov state (each block's arrangement is
    uniform over permutations, so sorted sums suffice), counted with multiplicities.
    """
    n, k = ranks2.shape
    if math.factorial(k) > budget or n > EXACT_MAX_BLOCKS.get(k, 2):
        return None
    states = np.sort(ranks2[:1], axis=1)  # the first block fixes the labels
    weights = np.ones(1)
    work = 0
    for row in ranks2[1:]:
        arr = _arrangements(row)
        work += len(states) * len(arr)
        if len(states) * len(arr) > budget or work > EXACT_WORK:
            return None
        new = (states[:, None, :] + arr[None, :, :]).reshape(-1, k)
        new.sort(axis=1)
        uniq, inverse = np.unique(new, axis=0, return_inverse=True)
        weights = np.bincount(inverse.ravel(), weights=np.repeat(weights, len(arr)), minlength=len(uniq))
        states = uniq
    total = weights.sum()
    return (states.astype(np.float64) ** 2).sum(axis=1), weights / total


def _permutation_null(ranks: np.ndarray, resamples: int, seed: int) -> np.ndarray:
    """sum_j R_j^2 of ``resamples`` within-block permutations of ``ranks``."""
    n, k = ranks.shape
    rng = np.random.default_rng(seed)
    out = np.empty(resamples)
    chunk = max(1, 2_000_000 // (n * k))
    for start in range(0, resamples, chunk):
        b = min(chunk, resamples - start)
        order = np.argsort(rng.random((b, n, k)), axis=2)
        shuffled = np.take_along_axis(np.broadcast_to(ranks, (b, n, k)), order, axis=2)
        sums = shuffled.sum(axis=1)
        out[start:start + b] = (sums**2).sum(axis=1)
    return out


def friedman(matrix, maximize: bool, resamples: int = PERMUTATION_RESAMPLES, seed: int = SEED) -> FriedmanResult:
    """Friedman's test with a p-value that holds its level at every size (module docstring)."""
    from scipy.stats import f as f_dist

    ranks = block_ranks(matrix, maximize)
    n, k = ranks.shape
    if n < 1 or k < 2:
        raise PernodeError(f"Friedman's test needs at least 1 block and 2 variants; got {n} x {k}.")
    chi2 = _chi2(ranks)
    most = n * (k - 1)
    w = chi2 / most
    f = None if most - chi2 <= 1e-9 * most else (n - 1) * chi2 / (most - chi2)
    observed = float(np.dot(ranks.sum(axis=0), ranks.sum(axis=0)))
    tol = 1e-7 * max(1.0, observed)
    exact = _exact_null(np.rint(2 * ranks).astype(np.int64)) if n > 1 else None
    if n == 1:  # one block: every arrangement gives the same sums up to relabelling
        p, method, used, floor = 1.0, "exact", None, 1.0
    elif exact is not None:
        values, probs = exact
        values = values / 4.0  # doubled ranks
        p = float(probs[values >= observed - tol].sum())
        method, used = "exact", None
        floor = float(probs[values >= values.max() - tol].sum())
    elif n <= PERMUTATION_MAX_BLOCKS:
        null = _permutation_null(ranks, resamples, seed)
        p = float((1 + np.sum(null >= observed - tol)) / (resamples + 1))
        method, used, floor = "permutation", resamples, 1.0 / (resamples + 1)
    else:
        df1, df2 = k - 1, (k - 1) * (n - 1)
        # The F tail underflows (or F is infinite when every block ranks alike); no p is below the
        # exact probability of the most extreme untied pattern, (k!)^-(n-1), nor printed as 0.
        floor = max(math.exp(-(n - 1) * math.lgamma(k + 1)), np.finfo(np.float64).tiny)
        p = max(floor, 0.0 if f is None else float(f_dist.sf(f, df1, df2)))
        method, used = "iman-davenport", None
    if method != "iman-davenport" and n > 1 and exact is None:
        floor = max(floor, _distinct_floor(ranks))
    return FriedmanResult(chi2=float(chi2), iman_davenport_f=None if f is None else float(f), kendall_w=float(w),
                          p=min(1.0, p), method=method, n_resamples=used, min_attainable_p=float(floor),
                          mean_ranks=tuple(float(x) for x in ranks.mean(axis=0)))


@functools.lru_cache(maxsize=128)
def _untied_null(n: int, k: int):
    """The null of sum_j R_j^2 for ``n`` blocks of ``k`` untied values, drawn as ``friedman``
    draws it: ``("exact", values, tail)`` with ``tail[i] = P(S >= values[i])``, ``("permutation",
    sorted sample)``, or ``("iman-davenport",)``."""
    base = np.tile(np.arange(1, k + 1, dtype=np.float64), (n, 1))
    exact = _exact_null(np.rint(2 * base).astype(np.int64))
    if exact is not None:
        values, probs = exact
        order = np.argsort(values)
        values, probs = values[order] / 4.0, probs[order]
        return ("exact", values, np.cumsum(probs[::-1])[::-1])
    if n <= PERMUTATION_MAX_BLOCKS:
        return ("permutation", np.sort(_permutation_null(base, PERMUTATION_RESAMPLES, SEED)))
    return ("iman-davenport",)


def friedman_p_stack(matrices) -> np.ndarray:
    """Friedman p-values of every ``(n, k)`` matrix of a ``(batch, n, k)`` stack, for the planner:
    the ranking's exact, permutation or Iman-Davenport p-value (``friedman``) of its size.

    Every untied matrix of a size has the same null distribution of its rank sums, so one null
    per size serves the whole stack: for untied matrices the p-value is ``friedman``'s (a
    permutation null is the ranking's, drawn once: the same distribution, Monte Carlo error
    apart). A matrix with ties has a null of its own tie pattern, too costly to enumerate for
    every simulated design; its tie-corrected chi-square is referred to the untied null (for
    many blocks the two nulls share their chi-square limit). The direction does not matter:
    reversing every block's ranks leaves the statistic unchanged.
    """
    from scipy.stats import f as f_dist
    from scipy.stats import rankdata

    m = np.asarray(matrices, dtype="float64")
    if m.ndim == 2:
        return float(friedman_p_stack(m[None])[0])
    batch, n, k = m.shape
    if n == 1:
        return np.ones(batch)
    ranks = rankdata(m, axis=-1)
    sums = ranks.sum(axis=1)
    raw = 12.0 / (n * k * (k + 1)) * (sums**2).sum(axis=1) - 3.0 * n * (k + 1)
    counts = np.sort(ranks, axis=-1)
    # sum over tie groups of t^3 - t, per block: from the multiplicity of each rank value
    same = (counts[..., :, None] == counts[..., None, :]).sum(axis=-1)  # each value's group size
    ties = (same**2 - 1).sum(axis=(-1, -2))  # sum_g t (t^2 - 1) = sum over members of (t^2 - 1)
    correction = 1.0 - ties / (n * (k**3 - k))
    chi2 = np.where(correction > 1e-12, np.maximum(raw, 0.0) / np.maximum(correction, 1e-12), 0.0)
    statistic = (chi2 + 3.0 * n * (k + 1)) * (n * k * (k + 1)) / 12.0  # as an untied sum of squared rank sums
    tol = 1e-7 * np.maximum(1.0, statistic)
    null = _untied_null(n, k)
    if null[0] == "exact":
        values, tail = null[1], null[2]
        at = np.searchsorted(values, statistic - tol, side="left")
        p = np.where(at < len(values), tail[np.minimum(at, len(values) - 1)], 0.0)
    elif null[0] == "permutation":
        sample = null[1]
        p = (1.0 + len(sample) - np.searchsorted(sample, statistic - tol, side="left")) / (len(sample) + 1.0)
    else:
        most = n * (k - 1)
        spare = most - chi2
        f = (n - 1) * chi2 / np.where(spare > 1e-9 * most, spare, np.inf)
        p = np.where(spare > 1e-9 * most, f_dist.sf(f, k - 1, (k - 1) * (n - 1)), 0.0)
    return np.minimum(1.0, p)


def _distinct_floor(ranks: np.ndarray) -> float:
    """The probability of the most extreme rank pattern when blocks have no ties: (k!)^-(n-1)."""
    n, k = ranks.shape
    return math.exp(-(n - 1) * math.lgamma(k + 1))


def min_friedman_p(n: int, k: int) -> float:
    """Smallest exact Friedman p-value for ``n`` blocks of ``k`` untied values: (k!)^-(n-1)."""
    return math.exp(-(max(n, 1) - 1) * math.lgamma(k + 1))


def friedman_blocks_needed(k: int, alpha: float) -> int:
    """Fewest blocks at which the exact Friedman test can reach ``alpha`` (no ties)."""
    n = 1
    while min_friedman_p(n, k) > alpha:
        n += 1
    return n


@dataclass(frozen=True)
class SignedRank:
    statistic: float  # T+: the sum of the ranks of positive differences (zsplit: plus half the zeros')
    p: float  # two-sided
    n_used: int  # differences that carry a sign (zeros dropped under wilcox and pratt)
    method: str  # exact | normal


def signed_rank(d, zero_method: str = "wilcox") -> SignedRank:
    """Two-sided Wilcoxon signed-rank test of the paired differences ``d``: floats, taken at their
    shortest decimal forms, or exact numerators (``stats.exact``), so differences equal in the
    log's decimals share a midrank and a difference of exactly zero is a zero."""
    from scipy.stats import norm, rankdata

    from pernode_cli.stats import exact

    if zero_method not in ZERO_METHODS:
        raise PernodeError(f"`zero_method` must be one of {', '.join(ZERO_METHODS)}; got {zero_method!r}.")
    d = d.nums if isinstance(d, exact.Exact) else exact.from_floats(np.asarray(d, dtype="float64")).nums
    zero = d == 0
    if zero_method == "wilcox":
        d, zero = d[~zero], zero[~zero]
    if len(d) == 0 or zero.all():
        return SignedRank(statistic=0.0, p=1.0, n_used=0, method="exact")
    size = np.abs(d)
    ranks2 = np.rint(2 * (midranks(size) if size.dtype == object else rankdata(size))).astype(np.int64)  # doubled
    signed = ~zero
    weights = ranks2[signed]
    t2 = int(weights[d[signed] > 0].sum())
    total2 = int(weights.sum())
    # zsplit adds half of each zero's rank to T+: a constant under the null (zeros carry no
    # sign), so its p-value is pratt's and only the statistic moves.
    shift = float(ranks2[zero].sum()) / 4.0 if zero_method == "zsplit" else 0.0
    if len(weights) <= EXACT_WILCOXON_MAX:
        probs = np.zeros(total2 + 1)
        probs[0] = 1.0
        for w in weights:  # each sign independently + or - with probability 1/2
            shifted = np.zeros_like(probs)
            shifted[w:] = probs[:-w]
            probs = 0.5 * (probs + shifted)
        far = np.abs(2 * np.arange(total2 + 1) - total2) >= abs(2 * t2 - total2) - 1e-9
        p, method = float(probs[far].sum()), "exact"
    else:
        var = float(np.sum(weights.astype(np.float64) ** 2)) / 16.0  # Var(T+) in rank units
        z = (abs(t2 - total2 / 2.0) / 2.0 - 0.5) / math.sqrt(var) if var > 0 else 0.0
        p, method = float(2 * norm.sf(max(z, 0.0))), "normal"
    return SignedRank(statistic=t2 / 2.0 + shift, p=min(1.0, p), n_used=int(signed.sum()), method=method)


def holm(pvalues) -> tuple:
    """Holm's step-down adjusted p-values, monotone and capped at 1, in the input order."""
    p = np.asarray(pvalues, dtype="float64")
    m = len(p)
    if m == 0:
        return ()
    order = np.argsort(p, kind="stable")
    adjusted = np.minimum(1.0, np.maximum.accumulate((m - np.arange(m)) * p[order]))
    out = np.empty(m)
    out[order] = adjusted
    return tuple(float(x) for x in out)


def min_signed_rank_p(n: int) -> float:
    """The smallest two-sided exact signed-rank p-value of ``n`` untied non-zero differences."""
    return min(1.0, 2.0 ** (1 - n)) if n > 0 else 1.0


def blocks_needed_for_family(m: int, alpha: float) -> int:
    """Fewest blocks at which Holm's first step over ``m`` signed-rank tests can reach ``alpha``."""
    return max(1, math.ceil(math.log2(2 * m) - math.log2(alpha))) if m > 0 else 1  # 2m/alpha overflows for tiny alpha


def nemenyi_cd(k: int, n: int, alpha: float = 0.05) -> float:
    """Nemenyi critical difference in within-block mean-rank units."""
    from scipy.stats import studentized_range

    q = studentized_range.ppf(1 - alpha, k, np.inf) / math.sqrt(2)
    return float(q * math.sqrt(k * (k + 1) / (6.0 * n)))
