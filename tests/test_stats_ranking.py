"""The configs design and the designs across data sets: hand-worked numbers, selection,
blocks, seeds, exactness of every p-value at the sizes real studies have."""

import itertools
import json
import math
from dataclasses import FrozenInstanceError

import numpy as np
import pandas as pd
import pytest
from scipy.stats import f as f_dist
from scipy.stats import wilcoxon

from pernode_cli.errors import PernodeError
from pernode_cli.stats.procedures import holm
from pernode_cli.stats.ranking import rank_logs

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


def configs(frame, **kw):
    (d,) = rank_logs(frame, design="configs", **kw).datasets
    return d


def exact_friedman_p(m):
    """Brute force: every within-block permutation pattern, equally likely."""
    from scipy.stats import rankdata

    r = rankdata(m, axis=1)
    observed = (r.sum(axis=0) ** 2).sum()
    perms = list(itertools.permutations(range(m.shape[1])))
    hits = total = 0
    for pattern in itertools.product(perms, repeat=m.shape[0] - 1):
        rows = [r[0]] + [r[i + 1][list(p)] for i, p in enumerate(pattern)]
        s = (np.sum(rows, axis=0) ** 2).sum()
        hits += s >= observed - 1e-9
        total += 1
    return hits / total


def test_hand_worked_friedman_iman_davenport_and_ranks():
    r = configs(frame_from_blocks(HAND))
    chi2 = 12 / (4 * 3 * 4) * (5**2 + 8**2 + 11**2) - 3 * 4 * 4  # 4.5
    o = r.omnibus
    assert o.chi2 == pytest.approx(chi2, abs=1e-12) and o.df == 2
    assert o.iman_davenport_f == pytest.approx(3 * 4.5 / (8 - 4.5), abs=1e-12)
    assert o.kendall_w == pytest.approx(4.5 / 8, abs=1e-12)
    # Four blocks: the p-value is exact (all 6^3 patterns of blocks 2-4), not chi-square's 0.105.
    assert o.method == "exact" and o.p == pytest.approx(exact_friedman_p(HAND), abs=1e-12)
    assert abs(o.p - math.exp(-4.5 / 2)) > 0.01 and abs(o.p - f_dist.sf(13.5 / 3.5, 2, 6)) > 0.01
    assert [(v.variant, v.mean_rank) for v in r.variants] == [("A", 1.25), ("B", 2.0), ("C", 2.75)]
    assert [v.median for v in r.variants] == pytest.approx([0.3125, 0.3125, 0.5], abs=1e-12)
    b = r.blocks
    assert (b.n, b.k, b.dropped, r.design, b.columns) == (4, 3, 0, "configs", ("rate",))
    assert r.nemenyi_cd == pytest.approx(2.344 * math.sqrt(3 * 4 / (6 * 4)), abs=1e-3)
    with pytest.raises(FrozenInstanceError):
        r.omnibus.p = 0.0  # type: ignore[misc]


def test_hand_worked_pairwise_medians_wilcoxon_and_holm():
    r = configs(frame_from_blocks(HAND))
    h = r.posthoc
    pairs = {(t.a, t.b): t for t in h.pairs}
    assert list(pairs) == [("A", "B"), ("A", "C"), ("B", "C")]  # a ranked before b
    assert (h.test, h.correction, h.zero_method, h.family) == ("wilcoxon signed-rank", "holm", "wilcox", "all pairs")
    # A - B = -1/8, 1/8, -1/8, -1/8; A - C = -1/4, -1/8, -1/16, -5/16; B - C = -1/8, -1/4, 1/16, -3/16
    assert [t.median_difference for t in pairs.values()] == pytest.approx([-0.125, -0.1875, -0.15625], abs=1e-12)
    # A - C: all four negative, distinct: T+ = 0, exact two-sided p = 2 / 2^4.
    assert (pairs["A", "C"].statistic, pairs["A", "C"].p) == pytest.approx((0.0, 0.125), abs=1e-12)
    # B - C: the one positive difference has the smallest |d|: T+ = 1, P(T+ <= 1) = 2/16, twice.
    assert (pairs["B", "C"].statistic, pairs["B", "C"].p) == pytest.approx((1.0, 0.25), abs=1e-12)
    assert all(t.method == "exact" for t in h.pairs)
    ab = pairs["A", "B"]
    # Tied |d| (all 1/8): the exact conditional p of T+ = 1 over the 16 sign patterns.
    assert ab.statistic == 2.5 and ab.p == pytest.approx(10 / 16, abs=1e-12)
    p = [ab.p, 0.125, 0.25]
    assert [t.p_holm for t in h.pairs] == pytest.approx(list(holm(p)), abs=1e-12)
    assert not any(t.reject for t in h.pairs)
    # 4 blocks cannot reach Holm's first step over 3 pairs: said, with the blocks it needs.
    assert h.min_attainable_p_holm == pytest.approx(3 * 2 / 16) and h.blocks_needed == 7
    assert any("no pair can be declared different" in w and "7 blocks" in w for w in r.warnings)


def test_holm_hand_worked():
    assert holm([0.01, 0.04, 0.03]) == pytest.approx((0.03, 0.06, 0.06), abs=1e-12)
    assert holm([0.02, 0.011]) == pytest.approx((0.022, 0.022), abs=1e-12)  # monotone
    assert holm([0.5, 0.6, 0.9]) == pytest.approx((1.0, 1.0, 1.0), abs=1e-12)  # capped at 1
    assert holm([]) == ()


def epoch_frame(shuffle_seed=3):
    """3 variants x 2 rates x 4 epochs; loss best at epoch 2, last at 4; accuracy best at 3;
    a test loss whose best epoch differs, to show that the epoch is chosen on validation."""
    loss = [0.9, 0.5, 0.7, 0.8]
    acc = [0.2, 0.6, 0.9, 0.4]
    test = [0.1, 0.95, 0.3, 0.2]
    rows = [
        {"run_id": f"{v}{b}", "dataset": "d", "variant": v, "rate": b / 10, "epoch": e + 1,
         "val_loss": loss[e] + 0.01 * j + 0.1 * b, "val_acc": acc[e] + 0.01 * j - 0.1 * b,
         "test_loss": test[e] + 0.01 * j + 0.1 * b}
        for j, v in enumerate("ABC") for b in range(2) for e in range(4)
    ]
    frame = pd.DataFrame(rows)
    return frame.sample(frac=1.0, random_state=shuffle_seed).reset_index(drop=True)  # row order must not matter


def test_select_best_and_last_pick_the_right_epoch():
    frame = epoch_frame()
    med = lambda r: {v.variant: v.median for v in r.variants}  # noqa: E731
    no_test = frame.drop(columns=["test_loss"])
    best = configs(no_test, metric="val_loss", select="best")
    last = configs(no_test, metric="val_loss", select="last")
    # Median of two blocks = mean of the block values: epoch value + 0.01 j + 0.05.
    assert med(best) == pytest.approx({"A": 0.55, "B": 0.56, "C": 0.57}, abs=1e-12)
    assert med(last) == pytest.approx({"A": 0.85, "B": 0.86, "C": 0.87}, abs=1e-12)
    assert [v.variant for v in best.variants] == ["A", "B", "C"]  # lowest loss ranks first
    assert any("chosen on val_loss, the metric compared" in w for w in best.warnings)
    assert not any("the metric compared" in w for w in last.warnings)
    acc = configs(no_test, metric="val_acc", select="best")
    assert acc.direction == "maximize" and med(acc) == pytest.approx({"A": 0.85, "B": 0.86, "C": 0.87}, abs=1e-12)
    assert [(v.variant, v.mean_rank) for v in acc.variants] == [("C", 1.0), ("B", 2.0), ("A", 3.0)]
    # With a test split the defaults compare test_loss at the epoch that is best on val_loss.
    default = configs(frame)
    assert (default.metric, default.select, default.select_on) == ("test_loss", "best", "val_loss")
    assert med(default) == pytest.approx({"A": 1.0, "B": 1.01, "C": 1.02}, abs=1e-12)  # epoch 2's test loss
    # Without one, each run's last epoch, and said so.
    fallback = configs(no_test)
    assert (fallback.metric, fallback.select) == ("val_loss", "last")
    assert any("last epoch is compared" in w for w in fallback.warnings)


def test_incomplete_blocks_are_dropped_and_a_data_set_without_blocks_does_not_stop_others():
    frame = grid_frame(rates=(0.1, 0.2, 0.3, 0.4))
    frame = frame[~((frame.variant == "C") & (frame.rate == 0.4))]
    only_d = pd.DataFrame([{"dataset": "d", "variant": "D", "rate": 0.9, "units": 64, "seed": 0, "epoch": 1,
                            "val_loss": 0.1, "status": "ok"}])
    frame = pd.concat([frame, only_d, grid_frame(datasets=("e",), seed=4)], ignore_index=True)
    r = configs(frame, variants=["A", "B", "C"], dataset="d")
    assert (r.blocks.n, r.blocks.dropped, r.blocks.k) == (3, 1, 3)  # rate 0.9 holds no ranked variant
    d, e = rank_logs(frame, design="configs").datasets  # D ranked too: no block of d holds all four
    assert not d.ranked and "no complete block" in d.reason and d.top_rows
    assert e.ranked and e.blocks.n == 4


def test_diverged_rows_are_left_out():
    frame = grid_frame()
    bad = frame.iloc[[0]].assign(val_loss=float("nan"), status="nonfinite", epoch=2)
    worse = frame.iloc[[1]].assign(val_loss=-100.0, status="nonfinite", epoch=2)
    clean = configs(frame).to_dict()
    mixed = configs(pd.concat([frame, bad, worse], ignore_index=True)).to_dict()
    assert mixed.pop("left_out") != clean.pop("left_out") and mixed == clean


def test_seeds_average_or_blocks_and_one_configuration_uses_its_seeds():
    frame = grid_frame(rates=(0.1, 0.2, 0.3, 0.4), seeds=(0, 1, 2))
    avg = configs(frame, seeds="average")
    blocks = configs(frame, seeds="blocks")
    assert (avg.blocks.n, blocks.blocks.n) == (4, 12)
    assert avg.blocks.columns == ("rate",) and blocks.blocks.columns == ("rate", "seed")
    by_rate = frame[frame.variant == "A"].groupby("rate")["val_loss"].mean()
    assert {v.variant: v.median for v in avg.variants}["A"] == pytest.approx(float(by_rate.median()), abs=1e-12)
    assert any("Seeds are blocks although the rows hold 4 configurations" in w for w in blocks.warnings)
    row = next(r for r in avg.seed_table if r["variant"] == "A" and r["rate"] == 0.1)
    vals = frame[(frame.variant == "A") & (frame.rate == 0.1)]["val_loss"].to_numpy()
    half = 4.302653 * vals.std(ddof=1) / math.sqrt(3)  # t(0.975, 2 df)
    assert row["mean"] == pytest.approx(vals.mean(), abs=1e-12) and row["n_seeds"] == 3
    assert (row["ci_low"], row["ci_high"]) == pytest.approx((vals.mean() - half, vals.mean() + half), abs=1e-5)
    # One configuration with 5 seeds: seeds are valid blocks there, and auto uses them.
    one = grid_frame(rates=(0.3,), seeds=(0, 1, 2, 3, 4))
    (auto,) = rank_logs(one).datasets
    assert auto.design == "configs" and auto.blocks.seeds == "blocks" and auto.blocks.n == 5
    assert "one configuration" in auto.design_reason and not any("Seeds are blocks" in w for w in auto.warnings)
    assert auto.omnibus.p is not None and auto.omnibus.method == "exact"


def test_unequal_seed_counts_are_flagged():
    frame = grid_frame(rates=(0.1, 0.2, 0.3), seeds=(0, 1))
    frame = frame[~((frame.variant == "A") & (frame.seed == 1) & (frame.rate == 0.2))]
    r = configs(frame)
    assert r.blocks.unequal_seeds == 1 and any("different numbers of seeds" in w for w in r.warnings)


def test_across_data_sets_demsar_blocks_pooled_named_and_control_limits_pairs():
    frame = grid_frame(variants=("A", "B", "C", "D"), datasets=("zeta", "alpha", "mid"))
    result = rank_logs(frame, design="configs", across="datasets", control="B")
    assert [r.dataset for r in result.datasets] == ["alpha", "mid", "zeta"]
    a = result.across
    assert (a.design == "datasets" and a.blocks.kind == "data sets" and a.blocks.n == 3
            and a.blocks.columns == ("dataset",))
    assert a.posthoc.family == "against control" and {t.b for t in a.posthoc.pairs} == {"B"}
    assert {t.a for t in a.posthoc.pairs} == {"A", "C", "D"}
    # The per-data-set value is the exact mean over the data set's configurations.
    alpha = frame[(frame.dataset == "alpha") & (frame.variant == "A")]["val_loss"].mean()
    zeta = frame[(frame.dataset == "zeta") & (frame.variant == "A")]["val_loss"].mean()
    mid = frame[(frame.dataset == "mid") & (frame.variant == "A")]["val_loss"].mean()
    assert next(v for v in a.variants if v.variant == "A").median == pytest.approx(np.median([alpha, zeta, mid]))
    pooled = rank_logs(frame, design="configs", across="pooled").across
    assert pooled.design == "pooled" and pooled.blocks.n == 12 and pooled.blocks.kind == "pooled configurations"
    assert any("not whether they differ across data sets" in w for w in pooled.warnings)
    best = rank_logs(frame, design="configs", across="datasets", per_dataset="best").across
    assert best.blocks.per_dataset == "best"


def test_to_dict_has_no_nan_or_inf():
    tied = np.array([[0.5, 0.5, 0.5], [0.2, 0.3, 0.4], [0.1, 0.2, 0.3]])  # block 1 all tied
    r = configs(frame_from_blocks(tied))
    assert 0 < r.omnibus.p < 1 and r.omnibus.iman_davenport_f > 0
    json.dumps(r.to_dict(), allow_nan=False)
    alike = np.array([[0.1, 0.2, 0.3], [0.2, 0.3, 0.4], [0.0, 0.1, 0.2]])  # every block ranks alike: F infinite
    r = configs(frame_from_blocks(alike))
    assert r.omnibus.kendall_w == pytest.approx(1.0) and r.omnibus.iman_davenport_f is None
    # The exact probability of that pattern is (3!)^-2, never 0.
    assert r.omnibus.p == pytest.approx(1 / 36) and r.omnibus.min_attainable_p == pytest.approx(1 / 36)
    d = r.to_dict()
    assert d["omnibus"]["iman_davenport_f"] is None and isinstance(d["variants"], list)
    json.dumps(d, allow_nan=False)
    r = configs(frame_from_blocks(np.full((3, 3), 0.5)))  # all tied
    assert (r.omnibus.chi2, r.omnibus.p, r.omnibus.kendall_w) == (0.0, 1.0, 0.0)
    assert all(t.p == 1.0 for t in r.posthoc.pairs)
    json.dumps(r.to_dict(), allow_nan=False)


@pytest.mark.parametrize(
    "kwargs, frame, needle",
    [
        ({"control": "Z"}, grid_frame(), "`control`"),
        ({"select": "mean"}, grid_frame(), "`select`"),
        ({"seeds": "pool"}, grid_frame(), "`seeds`"),
        ({"variants": ["A", "B", "Z"]}, grid_frame(), "`variants`"),
        ({"metric": "val_ece"}, grid_frame(), "`metric`"),
        ({"alpha": 0.0}, grid_frame(), "`alpha`"),
        ({"zero_method": "drop"}, grid_frame(), "`zero_method`"),
        ({"per_dataset": "median"}, grid_frame(), "`per_dataset`"),
        ({"metric": "score"}, grid_frame().assign(score=1.0), "`maximize`"),
        ({"select_on": "nope"}, grid_frame(), "`select_on`"),
    ],
)
def test_bad_input_names_the_argument(kwargs, frame, needle):
    with pytest.raises(PernodeError) as err:
        configs(frame, **kwargs)
    msg = str(err.value)
    assert needle in msg and "--" not in msg, msg


def test_variant_names_match_in_any_case():
    frame = grid_frame()
    r = configs(frame, variants="a,B,c", control="b")
    assert {v.variant for v in r.variants} == {"A", "B", "C"} and r.posthoc.control == "B"


def test_signed_rank_zero_methods_against_scipy():
    from pernode_cli.stats.procedures import signed_rank

    rng = np.random.default_rng(5)
    for n in (6, 9, 14, 25):
        d = rng.normal(size=n)
        ours, ref = signed_rank(d), wilcoxon(d, method="exact")
        assert ours.p == pytest.approx(ref.pvalue, abs=1e-12) and ours.method == "exact"
        assert min(ours.statistic, n * (n + 1) / 2 - ours.statistic) == pytest.approx(ref.statistic)
    d = np.array([0.0, 0.0, 1.0, -2.0, 3.0, 4.0, 5.0, -0.5, 2.0, 6.0])
    w, pr, zs = (signed_rank(d, m) for m in ("wilcox", "pratt", "zsplit"))
    assert (w.n_used, pr.n_used, zs.n_used) == (8, 8, 8)
    assert zs.p == pr.p and zs.statistic == pytest.approx(pr.statistic + (1.5 + 1.5) / 2)
    # Large n: the normal approximation with tie correction, as scipy computes it.
    big = rng.normal(0.1, 1.0, 300)
    assert signed_rank(big).method == "normal"
    assert signed_rank(big).p == pytest.approx(wilcoxon(big, method="approx", correction=True).pvalue, rel=1e-9)
