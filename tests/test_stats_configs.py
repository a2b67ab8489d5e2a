"""Configuration-blocked ranking: hand-worked statistics, block building, calibration."""

import json
import math
from dataclasses import FrozenInstanceError

import numpy as np
import pandas as pd
import pytest
from scipy.stats import f as f_dist
from scipy.stats import friedmanchisquare, wilcoxon

from pernode_cli.errors import PernodeError
from pernode_cli.stats.configs import (
    block_statistics,
    count_complete_blocks,
    holm,
    rank_configs,
    seed_summary,
    select_epoch,
)
from pernode_cli.stats.ranking import rank_matrix

# Hand-worked blocks (rows) x variants A, B, C of a loss; dyadic values so differences are
# exact. Within-block ranks: A 1,2,1,1 (sum 5), B 2,1,3,2 (8), C 3,3,2,3 (11).
HAND = np.array([
    [0.25, 0.375, 0.5],
    [0.375, 0.25, 0.5],
    [0.125, 0.25, 0.1875],
    [0.5, 0.625, 0.8125],
])


def frame_from_blocks(matrix, variants=("A", "B", "C"), dataset="d", metric="val_loss"):
    """One single-epoch run per cell: block i is rate i / 10."""
    rows = [
        {"run_id": f"{dataset}-{i}-{v}", "dataset": dataset, "variant": v, "rate": i / 10, "seed": 0,
         "epoch": 1, metric: float(matrix[i, j]), "status": "ok"}
        for i in range(matrix.shape[0]) for j, v in enumerate(variants)
    ]
    return pd.DataFrame(rows)


def grid_frame(variants=("A", "B", "C"), rates=(0.1, 0.2, 0.3, 0.4), seeds=(0,), datasets=("d",), seed=0):
    """Random single-epoch runs over a full grid."""
    rng = np.random.default_rng(seed)
    rows = [
        {"run_id": f"{d}-{v}-{r}-{s}", "dataset": d, "variant": v, "rate": r, "units": 64, "seed": s,
         "epoch": 1, "val_loss": float(rng.random()), "status": "ok"}
        for d in datasets for v in variants for r in rates for s in seeds
    ]
    return pd.DataFrame(rows)


def test_hand_worked_friedman_iman_davenport_and_ranks():
    (r,) = rank_configs(frame_from_blocks(HAND))
    chi2 = 12 / (4 * 3 * 4) * (5**2 + 8**2 + 11**2) - 3 * 4 * 4  # 4.5
    assert chi2 == pytest.approx(4.5)
    assert r.chi2 == pytest.approx(chi2, abs=1e-12)
    ref = friedmanchisquare(*HAND.T)
    assert r.chi2 == pytest.approx(ref.statistic, abs=1e-12) and r.p == pytest.approx(ref.pvalue, abs=1e-12)
    assert r.p == pytest.approx(math.exp(-4.5 / 2), abs=1e-12)  # chi-square, 2 df
    assert r.iman_davenport_f == pytest.approx(3 * 4.5 / (8 - 4.5), abs=1e-12)
    assert r.iman_davenport_p == pytest.approx(f_dist.sf(13.5 / 3.5, 2, 6), abs=1e-12)
    assert r.kendall_w == pytest.approx(4.5 / 8, abs=1e-12)
    assert [(v.variant, v.mean_rank) for v in r.variants] == [("A", 1.25), ("B", 2.0), ("C", 2.75)]
    assert [v.median for v in r.variants] == pytest.approx([0.3125, 0.3125, 0.5], abs=1e-12)
    assert (r.n_blocks, r.k, r.dropped_blocks, r.design, r.block_columns) == (4, 3, 0, "configs", ("rate",))
    assert r.critical_difference == pytest.approx(2.344 * math.sqrt(3 * 4 / (6 * 4)), abs=1e-3)
    with pytest.raises(FrozenInstanceError):
        r.p = 0.0


def test_hand_worked_pairwise_medians_wilcoxon_and_holm():
    (r,) = rank_configs(frame_from_blocks(HAND))
    pairs = {(t.a, t.b): t for t in r.pairwise}
    assert list(pairs) == [("A", "B"), ("A", "C"), ("B", "C")]  # a ranked before b
    # A - B = -1/8, 1/8, -1/8, -1/8; A - C = -1/4, -1/8, -1/16, -5/16; B - C = -1/8, -1/4, 1/16, -3/16
    assert [t.median_difference for t in pairs.values()] == pytest.approx([-0.125, -0.1875, -0.15625], abs=1e-12)
    # A - C: all four negative, distinct: W = 0, exact two-sided p = 2 / 2^4.
    assert (pairs["A", "C"].statistic, pairs["A", "C"].p) == pytest.approx((0.0, 0.125), abs=1e-12)
    # B - C: the one positive difference has the smallest |d|: W+ = 1, P(W <= 1) = 2/16, twice.
    assert (pairs["B", "C"].statistic, pairs["B", "C"].p) == pytest.approx((1.0, 0.25), abs=1e-12)
    ref = wilcoxon(HAND[:, 0] - HAND[:, 1])
    assert (pairs["A", "B"].statistic, pairs["A", "B"].p) == pytest.approx((ref.statistic, ref.pvalue), abs=1e-12)
    p = [pairs["A", "B"].p, 0.125, 0.25]
    s = sorted(p)
    step = [min(1, 3 * s[0]), min(1, max(3 * s[0], 2 * s[1])), min(1, max(3 * s[0], 2 * s[1], s[2]))]
    expected = [step[sorted(range(3), key=lambda i: p[i]).index(i)] for i in range(3)]
    assert [t.p_holm for t in pairs.values()] == pytest.approx(expected, abs=1e-12)


def test_holm_hand_worked():
    assert holm([0.01, 0.04, 0.03]) == pytest.approx((0.03, 0.06, 0.06), abs=1e-12)
    assert holm([0.02, 0.011]) == pytest.approx((0.022, 0.022), abs=1e-12)  # monotone
    assert holm([0.5, 0.6, 0.9]) == pytest.approx((1.0, 1.0, 1.0), abs=1e-12)  # capped at 1
    assert holm([]) == ()


def epoch_frame(shuffle_seed=3):
    """3 variants x 2 rates x 4 epochs; loss best at epoch 2, last at 4; accuracy best at 3."""
    loss = [0.9, 0.5, 0.7, 0.8]
    acc = [0.2, 0.6, 0.9, 0.4]
    rows = [
        {"run_id": f"{v}{b}", "dataset": "d", "variant": v, "rate": b / 10, "epoch": e + 1,
         "val_loss": loss[e] + 0.01 * j + 0.1 * b, "val_acc": acc[e] + 0.01 * j - 0.1 * b}
        for j, v in enumerate("ABC") for b in range(2) for e in range(4)
    ]
    frame = pd.DataFrame(rows)
    return frame.sample(frac=1.0, random_state=shuffle_seed).reset_index(drop=True)  # row order must not matter


def test_select_best_and_last_pick_the_right_epoch():
    frame = epoch_frame()
    med = lambda r: {v.variant: v.median for v in r.variants}  # noqa: E731
    (best,) = rank_configs(frame, "val_loss", select="best")
    (last,) = rank_configs(frame, "val_loss", select="last")
    # Median of two blocks = mean of the block values: epoch value + 0.01 j + 0.05.
    assert med(best) == pytest.approx({"A": 0.55, "B": 0.56, "C": 0.57}, abs=1e-12)
    assert med(last) == pytest.approx({"A": 0.85, "B": 0.86, "C": 0.87}, abs=1e-12)
    assert [v.variant for v in best.variants] == ["A", "B", "C"]  # lowest loss ranks first
    (acc,) = rank_configs(frame, "val_acc", select="best")
    assert med(acc) == pytest.approx({"A": 0.85, "B": 0.86, "C": 0.87}, abs=1e-12)
    assert [(v.variant, v.mean_rank) for v in acc.variants] == [("C", 1.0), ("B", 2.0), ("A", 3.0)]
    (acc_last,) = rank_configs(frame, "val_acc", select="last")
    assert med(acc_last) == pytest.approx({"A": 0.35, "B": 0.36, "C": 0.37}, abs=1e-12)
    curves = np.array([[0.9, 0.5, 0.7, 0.8]])
    assert select_epoch(curves, "best")[0] == 0.5 and select_epoch(curves, "last")[0] == 0.8
    assert select_epoch(curves, "best", maximize=True)[0] == 0.9


def test_incomplete_blocks_are_dropped_and_counted():
    frame = grid_frame(rates=(0.1, 0.2, 0.3, 0.4))
    frame = frame[~((frame.variant == "C") & (frame.rate == 0.4))]
    only_d = pd.DataFrame([{"dataset": "d", "variant": "D", "rate": 0.9, "units": 64, "seed": 0, "epoch": 1,
                            "val_loss": 0.1, "status": "ok"}])
    frame = pd.concat([frame, only_d], ignore_index=True)
    (r,) = rank_configs(frame, variants=["A", "B", "C"])
    assert (r.n_blocks, r.dropped_blocks, r.k) == (3, 1, 3)  # rate 0.9 holds no ranked variant
    with pytest.raises(PernodeError, match="0 complete block"):
        rank_configs(frame)  # D ranked too: no block holds all four
    assert count_complete_blocks(frame, variants=["A", "B", "C"]) == {"d": 3}


def test_diverged_rows_are_left_out():
    frame = grid_frame()
    bad = frame.iloc[[0]].assign(val_loss=float("nan"), status="nonfinite", epoch=2)
    worse = frame.iloc[[1]].assign(val_loss=-100.0, status="nonfinite", epoch=2)
    (clean,) = rank_configs(frame)
    (mixed,) = rank_configs(pd.concat([frame, bad, worse], ignore_index=True))
    assert mixed.to_dict() == clean.to_dict()


def test_seeds_average_or_blocks():
    frame = grid_frame(rates=(0.1, 0.2, 0.3, 0.4), seeds=(0, 1, 2))
    (avg,) = rank_configs(frame, seeds="average")
    (blocks,) = rank_configs(frame, seeds="blocks")
    assert (avg.n_blocks, blocks.n_blocks) == (4, 12)
    assert avg.block_columns == ("rate", "units") and blocks.block_columns == ("rate", "units", "seed")
    by_rate = frame[frame.variant == "A"].groupby("rate")["val_loss"].mean()
    assert {v.variant: v.median for v in avg.variants}["A"] == pytest.approx(float(by_rate.median()), abs=1e-12)
    summary = seed_summary(frame, "val_loss", False)
    assert len(summary) == 3 * 4 and set(summary["n_seeds"]) == {3}
    row = summary[(summary.variant == "A") & (summary.rate == 0.1)].iloc[0]
    vals = frame[(frame.variant == "A") & (frame.rate == 0.1)]["val_loss"].to_numpy()
    half = 4.302653 * vals.std(ddof=1) / math.sqrt(3)  # t(0.975, 2 df)
    assert row["mean"] == pytest.approx(vals.mean(), abs=1e-12)
    assert (row["ci_low"], row["ci_high"]) == pytest.approx((vals.mean() - half, vals.mean() + half), abs=1e-5)


def test_across_datasets_pools_blocks_and_control_limits_pairs():
    frame = grid_frame(variants=("A", "B", "C", "D"), datasets=("zeta", "alpha"))
    per = rank_configs(frame)
    assert [r.dataset for r in per] == ["alpha", "zeta"] and [r.n_blocks for r in per] == [4, 4]
    assert [len(r.pairwise) for r in per] == [6, 6]
    (pooled,) = rank_configs(frame, across_datasets=True, control="B")
    assert pooled.n_blocks == 8 and pooled.dataset == "all data sets" and pooled.control == "B"
    assert len(pooled.pairwise) == 3 and {t.b for t in pooled.pairwise} == {"B"}
    assert {t.a for t in pooled.pairwise} == {"A", "C", "D"}
    assert count_complete_blocks(frame, across_datasets=True) == {"all data sets": 8}


def test_to_dict_has_no_nan_or_inf():
    tied = np.array([[0.5, 0.5, 0.5], [0.2, 0.3, 0.4], [0.1, 0.2, 0.3]])  # block 1 all tied
    (r,) = rank_configs(frame_from_blocks(tied))
    assert 0 < r.p < 1 and r.iman_davenport_f > 0
    json.dumps(r.to_dict(), allow_nan=False)
    alike = np.array([[0.1, 0.2, 0.3], [0.2, 0.3, 0.4]])  # every block ranks alike: F infinite
    (r,) = rank_configs(frame_from_blocks(alike))
    assert r.kendall_w == pytest.approx(1.0) and math.isinf(r.iman_davenport_f) and r.iman_davenport_p == 0.0
    d = r.to_dict()
    assert d["iman_davenport_f"] is None and isinstance(d["variants"], list)
    json.dumps(d, allow_nan=False)
    (r,) = rank_configs(frame_from_blocks(np.full((3, 3), 0.5)))  # all tied
    assert (r.chi2, r.p, r.kendall_w) == (0.0, 1.0, 0.0) and all(t.p == 1.0 for t in r.pairwise)
    json.dumps(r.to_dict(), allow_nan=False)
    summary = seed_summary(grid_frame(), "val_loss", False)  # one seed: no spread
    assert summary["std"].isna().all() and summary["ci_low"].isna().all()
    records = summary.to_dict("records")
    assert all(rec["ci_low"] is None and rec["std"] is None for rec in records)
    json.dumps(records, allow_nan=False)


@pytest.mark.parametrize(
    "kwargs, frame, needle",
    [
        ({}, grid_frame(variants=("A", "B")), "at least 3"),
        ({}, grid_frame(rates=(0.1,)), "at least 2"),
        ({"control": "Z"}, grid_frame(), "`control`"),
        ({"select": "mean"}, grid_frame(), "`select`"),
        ({"seeds": "pool"}, grid_frame(), "`seeds`"),
        ({"variants": ["A", "B", "Z"]}, grid_frame(), "`variants`"),
        ({"metric": "val_ece"}, grid_frame(), "`metric`"),
    ],
)
def test_bad_input_names_the_argument(kwargs, frame, needle):
    with pytest.raises(PernodeError) as err:
        rank_configs(frame, **kwargs)
    msg = str(err.value)
    assert needle in msg and "--" not in msg, msg
    assert "`" in msg, msg  # every message names an argument in backticks


# --- calibration ----------------------------------------------------------------------------


def simulate(rng, n_blocks, k, n_seeds=2, epochs=5, shift=0.0):
    """Loss curves ``(blocks, variants, seeds, epochs)``: a shared random block effect, a run
    effect, noisy epochs; variant 0 lower by ``shift`` (0: no variant differs)."""
    block = rng.normal(0.0, 1.0, (n_blocks, 1, 1, 1))
    run = rng.normal(0.0, 0.5, (n_blocks, k, n_seeds, 1))
    curve = 1.0 / np.arange(1, epochs + 1)
    noise = rng.normal(0.0, 0.2, (n_blocks, k, n_seeds, epochs))
    values = 2.0 + block + run + curve + noise
    values[:, 0] -= shift
    return values


def curves_to_frame(values):
    n, k, s, e = values.shape
    b, v, sd, ep = (a.ravel() for a in np.indices(values.shape))
    return pd.DataFrame({
        "run_id": (b * 1000 + v * 10 + sd).astype(str), "dataset": "sim",
        "variant": np.array([f"V{i}" for i in range(k)])[v], "rate": b / 20, "units": 64,
        "seed": sd, "epoch": ep + 1, "val_loss": values.ravel(), "status": "ok",
    })


def configs_p(values):
    """The configs design on the numpy core: best epoch per run, seed average, Friedman."""
    return block_statistics(select_epoch(values, "best").mean(axis=2)).p


def paper_p(values, top=5):
    """The paper's layout on the same runs: each variant's ``top`` best records as blocks."""
    by_variant = {str(j): values[:, j].ravel() for j in range(values.shape[1])}
    _, m = rank_matrix(by_variant, top)
    return friedmanchisquare(*m.T).pvalue


def test_calibration_configs_holds_level_paper_layout_does_not():
    rng = np.random.default_rng(20240611)
    shapes = [(rng.integers(10, 13), rng.integers(4, 6)) for _ in range(1000)]
    null = [simulate(rng, n, k) for n, k in shapes]
    configs_rate = np.mean([configs_p(v) < 0.05 for v in null])
    paper_rate = np.mean([paper_p(v) < 0.05 for v in null[:400]])
    power = np.mean([configs_p(simulate(rng, n, k, shift=0.75)) < 0.05 for n, k in shapes[:200]])
    # The whole path on data frames for 50 of them: the same p as the numpy core.
    frames_rejected = 0
    for values in null[:50]:
        (r,) = rank_configs(curves_to_frame(values))
        assert r.p == pytest.approx(configs_p(values), abs=1e-12) and r.n_blocks == values.shape[0]
        frames_rejected += r.p < 0.05
    print(f"null rejection at 0.05: configs {configs_rate:.3f} (1000 runs), paper layout {paper_rate:.3f} "
          f"(400 runs); configs power at shift 0.75: {power:.3f} (200 runs)")
    # 1000 runs: a calibrated test lands within 0.05 +- 0.014 (two standard errors).
    assert configs_rate <= 0.07
    assert frames_rejected <= 6  # of 50: at most 0.12, loose since so few
    assert paper_rate >= 0.5  # the paper's layout rejects a true null most of the time
    assert power > 0.8
