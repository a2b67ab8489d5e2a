"""Time to target: parsing, hand-worked runs (reached, censored, diverged, unfinished), the
reach curves, the ranking convention, a large random check against a direct computation,
and the figure's data."""

import math

import numpy as np
import pandas as pd
import pytest
from scipy.stats import rankdata

from pernode_cli.errors import PernodeError
from pernode_cli.stats.procedures import friedman, signed_rank
from pernode_cli.stats.target import Target, censored_as_worst, parse_target, reach_curves, time_to_target


def _rows(run_id, variant, accs, seconds, attempt=1, finished=True, statuses=None, rate=0.5, seed=0, dataset="d"):
    statuses = statuses or ["ok"] * len(accs)
    out = []
    for i, (acc, sec, status) in enumerate(zip(accs, seconds, statuses)):
        last = i == len(accs) - 1
        out.append({"run_id": run_id, "dataset": dataset, "variant": variant, "rate": rate, "units": 64,
                    "batch_size": 128, "seed": seed, "epoch": i + 1, "attempt": attempt, "val_acc": acc,
                    "val_loss": 1 - acc if math.isfinite(acc) else acc, "epoch_seconds": sec, "status": status,
                    "run_end": ("nonfinite" if status != "ok" else "epochs") if last and finished else "",
                    "epochs": len(accs), "lr": 1e-3, "patience": None, "max_train_samples": None})
    return out


def hand_frame():
    rows = []
    rows += _rows("A-1", "A", [0.5, 0.8, 0.95, 0.97], [1.0, 2.0, 4.0, 8.0])  # reached at epoch 3 after 7 s
    rows += _rows("A-2", "A", [0.9, 0.96, 0.9], [0.5, 0.25, 0.125], seed=1)  # reached at 2 after 0.75 s
    rows += _rows("B-1", "B", [0.5, 0.6, 0.7], [1.0, 1.0, 1.0])  # censored after 3 s
    rows += _rows("B-2", "B", [0.5, 0.94, math.nan], [2.0, 2.0, 2.0], statuses=["ok", "ok", "nonfinite"], seed=1)
    rows += _rows("B-3", "B", [math.nan], [3.0], statuses=["nonfinite"], seed=2)  # diverged at its first epoch
    rows += _rows("B-4", "B", [0.99, 0.99], [1.0, 1.0], seed=3, finished=False)  # interrupted: not read
    rows += _rows("B-4", "B", [0.5, 0.95], [4.0, 1.0], seed=3, attempt=2)  # its finished attempt: 5 s
    return pd.DataFrame(rows)


def test_parse_target_accepts_both_directions_and_refuses_anything_else_in_one_line():
    assert parse_target("val_acc>=0.95") == Target(metric="val_acc", op=">=", value=0.95)
    assert parse_target("  val_loss <= 3e-1 ") == Target(metric="val_loss", op="<=", value=0.3)
    assert parse_target("val_loss<=0.3").text == "val_loss<=0.3"
    for bad in ["val_acc>0.95", "val_acc=0.95", "val_acc>=", ">=0.9", "val acc>=0.9", "val_acc>=nan",
                "val_acc>=inf", "val_acc>=0.9x", "", None, 0.95]:
        with pytest.raises(PernodeError) as err:
            parse_target(bad)
        message = str(err.value)
        assert "`target`" in message and "\n" not in message and f"Received: target={bad!r}" in message


def test_hand_worked_runs_reached_censored_diverged_and_unfinished():
    times = time_to_target(hand_frame(), "val_acc>=0.95")
    by_id = {(r.run_id, r.attempt): r for r in times.runs}
    assert set(by_id) == {("A-1", 1), ("A-2", 1), ("B-1", 1), ("B-2", 1), ("B-3", 1), ("B-4", 2)}
    a1, a2, b1, b2, b3, b4 = (by_id[k] for k in sorted(by_id))
    assert (a1.reached, a1.epoch, a1.seconds, a1.value, a1.total_seconds) == (True, 3, 7.0, 0.95, 15.0)
    assert (a2.reached, a2.epoch, a2.seconds, a2.total_seconds) == (True, 2, 0.75, 0.875)
    assert (b1.reached, b1.epoch, b1.value, b1.seconds, b1.epochs) == (False, None, None, 3.0, 3)
    # 0.94 < 0.95: never met; censored with the diverged epoch's training seconds included.
    assert (b2.reached, b2.seconds, b2.epochs) == (False, 6.0, 3)
    assert (b3.reached, b3.seconds, b3.epochs) == (False, 3.0, 1)
    assert (b4.reached, b4.epoch, b4.seconds) == (True, 2, 5.0)  # the interrupted attempt is not read
    assert dict(a1.settings) == {"rate": 0.5, "units": 64, "batch_size": 128, "seed": 0, "epochs": 4, "lr": 1e-3,
                                 "patience": None, "max_train_samples": None}
    assert [r.block_value for r in (a1, b1, b3)] == [7.0, math.inf, math.inf]
    frame = times.frame()
    assert list(frame.columns[:len(a1.settings)]) == [name for name, _ in a1.settings]  # settings first, in order
    assert len(frame) == 6 and frame["reached"].sum() == 3
    assert times.left_out[0].unfinished == 2 and times.left_out[0].diverged == 2


def test_lower_is_better_targets_and_the_first_epoch_counts_at_the_threshold():
    frame = pd.DataFrame(_rows("A-1", "A", [0.5, 0.7, 0.7, 0.9], [1.0, 1.0, 1.0, 1.0]))
    (run,) = time_to_target(frame, "val_loss<=0.3").runs  # val_loss = 1 - acc: 0.5, 0.3..., 0.3..., 0.1
    expected = int(np.argmax(1 - np.array([0.5, 0.7, 0.7, 0.9]) <= 0.3)) + 1
    assert run.epoch == expected and run.seconds == float(expected)
    (run,) = time_to_target(frame, "val_acc>=0.7").runs
    assert (run.epoch, run.seconds) == (2, 2.0)  # met with equality


def test_reach_curves_are_step_functions_over_all_runs_censored_included():
    times = time_to_target(hand_frame(), "val_acc>=0.95")
    a, b = times.curves
    assert (a.variant, a.n_runs, a.n_reached, a.times, a.shares) == ("A", 2, 2, (0.75, 7.0), (0.5, 1.0))
    assert (b.variant, b.n_runs, b.n_reached, b.times, b.shares) == ("B", 4, 1, (5.0,), (0.25,))
    assert b.censored_at == (3.0, 3.0, 6.0)
    np.testing.assert_array_equal(a.share_at([0.0, 0.74, 0.75, 6.99, 7.0, 100.0]), [0, 0, 0.5, 0.5, 1.0, 1.0])
    np.testing.assert_array_equal(b.share_at([4.99, 5.0]), [0.0, 0.25])


def test_censored_runs_rank_last_and_tie_among_themselves():
    times = time_to_target(hand_frame(), "val_acc>=0.95")
    values = np.array([r.block_value for r in times.runs])
    ranks = rankdata(values)
    censored = ~np.array([r.reached for r in times.runs])
    assert ranks[censored].min() > ranks[~censored].max()
    assert len(set(ranks[censored])) == 1 and ranks[censored][0] == np.mean(np.arange(1, 7)[-censored.sum():])


def test_censored_as_worst_keeps_the_ranks_and_makes_pairwise_tests_defined():
    inf = math.inf
    m = np.array([[1.0, 2.0, inf], [1.5, inf, inf], [2.0, 1.0, 3.0], [0.5, 4.0, inf], [inf, inf, inf]])
    finite = censored_as_worst(m)
    assert np.isfinite(finite).all() and finite[1, 1] == finite[1, 2] == finite[4, 0] == 4.0 + 3.5 + 1.0
    np.testing.assert_array_equal(rankdata(finite, axis=1), rankdata(m, axis=1))  # the same ranks
    assert friedman(finite, maximize=False).chi2 == friedman(m, maximize=False).chi2
    diffs = np.abs(finite[:, :, None] - finite[:, None, :])
    reached = np.isfinite(m)
    assert (diffs[reached[:, :, None] & ~reached[:, None, :]].min()
            > diffs[reached[:, :, None] & reached[:, None, :]].max())
    pairs = [signed_rank(finite[:, a] - finite[:, b]) for a, b in ((0, 1), (0, 2), (1, 2))]
    assert all(np.isfinite(t.p) for t in pairs)


def test_many_random_runs_match_a_direct_computation():
    rng = np.random.default_rng(7)
    n, epochs, target = 400, 12, 0.7
    # Accuracy curves that rise with noise (0.72 on average after 12 epochs): many never reach 0.7.
    acc = np.clip(np.cumsum(rng.uniform(0, 0.12, (n, epochs)), axis=1) + rng.normal(0, 0.02, (n, epochs)), 0, 1)
    seconds = rng.uniform(0.5, 2.0, (n, epochs)).round(4)
    rows = []
    for i in range(n):
        rows += _rows(f"R-{i}", "AB"[i % 2], acc[i].tolist(), seconds[i].tolist(), seed=i)
    times = time_to_target(pd.DataFrame(rows), f"val_acc>={target}")
    met = acc >= target
    reached = met.any(axis=1)
    first = met.argmax(axis=1)
    cumulative = np.cumsum(seconds, axis=1)
    want = np.where(reached, cumulative[np.arange(n), first], cumulative[:, -1])
    got = {r.run_id: r for r in times.runs}
    assert 0.2 < 1 - reached.mean() < 0.8  # both kinds are well represented
    for i in range(n):
        r = got[f"R-{i}"]
        assert r.reached == reached[i] and r.seconds == pytest.approx(want[i], rel=1e-12)
        assert r.epoch == (first[i] + 1 if reached[i] else None)
    for curve, variant in zip(times.curves, "AB"):
        mine = np.arange(n) % 2 == "AB".index(variant)
        grid = np.linspace(0, cumulative.max(), 97)
        expected = ((want[mine & reached][None, :] <= grid[:, None]).sum(axis=1)) / mine.sum()
        np.testing.assert_allclose(curve.share_at(grid), expected, rtol=0, atol=1e-15)


def test_missing_seconds_and_empty_selections_are_one_line():
    frame = hand_frame()
    frame.loc[0, "epoch_seconds"] = np.nan
    with pytest.raises(PernodeError, match="epoch 1 has no finite epoch_seconds"):
        time_to_target(frame, "val_acc>=0.95")
    with pytest.raises(PernodeError, match="lack column"):
        time_to_target(hand_frame().drop(columns="val_acc"), "val_acc>=0.95")
    with pytest.raises(PernodeError, match="lack column epoch_seconds"):
        time_to_target(hand_frame().drop(columns="epoch_seconds"), "val_acc>=0.95")


def test_the_figure_draws_each_variants_step_function():
    from pernode_cli.rendering.plots import pyplot
    from pernode_cli.rendering.target_plot import reach_plot, target_figures

    times = time_to_target(hand_frame(), "val_acc>=0.95")
    plt = pyplot()
    fig = reach_plot(times.curves, times.target.text, "d", plt)
    ax = fig.axes[0]
    right = ax.get_xlim()[1]
    a, b = ax.lines
    np.testing.assert_array_equal(a.get_xydata(), [[0, 0], [0.75, 0.5], [7.0, 1.0], [right, 1.0]])
    np.testing.assert_array_equal(b.get_xydata(), [[0, 0], [5.0, 0.25], [right, 0.25]])
    assert right >= 7.0 and "A (2/2 reached)" in [t.get_text() for t in ax.get_legend().get_texts()]
    plt.close(fig)
    (figure,) = target_figures(times)
    assert figure.stem == "d_time_to_target" and figure.png.startswith(b"\x89PNG") and b"<svg" in figure.svg
    assert reach_curves(times.runs) == times.curves
