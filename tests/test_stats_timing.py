"""Epoch-time statistics of `pernode timeit`: summaries, round orders, paired ratio
intervals, warnings and the record's derived columns. Fixed seeds throughout."""

import json
import math
from dataclasses import fields

import numpy as np
import pytest
from scipy import stats

from pernode_cli.errors import PernodeError
from pernode_cli.schema import TIMING_COLUMNS, TimingRecord
from pernode_cli.stats.timing import (
    CV_THRESHOLD,
    OUTLIER_Z,
    apply_ratios,
    cell_text,
    collect_warnings,
    cv_warning,
    load_warning,
    modified_zscores,
    outlier_warning,
    paired_ratio_interval,
    round_order,
    summarize,
    table_fields,
)

VARIANTS = ["Dropout", "DropConnect", "PerNodeBernoulli", "PerNodeGaussian"]


def _rounds(rng, n_rounds, ratio=1.5, drift=0.3, noise=0.3, mean=10.0):
    """Base and variant epoch times per round: both share the round's drift."""
    level = mean + rng.normal(0.0, drift, n_rounds)
    base = level + rng.normal(0.0, noise, n_rounds)
    variant = ratio * level + rng.normal(0.0, noise, n_rounds)
    return variant, base


# --- summarize -------------------------------------------------------------------


def test_summarize_excludes_warmup_hand_worked():
    s = summarize([9.0, 1.0, 2.0, 3.0, 6.0], warmup=1)
    assert s["warmup_s"] == [9.0] and s["n"] == 4
    assert s["mean_s"] == 3.0 and s["median_s"] == 2.5 and s["min_s"] == 1.0 and s["max_s"] == 6.0
    # sample standard deviation of 1, 2, 3, 6: sqrt((4 + 1 + 0 + 9) / 3)
    assert s["std_s"] == pytest.approx(math.sqrt(14 / 3), rel=1e-12)


def test_summarize_one_timed_epoch_has_no_std():
    s = summarize([5.0, 4.0], warmup=1)
    assert s["n"] == 1 and s["mean_s"] == 4.0 and s["std_s"] is None


def test_summarize_without_timed_epochs_names_arguments():
    with pytest.raises(PernodeError, match="`epochs` must exceed `warmup`") as info:
        summarize([1.0], warmup=1)
    assert "--" not in str(info.value)


# --- record and table ------------------------------------------------------------


def test_timing_columns_derived_from_record():
    assert TIMING_COLUMNS == [f.name for f in fields(TimingRecord)]
    old = ["timestamp", "dataset", "variant", "mean_s", "std_s", "median_s", "min_s", "max_s", "n",
           "warmup_s", "ratio_to_dropout", "peak_memory_bytes", "sampler", "rate", "units", "batch_size",
           "steps_per_epoch", "data", "jit_compile", "backend", "backend_version", "device", "machine",
           "pernode_version", "schema_version"]
    assert [c for c in TIMING_COLUMNS if c in old] == old  # existing fields keep their order
    new = {"ratio_ci_low", "ratio_ci_high", "indistinct_from_dropout", "epoch_seconds", "epoch_offsets_s",
           "warnings", "load_start", "load_end", "rounds", "realised_rate"}
    assert set(TIMING_COLUMNS) - set(old) == new
    assert TIMING_COLUMNS.index("ratio_ci_low") == TIMING_COLUMNS.index("ratio_to_dropout") + 1
    assert TIMING_COLUMNS[-2:] == ["pernode_version", "schema_version"]


def test_to_dict_is_strict_json():
    r = TimingRecord(variant="Dropout", mean_s=np.float64(2.0), std_s=float("nan"), n=np.int64(3),
                     ratio_ci_high=float("inf"), epoch_seconds=[1.0, float("nan"), np.float32(2.5)],
                     indistinct_from_dropout=True, warnings=["busy machine"])
    d = r.to_dict()
    back = json.loads(json.dumps(d, allow_nan=False))
    assert back["std_s"] is None and back["ratio_ci_high"] is None
    assert back["epoch_seconds"] == [1.0, None, 2.5] and back["n"] == 3 and back["mean_s"] == 2.0
    assert back["indistinct_from_dropout"] is True and back["warnings"] == ["busy machine"]
    assert list(d) == TIMING_COLUMNS
    assert TimingRecord().epoch_seconds is not TimingRecord().epoch_seconds  # no shared default list


def test_narrow_table_fits_80_columns():
    narrow = table_fields(narrow=True)
    assert [h for h, _, _ in narrow] == ["Variant", "Mean (s)", "ms/step", "n", "x Dropout", "95% CI"]
    assert {h for h, _, _ in table_fields()} > {h for h, _, _ in narrow} | {"Median", "Peak mem (MiB)"}
    r = TimingRecord(variant="PerNodePartialGaussian_Fixed", mean_s=999.999, std_s=99.999, n=100,
                     ratio_to_dropout=12.345, ratio_ci_low=11.0, ratio_ci_high=13.999, steps_per_epoch=391)
    cells = [cell_text(r, name) for _, name, _ in narrow]
    assert cells[-1] == "[11.00, 14.00]"
    # columns as wide as header or cell, two spaces between (a plain terminal table)
    width = sum(max(len(h), len(c)) for (h, _, _), c in zip(narrow, cells)) + 2 * (len(cells) - 1)
    assert width <= 80


def test_cell_text_missing_values_and_units():
    r = TimingRecord(variant="Dropout", peak_memory_bytes=3 * 2**20, warmup_s=[1.234, 2.0], ratio_ci_low=0.9)
    assert cell_text(r, "std_s") == "n/a"
    assert cell_text(r, "ratio_ci_low") == "n/a"  # one bound alone is no interval
    assert cell_text(r, "peak_memory_bytes") == "3"
    assert cell_text(r, "warmup_s") == "1.23, 2.00"
    assert cell_text(TimingRecord(), "warmup_s") == "-"


# --- round order ------------------------------------------------------------------


def test_round_order_is_a_deterministic_permutation():
    orders = [round_order(VARIANTS, r, seed=7) for r in range(40)]
    assert all(sorted(o) == sorted(VARIANTS) for o in orders)
    assert orders == [round_order(VARIANTS, r, seed=7) for r in range(40)]
    assert round_order(VARIANTS, 13, seed=7) == orders[13]  # any round recomputed alone
    assert len({tuple(o) for o in orders}) >= 12  # 24 orders possible; rounds differ
    assert [round_order(VARIANTS, r, seed=8) for r in range(40)] != orders
    assert round_order(VARIANTS, 0, seed=7) is not VARIANTS and VARIANTS[0] == "Dropout"


def test_round_order_positions_are_uniform():
    n_rounds = 2000
    counts = np.zeros((len(VARIANTS), len(VARIANTS)))
    for r in range(n_rounds):
        for pos, v in enumerate(round_order(VARIANTS, r, seed=3)):
            counts[VARIANTS.index(v), pos] += 1
    expected = n_rounds / len(VARIANTS)
    # chi-square on the variant x position table: (k-1)^2 = 9 degrees of freedom
    chi2 = ((counts - expected) ** 2 / expected).sum()
    assert stats.chi2.sf(chi2, df=9) > 0.01
    # and no cell strays 4 binomial standard deviations (sqrt(2000 x 1/4 x 3/4) = 19.4)
    assert np.abs(counts - expected).max() < 4 * math.sqrt(n_rounds * 0.25 * 0.75)


def test_round_order_rejects_negative_seed():
    with pytest.raises(PernodeError, match="`seed`"):
        round_order(VARIANTS, 0, seed=-1)


# --- paired bootstrap -------------------------------------------------------------


def test_interval_holds_known_ratio_and_is_narrow():
    variant, base = _rounds(np.random.default_rng(11), 30)
    ratio, low, high = paired_ratio_interval(list(variant), list(base), seed=1)
    assert ratio == pytest.approx(variant.mean() / base.mean(), rel=1e-12)
    assert low < ratio < high
    assert low <= 1.5 <= high
    assert high - low < 0.08


def test_pairing_cancels_shared_drift():
    # strong drift shared within each round, little noise of its own
    variant, base = _rounds(np.random.default_rng(5), 30, drift=1.0, noise=0.05)
    _, lo_p, hi_p = paired_ratio_interval(variant, base, seed=2)
    _, lo_u, hi_u = paired_ratio_interval(variant, base, seed=2, paired=False)
    assert lo_p <= 1.5 <= hi_p and lo_u <= 1.5 <= hi_u
    assert hi_p - lo_p < 0.25 * (hi_u - lo_u)


def test_exact_ratio_per_round_gives_a_point_interval():
    base = np.random.default_rng(0).uniform(5.0, 15.0, 20)
    _, low, high = paired_ratio_interval(2.0 * base, base, n_boot=300)
    assert low == pytest.approx(2.0, abs=1e-12) and high == pytest.approx(2.0, abs=1e-12)
    _, low_u, high_u = paired_ratio_interval(2.0 * base, base, n_boot=300, paired=False)
    assert high_u - low_u > 0.1


def test_interval_coverage():
    rng = np.random.default_rng(2024)
    covered = 0
    for k in range(200):
        variant, base = _rounds(rng, 40)
        _, low, high = paired_ratio_interval(variant, base, n_boot=500, seed=k)
        covered += low <= 1.5 <= high
    assert 0.90 <= covered / 200 <= 0.99


def test_interval_edge_cases():
    assert paired_ratio_interval([3.0], [2.0]) == (1.5, None, None)
    with pytest.raises(PernodeError, match="same rounds"):
        paired_ratio_interval([1.0, 2.0], [1.0, 2.0, 3.0])
    with pytest.raises(PernodeError, match="`times`"):
        paired_ratio_interval([1.0, float("nan")], [1.0, 2.0])
    with pytest.raises(PernodeError, match="`level`"):
        paired_ratio_interval([1.0, 2.0], [1.0, 2.0], level=1.0)
    a = paired_ratio_interval([3.0, 4.0, 5.0], [2.0, 2.5, 3.0], seed=4)
    assert a == paired_ratio_interval([3.0, 4.0, 5.0], [2.0, 2.5, 3.0], seed=4)


# --- ratios on records ------------------------------------------------------------


def _timed(dataset, variant, epochs):
    return TimingRecord(dataset=dataset, variant=variant, mean_s=float(np.mean(epochs)),
                        n=len(epochs), epoch_seconds=list(epochs), rounds=len(epochs))


def test_apply_ratios_intervals_and_reference():
    variant, base = _rounds(np.random.default_rng(9), 20)
    same = base * 1.002 + np.random.default_rng(10).normal(0.0, 0.05, 20)
    records = apply_ratios([_timed("a", "Dropout", base), _timed("a", "PerNodeBernoulli", variant),
                            _timed("a", "Dense", same), _timed("b", "Dense", base),
                            _timed("a", "DropConnect", variant[:10])], n_boot=1000)
    drop, pnb, dense, other, short = records
    assert drop.ratio_to_dropout == 1.0 and drop.ratio_ci_low is None and drop.ratio_ci_high is None
    assert drop.indistinct_from_dropout is None
    assert pnb.ratio_to_dropout == pytest.approx(variant.mean() / base.mean(), rel=1e-12)
    assert pnb.ratio_ci_low < pnb.ratio_to_dropout < pnb.ratio_ci_high
    assert pnb.ratio_ci_low <= 1.5 <= pnb.ratio_ci_high and pnb.indistinct_from_dropout is False
    assert dense.ratio_ci_low <= 1.0 <= dense.ratio_ci_high and dense.indistinct_from_dropout is True
    assert other.ratio_to_dropout is None and other.ratio_ci_low is None and other.indistinct_from_dropout is None
    # rounds that do not line up are not paired: ratio only
    assert short.ratio_to_dropout is not None and short.ratio_ci_low is None
    json.dumps([r.to_dict() for r in records], allow_nan=False)


def test_apply_ratios_without_epoch_lists():
    def rec(dataset, variant, mean):
        return TimingRecord(dataset=dataset, variant=variant, mean_s=mean)

    records = apply_ratios([rec("a", "Dropout", 2.0), rec("a", "PerNodeBernoulli", 5.0), rec("b", "Dense", 1.0)])
    assert [r.ratio_to_dropout for r in records] == [1.0, 2.5, None]
    assert all(r.ratio_ci_low is None and r.ratio_ci_high is None for r in records)


# --- warnings ---------------------------------------------------------------------


def _clean(n=20, seed=0):
    return list(10.0 + np.random.default_rng(seed).normal(0.0, 0.05, n))


def test_outlier_warning():
    assert outlier_warning(_clean()) is None
    slow = _clean()
    slow[7] = 12.0  # one epoch 20 % slow, 40 standard deviations out
    message = outlier_warning(slow)
    assert message is not None and message.startswith("1 of 20 timed epochs") and "\n" not in message
    assert modified_zscores(slow)[7] > OUTLIER_Z


def test_outlier_warning_when_mad_is_zero():
    assert outlier_warning([10.0] * 7 + [100.0]).startswith("1 of 8")
    assert outlier_warning([10.0] * 7 + [100.0, 100.0]).startswith("2 of 9")
    assert outlier_warning([10.0] * 7 + [10.001]) is None  # within the MAD floor
    assert outlier_warning([10.0] * 5) is None
    assert outlier_warning([4.0]) is None and outlier_warning([]) is None


def test_cv_warning():
    assert cv_warning(_clean()) is None
    noisy = [8.0, 12.0, 10.0, 9.0, 11.0, 13.0]  # std / mean = sqrt(3.5) / 10.5 = 0.178
    assert np.std(noisy, ddof=1) / np.mean(noisy) > CV_THRESHOLD
    message = cv_warning(noisy)
    assert message is not None and "18%" in message
    assert cv_warning([10.0]) is None


def test_load_warning():
    assert load_warning(2.0, 3.5, cores=4) is None
    assert load_warning(None, None, cores=4) is None
    start = load_warning(6.2, 1.0, cores=4)
    assert start is not None and "start 6.2" in start and "end" not in start
    end = load_warning(1.0, 4.5, cores=4)
    assert end is not None and "end 4.5" in end and "start" not in end
    assert load_warning(4.0, 4.0, cores=4) is None  # at the core count, not above
    with pytest.raises(PernodeError, match="`cores`"):
        load_warning(1.0, 1.0, cores=0)


def test_collect_warnings():
    clean = TimingRecord(epoch_seconds=_clean(), load_start=0.5, load_end=0.7)
    assert collect_warnings(clean, cores=8) == []
    busy = TimingRecord(epoch_seconds=[8.0, 12.0, 10.0, 9.0, 11.0, 13.0], load_start=9.0, load_end=0.5)
    found = collect_warnings(busy, cores=8)
    assert len(found) == 2 and "vary by" in found[0] and "busy machine" in found[1]
    assert collect_warnings(busy, cores=None) == found[:1]
