"""Intervals and effect sizes (pernode_cli.stats.effects): hand-worked values, independent
references (scipy's bootstrap, trim_mean, Mann-Whitney U, Wilcoxon, binomtest), coverage on
simulated data with fixed seeds, and Demsar's (2006) worked example.

Coverage tolerances: with R replications a coverage estimate has a standard error of
sqrt(0.95 * 0.05 / R) (0.005 at R = 2000); each bound below is about 3 standard errors
around the interval's known level (exact for the Hodges-Lehmann interval, nominal for the
others, whose small-sample levels benchmarks/effects_coverage.py measures at scale)."""

import itertools
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from pernode_cli.errors import PernodeError
from pernode_cli.stats.effects import (
    N_RESAMPLES,
    SEED,
    bootstrap_distribution,
    bootstrap_interval,
    compare_pairs,
    hodges_lehmann,
    hodges_lehmann_interval,
    improvement_scores,
    iqm,
    pair_effects,
    performance_profile,
    probability_of_improvement,
    signed_rank_pmf,
    variant_intervals,
    walsh_averages,
    wilson_interval,
)

DEMSAR = Path(__file__).resolve().parents[1] / "examples" / "demsar2006.csv"
METHODS = ["C4.5", "C4.5+m", "C4.5+cf", "C4.5+m+cf"]


def se(p, r):
    return math.sqrt(p * (1 - p) / r)


# --- point statistics: hand-worked and rliable's formulas --------------------------------


def test_iqm_is_scipys_25_percent_trimmed_mean():
    assert iqm([5.0, 1.0, 8.0, 3.0, 2.0, 7.0, 4.0, 6.0]) == 4.5  # cut 2 each end: mean of 3, 4, 5, 6
    rng = np.random.default_rng(0)
    for n in range(1, 15):  # rliable's aggregate_iqm is scipy.stats.trim_mean(x, 0.25)
        x = rng.normal(size=(n, 3))
        np.testing.assert_allclose(iqm(x, axis=0), stats.trim_mean(x, 0.25, axis=0), rtol=1e-13)


def test_hodges_lehmann_hand_worked():
    # Walsh averages of 1, 2, 4: 1, 1.5, 2.5, 2, 3, 4 -> sorted median (2 + 2.5) / 2
    np.testing.assert_array_equal(walsh_averages([1.0, 2.0, 4.0]), [1.0, 1.5, 2.0, 2.5, 3.0, 4.0])
    assert hodges_lehmann([1.0, 2.0, 4.0]) == 2.25
    d = np.random.default_rng(1).standard_t(3, 9)
    brute = np.median([(d[i] + d[j]) / 2 for i in range(9) for j in range(i, 9)])
    assert hodges_lehmann(d) == pytest.approx(brute, abs=1e-15)


def test_probability_of_improvement_is_rliables_with_each_block_a_task():
    a = np.array([1.0, 2.0, 3.0, 4.0])
    b = np.array([0.0, 2.0, 5.0, 1.0])
    assert probability_of_improvement(a, b, maximize=True) == (1 + 0.5 + 0 + 1) / 4
    assert probability_of_improvement(a, b, maximize=False) == (0 + 0.5 + 1 + 0) / 4
    # rliable: per task, Mann-Whitney U of X over Y / (runs_x * runs_y), averaged over tasks
    rng = np.random.default_rng(2)
    x, y = rng.integers(0, 4, 25).astype(float), rng.integers(0, 4, 25).astype(float)
    per_task = [stats.mannwhitneyu([xi], [yi], alternative="greater").statistic for xi, yi in zip(x, y)]
    assert probability_of_improvement(x, y, True) == pytest.approx(np.mean(per_task), abs=1e-15)
    assert probability_of_improvement(x, y, True) + probability_of_improvement(y, x, True) == pytest.approx(1.0)
    np.testing.assert_array_equal(improvement_scores(a, b, True), [1, 0.5, 0, 1])


# --- exact signed-rank distribution and the Hodges-Lehmann interval ----------------------


def test_signed_rank_pmf_by_enumeration_and_against_scipy():
    for n in (1, 4, 7):
        counts = np.zeros(n * (n + 1) // 2 + 1)
        for signs in itertools.product((0, 1), repeat=n):
            counts[sum(r for r, s in zip(range(1, n + 1), signs) if s)] += 1
        np.testing.assert_allclose(signed_rank_pmf(n), counts / 2**n, rtol=1e-13)
    rng = np.random.default_rng(3)
    for n in (6, 12, 25):
        d = rng.normal(0.3, 1, n)
        plus = stats.rankdata(np.abs(d))[d > 0].sum()
        t = min(plus, n * (n + 1) / 2 - plus)
        p = min(1.0, 2 * np.cumsum(signed_rank_pmf(n))[int(t)])
        assert p == pytest.approx(stats.wilcoxon(d, method="exact").pvalue, rel=1e-10)


def test_hodges_lehmann_interval_hand_worked_n10():
    # n = 10: P(T+ <= 8) = 25 / 1024, so the 95% interval is [W_(9), W_(47)] of the 55 averages
    d = np.random.default_rng(4).normal(size=10)
    w = walsh_averages(d)
    low, high, level = hodges_lehmann_interval(d)
    assert (low, high) == (w[8], w[46])
    assert level == 1 - 2 * 25 / 1024
    assert hodges_lehmann_interval(d[:5]) == (-math.inf, math.inf, 1.0)  # no 95% interval from 5 values
    assert hodges_lehmann_interval(d[:6])[2] == 1 - 2 / 64


def test_hodges_lehmann_interval_inverts_the_exact_wilcoxon_test():
    # The interval is the set of shifts that scipy's exact two-sided test does not reject.
    d = np.random.default_rng(5).standard_t(4, 14) + 0.2
    low, high, level = hodges_lehmann_interval(d)
    alpha = 1 - level  # the exact size of the test the interval inverts
    eps = 1e-9
    for theta in (low + eps, high - eps, hodges_lehmann(d)):
        assert stats.wilcoxon(d - theta, method="exact").pvalue > alpha - 1e-12
    for theta in (low - eps, high + eps):
        assert stats.wilcoxon(d - theta, method="exact").pvalue <= alpha + 1e-12


def test_hodges_lehmann_interval_coverage_symmetric_differences():
    # Differences symmetric about 0.3, a different scale in each of two data sets (not iid):
    # the exact level holds. 3000 replications of n = 10: SE 0.004, tolerance 0.012.
    rng = np.random.default_rng(6)
    scale = np.r_[np.full(5, 0.5), np.full(5, 2.0)]
    d = 0.3 + scale * rng.standard_t(3, (3000, 10))
    hits = [lo <= 0.3 <= hi for lo, hi, _ in map(hodges_lehmann_interval, d)]
    level = hodges_lehmann_interval(d[0])[2]
    assert level == pytest.approx(0.9512, abs=1e-4)
    assert abs(np.mean(hits) - level) < 0.012


# --- Wilson interval of the probability of improvement -----------------------------------


def test_wilson_interval_matches_scipy_binomtest():
    for k, n in ((8, 10), (0, 7), (14, 14), (5, 20)):
        ref = stats.binomtest(k, n).proportion_ci(0.95, method="wilson")
        np.testing.assert_allclose(wilson_interval(k / n, n), (ref.low, ref.high), rtol=1e-12, atol=1e-15)
    low, high = wilson_interval(1.0, 10)  # a variant that wins every block is not certain to
    assert high == 1.0 and 0.70 < low < 0.73


def test_p_improvement_interval_coverage():
    # P(a better) = p exactly when the difference is N(Phi^-1(p), 1); Wilson's coverage
    # oscillates with n and p, so the mean over a grid is held to 0.95 +- 0.015 and each
    # cell to at least 0.91 (4000 replications per cell: SE 0.0035).
    rng = np.random.default_rng(7)
    cover = []
    for n, p in itertools.product((10, 14, 20, 30), (0.5, 0.7, 0.9)):
        d = rng.normal(stats.norm.ppf(p), 1.0, (4000, n))
        lo, hi = wilson_interval(improvement_scores(d.ravel(), np.zeros(d.size), True).reshape(d.shape).mean(1), n)
        cover.append(np.mean((lo <= p) & (p <= hi)))
    assert abs(np.mean(cover) - 0.95) < 0.015
    assert min(cover) >= 0.91


# --- bootstrap intervals ---------------------------------------------------------------


@pytest.mark.parametrize("method", ["percentile", "BCa"])
@pytest.mark.parametrize("statistic", [np.mean, iqm], ids=["mean", "iqm"])
def test_bootstrap_interval_agrees_with_scipy_bootstrap(method, statistic):
    x = np.random.default_rng(8).lognormal(0, 0.6, 16)
    ref = stats.bootstrap((x,), lambda s, axis: statistic(s, axis=axis), method=method, n_resamples=40_000,
                          rng=np.random.default_rng(1)).confidence_interval
    low, high = bootstrap_interval(x, statistic, method=method.lower(), n_resamples=40_000, seed=2)
    # two independent Monte Carlo endpoints: tolerance 0.12 bootstrap standard errors (about 4 SE)
    spread = np.std(bootstrap_distribution(x, statistic, n_resamples=5000))
    assert abs(low[0] - ref.low) < 0.12 * spread and abs(high[0] - ref.high) < 0.12 * spread


def test_expanded_interval_is_scipys_percentile_at_the_expanded_level():
    x = np.random.default_rng(9).normal(size=12)
    tail = stats.norm.cdf(-math.sqrt(12 / 11) * stats.t.ppf(0.975, 11))
    ref = stats.bootstrap((x,), np.mean, method="percentile", confidence_level=1 - 2 * tail, n_resamples=40_000,
                          rng=np.random.default_rng(1)).confidence_interval
    low, high = bootstrap_interval(x, np.mean, n_resamples=40_000, seed=2)
    spread = x.std() / math.sqrt(12)
    assert abs(low[0] - ref.low) < 0.12 * spread and abs(high[0] - ref.high) < 0.12 * spread
    plain = bootstrap_interval(x, np.mean, method="percentile", n_resamples=40_000, seed=2)
    assert low[0] < plain[0][0] and high[0] > plain[1][0]  # wider than the plain percentile interval


def test_stratified_resamples_keep_every_stratum_count():
    strata = np.array(["cifar"] * 5 + ["speech"] * 3 + ["rcv1"] * 4)
    codes = (strata == "speech") * 1.0 + (strata == "rcv1") * 2.0
    # A column holding the stratum code has the same mean in every stratified resample.
    boot = bootstrap_distribution(np.c_[codes, np.arange(12.0)], np.mean, strata, n_resamples=2000)
    assert np.all(boot[:, 0] == codes.mean())
    assert boot[:, 1].std() > 0
    plain = bootstrap_distribution(codes, np.mean, None, n_resamples=2000)
    assert plain.std() > 0


def test_variant_intervals_reproduce_and_resample_blocks_jointly():
    m = np.random.default_rng(10).normal(size=(15, 3))
    one, two = variant_intervals(m), variant_intervals(m)
    assert one == two and one.n_resamples == N_RESAMPLES and one.seed == SEED
    v = one.variants[1]
    assert v.mean == m[:, 1].mean() and v.iqm == pytest.approx(stats.trim_mean(m[:, 1], 0.25))
    assert v.mean_ci[0] < v.mean < v.mean_ci[1] and v.iqm_ci[0] < v.iqm < v.iqm_ci[1]
    json.dumps(one.to_dict())
    # the same column twice gets the same interval: shared block indices
    twin = variant_intervals(np.c_[m[:, 0], m[:, 0]])
    assert twin.variants[0].mean_ci == twin.variants[1].mean_ci


@pytest.mark.parametrize("dist", ["normal", "t5"])
def test_mean_and_iqm_interval_coverage_at_14_blocks(dist):
    # 2000 independent data sets of 14 blocks, one column each (resampled with shared indices,
    # which leaves each column's coverage unbiased). SE 0.005. Measured at scale (benchmark,
    # 14 blocks): mean 0.946 (normal) and 0.938 (t3), IQM 0.969 and 0.971 (the expanded
    # interval is conservative for it). Bounds: at least 0.93, at most 0.985.
    rng = np.random.default_rng(11)
    x = rng.normal(size=(14, 2000)) if dist == "normal" else rng.standard_t(5, (14, 2000))
    for statistic in (np.mean, iqm):
        low, high = bootstrap_interval(x, statistic, n_resamples=1000, seed=12)
        assert 0.93 <= np.mean((low <= 0) & (0 <= high)) <= 0.985, statistic


def test_stratified_mean_interval_coverage():
    # Three data sets of 6 blocks with different centres and spreads; the estimand is the pooled
    # mean with those counts fixed. 2000 replications (SE 0.005); measured about 0.947.
    rng = np.random.default_rng(14)
    strata = np.repeat(["a", "b", "c"], 6)
    x = np.concatenate([c + s * rng.normal(size=(6, 2000)) for c, s in ((0.0, 0.5), (1.0, 1.0), (2.0, 2.0))])
    low, high = bootstrap_interval(x, np.mean, strata, n_resamples=1000, seed=15)
    assert abs(np.mean((low <= 1.0) & (1.0 <= high)) - 0.95) < 0.02


# --- pairs and profiles ------------------------------------------------------------------


def test_pair_effects_and_compare_pairs():
    rng = np.random.default_rng(13)
    m = rng.normal(size=(12, 3)) + [0.0, 0.5, 2.0]
    e = pair_effects(m[:, 2], m[:, 0], maximize=True, a_index=2, b_index=0)
    assert e.hodges_lehmann == hodges_lehmann(m[:, 2] - m[:, 0])
    assert e.hodges_lehmann_ci == hodges_lehmann_interval(m[:, 2] - m[:, 0])[:2]
    assert e.p_improvement == probability_of_improvement(m[:, 2], m[:, 0], True)
    assert e.p_improvement_ci == wilson_interval(e.p_improvement, 12)
    everyone = compare_pairs(m, maximize=True)
    assert [(p.a, p.b) for p in everyone.pairs] == [(0, 1), (0, 2), (1, 2)]
    assert everyone.pairs[1].bayes_a_better is None and everyone.rope is None
    control = compare_pairs(m, maximize=False, control=0, rope=0.1, n_samples=2000)
    assert [(p.a, p.b) for p in control.pairs] == [(1, 0), (2, 0)]
    for p in control.pairs:
        assert p.bayes_a_better + p.bayes_equivalent + p.bayes_b_better == pytest.approx(1.0)
    assert control.pairs[1].bayes_b_better > 0.95  # minimizing: column 2 is worse by about 2
    json.dumps(control.to_dict())
    with pytest.raises(PernodeError, match="`control`"):
        compare_pairs(m, True, control=3)
    with pytest.raises(PernodeError, match="`pairs`"):
        compare_pairs(m, True, pairs=[(1, 1)])


def test_performance_profile_hand_worked_both_directions():
    m = np.array([[0.1, 0.3], [0.2, 0.1], [0.4, 0.2]])
    up = performance_profile(m, maximize=True)
    assert up.thresholds == (0.1, 0.2, 0.3, 0.4)
    assert up.shares == ((1.0, 2 / 3, 1 / 3, 1 / 3), (1.0, 2 / 3, 1 / 3, 0.0))
    down = performance_profile(m, maximize=False, thresholds=[0.15, 0.3])
    assert down.shares == ((1 / 3, 2 / 3), (1 / 3, 1.0))
    low, high = wilson_interval(1 / 3, 3)
    assert down.low[0][0] == pytest.approx(low) and down.high[0][0] == pytest.approx(high)


def test_bad_input_names_the_argument():
    with pytest.raises(PernodeError, match=r"argument `confidence`.*Received: confidence=1.5"):
        variant_intervals(np.ones((4, 2)), confidence=1.5)
    with pytest.raises(PernodeError, match="`values`"):
        variant_intervals(np.array([[1.0, np.nan], [2.0, 3.0]]))
    with pytest.raises(PernodeError, match="`strata`"):
        variant_intervals(np.ones((4, 2)), strata=[0, 1, 2, 3])
    with pytest.raises(PernodeError, match="`method`"):
        bootstrap_interval(np.ones(4), np.mean, method="basic")
    with pytest.raises(PernodeError, match="`b`"):
        pair_effects(np.ones(4), np.ones(3), True)


# --- Demsar (2006), Table 6 ----------------------------------------------------------------


def test_demsar_2006_friedman_and_iman_davenport_from_the_csv():
    """examples/demsar2006.csv holds Table 6 of Demsar (2006, JMLR 7): AUC of four C4.5 variants
    on 14 data sets, as printed (three decimals). The paper's ranks break one printed tie: on
    voting C4.5+cf (0.975) ranks 2nd and C4.5+m+cf (0.975) 3rd, so their unrounded AUCs
    differed; the test ranks that row as the paper does. The paper's chi2_F = 9.28 and
    F_F = 3.69 use its equation without the tie correction (iris, lung cancer, mushroom and
    primary tumor hold ties); scipy's friedmanchisquare applies it."""
    frame = pd.read_csv(DEMSAR)
    assert list(frame.columns) == ["dataset", "method", "auc"] and len(frame) == 56
    table = frame.pivot(index="dataset", columns="method", values="auc")[METHODS]
    assert len(table) == 14
    auc = table.to_numpy()
    ranks = stats.rankdata(-auc, axis=1)
    ranks[table.index.get_loc("voting")] = [4, 1, 2, 3]  # the paper's ranks for the printed tie
    np.testing.assert_allclose(ranks.mean(axis=0), [3.143, 2.000, 2.893, 1.964], atol=5e-4)
    n, k = auc.shape
    r = ranks.mean(axis=0)
    chi2 = 12 * n / (k * (k + 1)) * ((r**2).sum() - k * (k + 1) ** 2 / 4)
    f = (n - 1) * chi2 / (n * (k - 1) - chi2)
    assert round(chi2, 2) == 9.28 and round(f, 2) == 3.69
    assert stats.f.ppf(0.95, 3, 39) == pytest.approx(2.85, abs=5e-3)  # the paper's critical value
    # scipy on the same ranks (the voting row nudged to the paper's order): tie-corrected chi2.
    nudged = auc.copy()
    nudged[table.index.get_loc("voting"), 2] += 1e-4
    scipy_chi2 = stats.friedmanchisquare(*nudged.T).statistic
    ties = 3 * (2**3 - 2) + (4**3 - 4)  # three pairs and one four-way tie
    assert scipy_chi2 == pytest.approx(chi2 / (1 - ties / (n * (k**3 - k))), rel=1e-12)
    # Table 2: C4.5 against C4.5+m, zero differences split evenly: R+ = 93, R- = 12.
    res = stats.wilcoxon(np.round(table["C4.5+m"] - table["C4.5"], 3), zero_method="zsplit")
    assert res.statistic == 12.0
