"""The planner (pernode_cli.stats.power): its tests against scipy, and its power estimates
against the true power of simulated logs, computed by direct Monte Carlo from the model
that generated the pilot.

Model: ``y[c, s, v] = mu_c + tau_v + I[c, v] + e[c, s, v]`` with configuration effects
``mu ~ N(0, 1)``, interaction ``I ~ N(0, 0.3^2)``, seed noise ``e`` a t5 variable of sd 0.5,
observed variant effects ``tau`` (removed by the planner) and, in the design whose power is
wanted, variant 0 shifted up by ``delta`` = 0.4 against control 3.

Tolerances: the estimate varies with the pilot (sd about 0.01-0.035 for a pilot of 400
configurations x 3 seeds) and with the Monte Carlo of both sides (SE <= 0.013 at 1,500 and
0.009 at 3,000 designs). Averaged over 4 pilots the estimate must lie within 0.04 of the
truth, and every single one within 0.10.
"""

import json
import math
import warnings

import numpy as np
import pytest
from scipy import stats

from pernode_cli.errors import PernodeError
from pernode_cli.stats.power import (
    N_RESAMPLES,
    friedman_p,
    holm_adjust,
    plan_sizes,
    signed_rank_p,
)

K, DELTA, TARGET, CONTROL = 4, 0.4, 0, 3
TAU = np.array([0.2, -0.1, 0.3, 0.0])
DESIGNS = [(10, 1), (10, 3), (20, 1), (20, 3)]  # (configurations, seeds)


def model(rng, configs, seeds, shift=None, missing=0.0):
    y = (rng.normal(0, 1, (configs, 1, 1)) + rng.normal(0, 0.3, (configs, 1, K))
         + 0.5 * rng.standard_t(5, (configs, seeds, K)) * math.sqrt(3 / 5))
    y = y + (TAU if shift is None else shift)
    return np.where(rng.random(y.shape) < missing, np.nan, y) if missing else y


def true_power(configs, seeds, delta, missing=0.0, designs=3000, seed=0):
    """Omnibus and against-control power of the design, straight from the model."""
    rng = np.random.default_rng(seed)
    shift = np.zeros(K)
    shift[TARGET] = delta
    y = model(rng, designs * configs, seeds, shift, missing)
    with warnings.catch_warnings():  # a cell whose runs are all missing: NaN, "mean of empty slice"
        warnings.simplefilter("ignore", RuntimeWarning)
        blocks = np.nanmean(y, axis=1).reshape(designs, configs, K)
    complete = np.isfinite(blocks).all(axis=2)  # incomplete blocks are dropped, as the ranking does
    others = [v for v in range(K) if v != CONTROL]
    omnibus, versus = np.zeros(designs, bool), np.zeros(designs, bool)
    for n in set(complete.sum(axis=1)) - {0, 1}:  # designs with n complete blocks, vectorised
        sel = complete.sum(axis=1) == n
        b = blocks[sel][complete[sel]].reshape(-1, n, K)
        omnibus[sel] = friedman_p(b) <= 0.05
        d = np.moveaxis(b[..., others] - b[..., [CONTROL]], 1, 2)  # (designs, k - 1, n)
        j = others.index(TARGET)
        versus[sel] = (holm_adjust(signed_rank_p(d))[:, j] <= 0.05) & (np.median(d[:, j], axis=1) > 0)
    return omnibus.mean(), versus.mean()


def estimates(delta, missing=0.0, uneven=False, pilots=4, configs=400, seeds=3):
    rng = np.random.default_rng(42)
    out = []
    for i in range(pilots):
        pilot = model(rng, configs, seeds, missing=missing)
        if uneven:  # configurations ran 2..seeds seeds; the rest of the tensor is NaN padding
            ran = rng.integers(2, seeds + 1, configs)
            pilot[np.arange(seeds)[None, :] >= ran[:, None]] = np.nan
        plan = plan_sizes(pilot, delta, True, control=CONTROL, target=TARGET, n_configs=(10, 20), n_seeds=(1, 3),
                          n_resamples=1500, seed=i, pilot_resamples=0)  # the point estimate, checked here
        om, vs = np.array(plan.omnibus_power), np.array(plan.control_power)
        out.append([(om[(1, 3).index(s), (10, 20).index(c)], vs[(1, 3).index(s), (10, 20).index(c)])
                    for c, s in DESIGNS])
    return np.array(out)  # (pilot, design, test)


def check_against_truth(est, missing=0.0):
    for j, (c, s) in enumerate(DESIGNS):
        truth = true_power(c, s, DELTA, missing, seed=100 + j)
        for t in range(2):
            assert abs(est[:, j, t].mean() - truth[t]) <= 0.04, (c, s, t, est[:, j, t], truth)
            assert np.abs(est[:, j, t] - truth[t]).max() <= 0.10, (c, s, t, est[:, j, t], truth)


# --- the tests on stacks ---------------------------------------------------------------


def test_friedman_p_is_scipys_friedmanchisquare():
    rng = np.random.default_rng(0)
    for n, k in ((3, 3), (10, 4), (25, 8)):
        stack = rng.integers(0, 4, (20, n, k)).astype(float)  # many ties
        stack[0] = 1.0  # every block one big tie: scipy gives NaN, the test cannot reject
        ref = [stats.friedmanchisquare(*m.T).pvalue for m in stack[1:]]
        np.testing.assert_allclose(friedman_p(stack)[1:], ref, rtol=1e-10)
        assert friedman_p(stack)[0] == 1.0 and friedman_p(stack[3]) == pytest.approx(ref[2], rel=1e-10)


def test_signed_rank_p_is_scipys_wilcoxon():
    rng = np.random.default_rng(1)
    for n in (4, 9, 30, 50, 60):
        d = rng.normal(0.3, 1, (200, n))
        np.testing.assert_allclose(signed_rank_p(d), stats.wilcoxon(d, axis=-1).pvalue, rtol=1e-10)
        tied = np.round(d, 1)  # ties and zeros: scipy's asymptotic method, zeros dropped
        tied = tied[np.any(tied != 0, axis=1)]
        ref = [stats.wilcoxon(x, method="asymptotic").pvalue for x in tied]
        untied = np.array([len(np.unique(np.abs(x[x != 0]))) == np.count_nonzero(x) for x in tied])
        np.testing.assert_allclose(signed_rank_p(tied)[~untied], np.array(ref)[~untied], rtol=1e-10)
    assert signed_rank_p(np.zeros(6)) == 1.0


def test_holm_hand_worked():
    # sorted 0.01, 0.03, 0.04 times 3, 2, 1: 0.03, 0.06, 0.04 -> running maximum 0.03, 0.06, 0.06
    np.testing.assert_allclose(holm_adjust([0.01, 0.04, 0.03]), [0.03, 0.06, 0.06])
    np.testing.assert_allclose(holm_adjust([[0.5, 0.9]]), [[1.0, 1.0]])


# --- the planner against the truth -------------------------------------------------------


def test_planner_power_matches_true_power():
    check_against_truth(estimates(DELTA))


def test_planner_with_missing_runs_and_uneven_seeds():
    # 10% of runs missing in the pilot and in the true design; pilot configurations ran 2-4 seeds
    check_against_truth(estimates(DELTA, missing=0.1, uneven=True, seeds=4), missing=0.1)


def test_planner_without_an_effect_gives_the_tests_level():
    est = estimates(0.0, pilots=2)
    for j, (c, s) in enumerate(DESIGNS):
        truth = true_power(c, s, 0.0, seed=200 + j)
        assert np.abs(est[:, j, 0] - truth[0]).max() <= 0.025  # Friedman's level, about 0.04
        assert np.abs(est[:, j, 1] - truth[1]).max() <= 0.015  # one directional Holm test, about 0.01


# --- the record ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def plan():
    pilot = model(np.random.default_rng(7), 40, 3)
    return plan_sizes(pilot, 0.6, True, control=CONTROL, n_configs=(5, 10, 20, 40), n_seeds=(1, 2, 4),
                      n_resamples=600)


def _smallest_of(plan, table):
    runs = [(c * s, -table[i, j], (c, s)) for i, s in enumerate(plan.n_seeds)
            for j, c in enumerate(plan.n_configs) if table[i, j] >= plan.power]
    return min(runs)[2] if runs else None


def test_smallest_designs_rest_on_the_lower_bound_of_the_power(plan):
    for name in ("omnibus", "control"):
        table = np.array(getattr(plan, f"{name}_power"))
        low, high = np.array(getattr(plan, f"{name}_power_low")), np.array(getattr(plan, f"{name}_power_high"))
        assert np.all(np.diff(table, axis=1) >= -0.05)  # nested draws: power rises with configurations
        assert np.all(low <= high) and np.mean((low <= table + 0.02) & (table <= high + 0.02)) >= 0.9
        for i, smallest in enumerate(getattr(plan, f"{name}_min_configs")):
            reach = [c for c, p in zip(plan.n_configs, low[i]) if p >= plan.power]
            assert smallest == (reach[0] if reach else None)
        assert getattr(plan, f"{name}_smallest") == _smallest_of(plan, low)
        assert getattr(plan, f"{name}_smallest_estimate") == _smallest_of(plan, table)
    assert plan.pilot_resamples == 20 and plan.interval == 0.8
    assert plan.target == 0 and plan.n_resamples == 600 and plan.block_test == "friedman_p"
    assert plan.pilot.seed_sd == pytest.approx(0.5, rel=0.15) and plan.pilot.configs_used == 40
    json.dumps(plan.to_dict())


def test_without_resampled_pilots_there_is_no_interval_and_the_estimate_decides():
    pilot = model(np.random.default_rng(12), 30, 2)
    plan = plan_sizes(pilot, 0.6, True, n_configs=(5, 10, 20), n_seeds=(1, 2), n_resamples=300, pilot_resamples=0)
    assert plan.omnibus_power_low is None and plan.interval is None and plan.pilot_resamples == 0
    assert plan.omnibus_smallest == _smallest_of(plan, np.array(plan.omnibus_power))
    with pytest.raises(PernodeError, match="argument `interval`"):
        plan_sizes(pilot, 0.6, True, interval=1.5)


def test_any_block_test_callable():
    pilot = model(np.random.default_rng(8), 30, 2)
    kw = dict(n_configs=(6, 12), n_seeds=(1, 2), n_resamples=150, seed=3)
    fast = plan_sizes(pilot, 0.5, True, **kw)
    slow = plan_sizes(pilot, 0.5, True, block_test=lambda m: stats.friedmanchisquare(*m.T).pvalue, **kw)
    np.testing.assert_allclose(slow.omnibus_power, fast.omnibus_power)
    never = plan_sizes(pilot, 0.5, True, block_test=lambda m: 1.0, **kw)
    assert np.all(np.array(never.omnibus_power) == 0) and never.omnibus_smallest is None


def test_direction_and_defaults():
    pilot = model(np.random.default_rng(9), 30, 2)
    kw = dict(n_configs=(10,), n_seeds=(2,), n_resamples=300)
    up = plan_sizes(pilot, 0.5, True, control=CONTROL, **kw)
    down = plan_sizes(-pilot, 0.5, False, control=CONTROL, **kw)  # the same runs as a loss
    assert up.control_power == down.control_power and up.omnibus_power == down.omnibus_power
    assert plan_sizes(pilot, 0.5, True, n_configs=(10,), n_seeds=(2,)).n_resamples == N_RESAMPLES


def test_one_seed_pilot_plans_one_seed_only():
    pilot = model(np.random.default_rng(10), 30, 1)
    one = plan_sizes(pilot, 0.5, True, n_configs=(10,), n_seeds=(1,), n_resamples=200)
    assert one.pilot.seed_sd is None
    with pytest.raises(PernodeError, match="`n_seeds` = 1 only"):
        plan_sizes(pilot, 0.5, True, n_seeds=(1, 2))


def test_bad_input_names_the_argument():
    pilot = model(np.random.default_rng(11), 10, 2)
    with pytest.raises(PernodeError, match="`pilot`"):
        plan_sizes(pilot[:, :, 0], 0.1, True)
    with pytest.raises(PernodeError, match=r"argument `delta`.*Received: delta=-1"):
        plan_sizes(pilot, -1, True)
    with pytest.raises(PernodeError, match="`n_configs`"):
        plan_sizes(pilot, 0.1, True, n_configs=(0, 5))
    with pytest.raises(PernodeError, match="`target` is the `control`"):
        plan_sizes(pilot, 0.1, True, control=1, target=1)
    with pytest.raises(PernodeError, match="`residuals`"):
        plan_sizes(pilot, 0.1, True, residuals="both")
    gone = pilot.copy()
    gone[:, :, 2] = np.nan
    gone[0, 0, 2] = 1.0
    with pytest.raises(PernodeError, match="at least 2 such configurations"):
        plan_sizes(gone, 0.1, True)
