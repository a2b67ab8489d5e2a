"""Bayesian signed-rank test with a ROPE (pernode_cli.stats.bayes) against baycomp 1.0.3.

Two references: with baycomp's own Dirichlet draws (``RandomState(seed).dirichlet``) the
posterior samples and probabilities are the same to rounding; with our default generator
the probabilities agree to a Monte Carlo tolerance. Each probability is a share of
independent posterior draws, so two runs of N and M draws differ by a standard error of
sqrt(p (1 - p) (1 / N + 1 / M)); the tolerance is 5 of those plus 0.002.
"""

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pernode_cli.errors import PernodeError
from pernode_cli.stats.bayes import (
    N_SAMPLES,
    PRIOR_STRENGTH,
    bayes_signed_rank,
    region_masses,
    winner_shares,
)

baycomp = pytest.importorskip("baycomp")

DEMSAR = Path(__file__).resolve().parents[1] / "examples" / "demsar2006.csv"
REF_SAMPLES = 10_000  # baycomp loops in Python over its draws: fewer keep the test fast


def demsar(method):
    frame = pd.read_csv(DEMSAR)
    return frame[frame["method"] == method].sort_values("dataset")["auc"].to_numpy()


def cases():
    rng = np.random.default_rng(0)
    clear = (0.80 + rng.normal(0.02, 0.01, 20), 0.80 + rng.normal(0.0, 0.005, 20))
    close = (0.50 + rng.normal(0.002, 0.01, 12), 0.50 + rng.normal(0.0, 0.01, 12))
    return {
        "demsar C4.5+m vs C4.5": (demsar("C4.5+m"), demsar("C4.5")),
        "clear winner": clear,
        "close": close,
    }


def reference(a, b, rope, maximize, prior, seed):
    """baycomp's (P(a better), P(rope), P(b better)); baycomp's ``right`` is y - x > rope."""
    x, y = (b, a) if maximize else (a, b)
    probs = baycomp.SignedRankTest.probs(x, y, rope, prior=prior, nsamples=REF_SAMPLES, random_state=seed)
    if rope == 0:
        left, right = probs
        return right, 0.0, left
    left, mid, right = probs
    return right, mid, left


def test_same_draws_as_baycomp_give_the_same_posterior():
    a, b = demsar("C4.5+m+cf"), demsar("C4.5")
    z = a - b
    alpha = np.r_[PRIOR_STRENGTH, np.ones(len(z))]
    weights = np.random.RandomState(7).dirichlet(alpha, 3000)
    ours = region_masses(z, 0.01, weights)
    ref = baycomp.SignedRankTest.sample(b, a, 0.01, prior=PRIOR_STRENGTH, nsamples=3000, random_state=7)
    np.testing.assert_allclose(ours[:, [2, 1, 0]], ref, atol=1e-12)  # baycomp: (left = b, rope, right = a)
    ref_probs = baycomp.SignedRankTest.probs(b, a, 0.01, prior=PRIOR_STRENGTH, nsamples=3000, random_state=7)
    assert winner_shares(ours)[::-1] == pytest.approx(ref_probs, abs=1e-12)


COMBOS = [(name, rope, True) for name in cases() for rope in (0.0, 0.01)] + [
    ("demsar C4.5+m vs C4.5", 0.005, False), ("close", 0.02, False), ("clear winner", 0.03, False)]


@pytest.mark.parametrize("name, rope, maximize", COMBOS)
def test_probabilities_match_baycomp_to_monte_carlo_tolerance(name, rope, maximize):
    a, b = cases()[name]
    if not maximize:  # the same comparison on a loss: 1 - accuracy
        a, b = 1 - a, 1 - b
    ours = bayes_signed_rank(a, b, rope, maximize, seed=1)
    ref = reference(a, b, rope, maximize, PRIOR_STRENGTH, seed=2)
    for p, q in zip((ours.p_a_better, ours.p_equivalent, ours.p_b_better), ref):
        tol = 5 * math.sqrt(q * (1 - q) * (1 / N_SAMPLES + 1 / REF_SAMPLES)) + 0.002
        assert abs(p - q) <= tol, (p, q, tol)
    assert ours.p_a_better + ours.p_equivalent + ours.p_b_better == pytest.approx(1.0)


def test_prior_strength_one_matches_baycomp_too():
    a, b = cases()["close"]
    ours = bayes_signed_rank(a, b, 0.005, True, prior_strength=1.0, seed=3)
    ref = reference(a, b, 0.005, True, 1.0, seed=4)
    for p, q in zip((ours.p_a_better, ours.p_equivalent, ours.p_b_better), ref):
        assert abs(p - q) <= 5 * math.sqrt(q * (1 - q) * (1 / N_SAMPLES + 1 / REF_SAMPLES)) + 0.002


def test_one_difference_closed_form():
    # z = (1.5 rope): pairs (0, 0) and (0, z) fall inside the ROPE, (z, z) above it, so
    # theta_a = w_1^2 with w_1 ~ Beta(1, s): P(a better) = P(w_1 > 1 / sqrt 2) = (1 - 1 / sqrt 2)^s.
    for s in (0.5, 1.0, 2.0):
        post = bayes_signed_rank([1.015], [1.0], 0.01, True, prior_strength=s, n_samples=200_000, seed=5)
        exact = (1 - 1 / math.sqrt(2)) ** s
        assert abs(post.p_a_better - exact) < 5 * math.sqrt(exact * (1 - exact) / 200_000)
        assert post.p_b_better == 0.0


def test_direction_and_symmetry():
    a, b = cases()["clear winner"]
    up = bayes_signed_rank(a, b, 0.01, True)
    swapped = bayes_signed_rank(b, a, 0.01, True)
    assert (swapped.p_a_better, swapped.p_b_better) == (up.p_b_better, up.p_a_better)
    down = bayes_signed_rank(-a, -b, 0.01, False)  # the same data as a loss
    assert (down.p_a_better, down.p_equivalent, down.p_b_better) == (up.p_a_better, up.p_equivalent, up.p_b_better)
    assert up.p_a_better > 0.99


def test_identical_methods_without_a_rope_favour_neither():
    # Every draw's masses are (1/2, 0, 1/2): a tie that argmax would hand to a.
    a = np.linspace(0.7, 0.9, 8)
    post = bayes_signed_rank(a, a.copy(), 0.0, False)
    assert (post.p_a_better, post.p_equivalent, post.p_b_better) == (0.5, 0.0, 0.5)


def test_record_reproduces_carries_samples_and_is_json():
    a, b = cases()["close"]
    one, two = bayes_signed_rank(a, b, 0.01, True), bayes_signed_rank(a, b, 0.01, True)
    assert one == two and np.array_equal(one.samples, two.samples)
    assert one.samples.shape == (N_SAMPLES, 3)
    np.testing.assert_allclose(one.samples.sum(axis=1), 1.0, atol=1e-12)
    out = one.to_dict()
    assert "samples" not in out and out["n_samples"] == N_SAMPLES and out["prior_strength"] == PRIOR_STRENGTH
    json.dumps(out)


def test_bad_input_names_the_argument():
    with pytest.raises(PernodeError, match=r"argument `rope`.*Received: rope=-0.1"):
        bayes_signed_rank([1.0, 2.0], [1.0, 1.0], -0.1, True)
    with pytest.raises(PernodeError, match="`prior_strength`"):
        bayes_signed_rank([1.0, 2.0], [1.0, 1.0], 0.1, True, prior_strength=0)
    with pytest.raises(PernodeError, match="`b`"):
        bayes_signed_rank([1.0, 2.0], [1.0], 0.1, True)
