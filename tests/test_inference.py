"""Inference that holds at the sizes real studies have: every printed p-value's level by
enumeration, answers independent of row order and files, the metric's direction never
guessed, best-epoch selection separated from measurement, and data sets as blocks.

Calibration is counted on simulated nulls (fixed seeds, stated tolerances)."""

import itertools
import json

import numpy as np
import pandas as pd
import pytest
from scipy.stats import chi2 as chi2_dist
from scipy.stats import rankdata
from typer.testing import CliRunner

from pernode_cli.cli import app
from pernode_cli.stats import procedures as proc
from pernode_cli.stats.blocks import exact_mean
from pernode_cli.stats.ranking import rank_logs
from tests.logs_factory import log_rows, write_log

runner = CliRunner()
ALPHA = 0.05


def _null_patterns(n, k):
    """Every within-block rank pattern with block 1 fixed (the statistic is label-free), as
    (sum of squared rank sums -> count)."""
    base = np.arange(1, k + 1, dtype=float)
    perms = np.array(list(itertools.permutations(base)))
    sums = np.tile(base, (1, 1))
    for _ in range(n - 1):
        sums = (sums[:, None, :] + perms[None, :, :]).reshape(-1, k)
    ss = np.rint((sums**2).sum(axis=1)).astype(np.int64)
    values, counts = np.unique(ss, return_counts=True)
    return values, counts / counts.sum(), sums


@pytest.mark.parametrize("n, k", [(2, 3), (3, 3), (4, 3), (5, 3), (6, 3), (2, 4), (3, 4), (4, 4), (2, 5), (3, 5)])
def test_every_friedman_p_holds_its_level_by_enumeration(n, k):
    values, probs, sums = _null_patterns(n, k)
    ss_all = np.rint((sums**2).sum(axis=1)).astype(np.int64)
    level = chi_level = id_level = 0.0
    for v, p_v in zip(values, probs):
        # A data matrix with exactly this pattern's rank sums: rebuild one pattern's blocks.
        i = int(np.argmax(ss_all == v))
        m = _pattern_matrix(i, n, k)
        f = proc.friedman(m, maximize=False, resamples=4999)
        level += p_v * (f.p <= ALPHA)
        chi2 = 12.0 / (n * k * (k + 1)) * v - 3 * n * (k + 1)
        chi_level += p_v * (chi2_dist.sf(chi2, k - 1) <= ALPHA)
        most = n * (k - 1)
        fval = np.inf if most - chi2 <= 1e-9 else (n - 1) * chi2 / (most - chi2)
        from scipy.stats import f as f_dist

        id_level += p_v * ((0.0 if np.isinf(fval) else f_dist.sf(fval, k - 1, (k - 1) * (n - 1))) <= ALPHA)
    slack = 0.0 if f.method == "exact" else 0.01  # permutation: its own Monte Carlo error
    assert level <= ALPHA + slack + 1e-12, (n, k, level, f.method)
    if (n, k) == (3, 3):  # the enumeration above: Iman-Davenport's F rejects 0.194 of nulls at 3 blocks, k = 3
        assert id_level == pytest.approx(0.194, abs=0.001) and level <= ALPHA


def _pattern_matrix(index, n, k):
    """Block ranks of pattern ``index`` in ``_null_patterns``' order (block 1 = 1..k)."""
    perms = list(itertools.permutations(range(1, k + 1)))
    rows = [list(range(1, k + 1))]
    digits = []
    for _ in range(n - 1):
        index, d = divmod(index, len(perms))
        digits.append(d)
    for d in reversed(digits):
        rows.append(list(perms[d]))
    return np.array(rows, dtype=float)


def test_every_signed_rank_p_holds_its_level_by_enumeration():
    for n in range(1, 13):
        ranks = np.arange(1, n + 1, dtype=float)
        level = 0.0
        for signs in itertools.product((-1.0, 1.0), repeat=n):
            level += (proc.signed_rank(ranks * np.array(signs)).p <= ALPHA) / 2**n
        assert level <= ALPHA + 1e-12, (n, level)
        assert proc.min_signed_rank_p(n) == pytest.approx(min(1.0, 2.0 ** (1 - n)))


def test_permutation_p_is_valid_under_the_null():
    rng = np.random.default_rng(11)
    ps = [proc.friedman(rng.normal(size=(10, 8)), False, resamples=499, seed=int(s)).p for s in range(300)]
    assert proc.friedman(rng.normal(size=(10, 8)), False).method == "permutation"
    assert np.mean(np.array(ps) <= ALPHA) <= 0.05 + 2 * np.sqrt(0.05 * 0.95 / 300)


def test_beyond_the_permutation_range_no_p_is_zero():
    # Every block ranks alike: F is infinite and its tail 0; the most extreme untied pattern
    # has probability (k!)^-(n-1).
    n = proc.PERMUTATION_MAX_BLOCKS + 1
    alike = proc.friedman(np.tile([0.1, 0.2, 0.3], (n, 1)), False)
    assert alike.method == "iman-davenport" and alike.iman_davenport_f is None
    assert alike.p == pytest.approx(6.0 ** -(n - 1), rel=1e-9) and alike.p > 0
    assert proc.friedman(np.tile(np.arange(8.0), (300, 1)), False).p > 0  # below every double: the smallest one
    assert proc.blocks_needed_for_family(28, 1e-320) == 1069  # 2m/alpha overflows a double; its log does not


def test_exact_means_decide_ties_on_the_csv_values():
    assert exact_mean([0.1, 0.2]) == exact_mean([0.15, 0.15]) == 0.15
    assert (0.1 + 0.2) / 2 != 0.15  # a float mean would break that tie
    assert exact_mean([1.9, 1.9, 1.9]) == 1.9 and exact_mean([3.0, 1.9, 0.8]) == 1.9


def test_same_rows_in_any_order_and_any_split_into_files_give_the_same_output(tmp_path):
    rows = log_rows(variants=("A", "B", "C"), rates=(0.1, 0.2, 0.3, 0.4, 0.5, 0.6), seeds=(0, 1), epochs=3, seed=7)
    frame = pd.DataFrame(rows)
    # Two variants whose seed means are equal on the CSV's decimals but not as float sums.
    last = frame["epoch"] == 3
    for rate in (0.1, 0.2, 0.3):
        for variant, seeds in (("A", (0.1, 0.2)), ("B", (0.15, 0.15))):
            for s, value in zip((0, 1), seeds):
                sel = last & (frame.variant == variant) & (frame.rate == rate) & (frame.seed == s)
                frame.loc[sel, "test_loss"] = value
    frame.loc[~last, "val_loss"] += 1.0  # the last epoch is every run's best on validation
    write_log(tmp_path / "all.csv", frame.to_dict("records"))
    shuffled = frame.sample(frac=1.0, random_state=3).reset_index(drop=True)
    half = len(shuffled) // 2
    write_log(tmp_path / "p1.csv", shuffled.iloc[:half].to_dict("records"))
    write_log(tmp_path / "p2.csv", shuffled.iloc[half:].to_dict("records"))
    outputs = []
    for files in (["all.csv"], ["p1.csv", "p2.csv"], ["p2.csv", "p1.csv"]):
        res = runner.invoke(app, ["rank", *[str(tmp_path / f) for f in files], "--format", "json"])
        assert res.exit_code == 0, res.output
        outputs.append(res.stdout)
    assert outputs[0] == outputs[1] == outputs[2]
    (d,) = json.loads(outputs[0])["datasets"]
    a_b = next(t for t in d["posthoc"]["pairs"] if {t["a"], t["b"]} == {"A", "B"})
    # The three tied blocks are zero differences, dropped (wilcox): three blocks carry a sign.
    assert a_b["n_used"] == 3


def test_direction_is_known_or_given_never_guessed(tmp_path):
    frame = pd.DataFrame(log_rows(variants=("A", "B", "C"), rates=(0.1, 0.2, 0.3), epochs=2))
    frame["auc"] = 1.0 - frame["val_loss"] / 3
    frame["myscore"] = frame["auc"]
    write_log(tmp_path / "l.csv", frame.to_dict("records"), columns=list(frame.columns))
    auc = json.loads(runner.invoke(app, ["rank", str(tmp_path / "l.csv"), "--metric", "auc",
                                         "--format", "json"]).stdout)
    low = json.loads(runner.invoke(app, ["rank", str(tmp_path / "l.csv"), "--metric", "val_loss",
                                        "--format", "json"]).stdout)
    (a,), (lo,) = auc["datasets"], low["datasets"]
    assert a["direction"] == "maximize" and lo["direction"] == "minimize"
    assert [v["variant"] for v in a["variants"]] == [v["variant"] for v in lo["variants"]]  # same order: best first
    refused = runner.invoke(app, ["rank", str(tmp_path / "l.csv"), "--metric", "myscore"])
    assert refused.exit_code == 2 and len(refused.output.strip().splitlines()) == 1
    assert "--maximize" in refused.output and "--minimize" in refused.output
    given = runner.invoke(app, ["rank", str(tmp_path / "l.csv"), "--metric", "myscore", "--maximize"])
    assert given.exit_code == 0 and "higher is better" in given.stdout


def _friedman_p_many(values):
    """Friedman chi-square p of many (n, k) matrices at once (the approximation is within 0.005
    of the exact level at 20 blocks and keeps thousands of simulated logs fast)."""
    r = rankdata(values, axis=-1)
    n, k = values.shape[-2:]
    chi2 = 12.0 / (n * k * (k + 1)) * (r.sum(axis=-2) ** 2).sum(axis=-1) - 3 * n * (k + 1)
    return chi2_dist.sf(chi2, k - 1)


def test_best_epoch_on_the_compared_metric_favours_noisy_variants_and_a_test_split_does_not():
    rng = np.random.default_rng(2026)
    sims, n, k, epochs = 2000, 20, 3, 10
    curve = 0.5 + 1.0 / np.arange(1, epochs + 1)
    sigma = np.array([0.1, 0.1, 0.2])  # variant 2: twice the epoch-to-epoch noise, the same mean
    run = rng.normal(0, 0.05, (sims, n, k, 1)) + rng.normal(0, 0.3, (sims, n, 1, 1))
    val = curve + run + sigma[:, None] * rng.normal(size=(sims, n, k, epochs))
    test = curve + run + sigma[:, None] * rng.normal(size=(sims, n, k, epochs))
    best = val.argmin(axis=-1)
    same = val.min(axis=-1)  # best epoch chosen on the metric compared
    separated = np.take_along_axis(test, best[..., None], axis=-1)[..., 0]  # chosen on val, compared on test
    same_rate = np.mean(_friedman_p_many(same) <= ALPHA)
    separated_rate = np.mean(_friedman_p_many(separated) <= ALPHA)
    first = np.mean(rankdata(same, axis=-1).mean(axis=1).argmin(axis=-1) == 2)
    print(f"noisy-variant null: same metric {same_rate:.3f}, separated {separated_rate:.3f}, noisy first {first:.2f}")
    assert same_rate > 0.5 and first > 0.9  # the selection bias the default avoids
    assert separated_rate <= ALPHA + 2 * np.sqrt(ALPHA * (1 - ALPHA) / sims)


def test_data_sets_as_blocks_hold_their_level_under_an_interaction_only_null():
    rng = np.random.default_rng(99)
    sims, datasets, k, configs = 400, 6, 3, 10
    rejected_demsar, pooled = 0, []
    for _ in range(sims):
        interaction = rng.normal(0, 1.0, (datasets, 1, k))  # variant x data set, no overall variant effect
        values = rng.normal(0, 1, (datasets, configs, 1)) + interaction + rng.normal(0, 0.1, (datasets, configs, k))
        per_dataset = np.array([[exact_mean(values[d, :, j]) for j in range(k)] for d in range(datasets)])
        rejected_demsar += proc.friedman(per_dataset, False).p <= ALPHA
        pooled.append(values.reshape(datasets * configs, k))
    pooled_rate = np.mean(_friedman_p_many(np.array(pooled)) <= ALPHA)
    demsar_rate = rejected_demsar / sims
    print(f"interaction-only null: data sets as blocks {demsar_rate:.3f}, pooled configurations {pooled_rate:.3f}")
    assert demsar_rate <= ALPHA + 2 * np.sqrt(ALPHA * (1 - ALPHA) / sims)
    assert pooled_rate > 0.5


def test_the_whole_path_agrees_with_the_procedures():
    frame = pd.DataFrame(log_rows(variants=("A", "B", "C", "D"), rates=(0.1, 0.2, 0.3, 0.4, 0.5), seeds=(0, 1)))
    (d,) = rank_logs(frame).datasets
    assert d.metric == "test_loss" and d.select_on == "val_loss" and d.select == "best"
    assert d.design == "configs" and d.blocks.n == 5 and d.omnibus.method == "exact"
    assert d.omnibus.p is not None and 0 < d.omnibus.p <= 1


@pytest.mark.parametrize("n, k", [(5, 4), (12, 3), (20, 4), (8, 6)])
def test_the_planners_friedman_p_is_the_rankings(n, k):
    """``friedman_p_stack`` (the planner's omnibus test) gives the ranking's p-value: equal where it
    is exact, within the permutation p-value's Monte Carlo error elsewhere; a null keeps its level."""
    rng = np.random.default_rng(n * 10 + k)
    m = rng.normal(size=(300, n, k))
    m[:100, :, 0] += 0.8  # some with an effect
    got = proc.friedman_p_stack(m)
    want = np.array([proc.friedman(x, False).p for x in m[:60]])
    method = proc.friedman(m[0], False).method
    tol = 1e-12 if method == "exact" else 4 * np.sqrt(0.25 / proc.PERMUTATION_RESAMPLES) * 2
    np.testing.assert_allclose(got[:60], want, atol=tol)
    assert proc.friedman_p_stack(m[0]) == pytest.approx(got[0], abs=1e-15)  # one matrix
    null = proc.friedman_p_stack(rng.normal(size=(4000, n, k)))
    assert (null <= ALPHA).mean() <= ALPHA + 2 * np.sqrt(ALPHA * (1 - ALPHA) / 4000)
