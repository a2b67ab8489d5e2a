"""Bayesian signed-rank test with a region of practical equivalence (ROPE). Pure, no I/O.

Benavoli, Corani, Demsar and Zaffalon (2017), "Time for a change: a tutorial for comparing
multiple classifiers through Bayesian analysis", JMLR 18(77), section 5 (after Benavoli et
al. 2014, "A Bayesian Wilcoxon signed-rank test based on the Dirichlet process", ICML), as
``baycomp.SignedRankTest`` (baycomp 1.0.3) computes it:

- the paired differences ``z_i`` (``a - b`` when maximizing, ``b - a`` when minimizing, so a
  positive ``z`` is an improvement of ``a``) get a Dirichlet-process posterior whose prior
  is one pseudo-observation ``z_0 = 0`` of strength ``s`` (``prior_strength``; default 0.5,
  baycomp's default for this test); a posterior draw is a weight vector
  ``w ~ Dirichlet(s, 1, ..., 1)`` over ``z_0 .. z_n``;
- for each draw, the mass of the three regions is that of the Walsh averages:
  ``theta_a = sum_ij w_i w_j H((z_i + z_j) / 2 - rope)`` (a better by more than the ROPE),
  ``theta_b`` the same below ``-rope``, ``theta_equivalent = 1 - theta_a - theta_b``, with
  ``H`` the step function that counts 1/2 at its edge; the sums run over all ordered pairs
  ``(i, j)``, ``i = j`` included;
- the reported probabilities are the shares of draws in which each region holds the most
  mass (``baycomp``'s ``Posterior.probs``): ``P(a better)``, ``P(practically equivalent)``,
  ``P(b better)``; they sum to 1. A draw in which two regions hold the same largest mass is
  shared between them (baycomp gives it to the first).

The ROPE is in metric units (``rope=0.01``: a difference in accuracy under one point is no
difference). Draws come from ``numpy.random.default_rng(seed)``, ``N_SAMPLES`` = 50,000 of them
by default (baycomp's default), so a probability carries a Monte Carlo standard error of at
most ``0.5 / sqrt(50000)`` = 0.0022. All draws are computed at once (no loop per draw).
``BayesSignedRank.samples`` holds the posterior draws of ``(theta_a, theta_equivalent,
theta_b)``: the points of the simplex figure.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from pernode_cli.stats import exact
from pernode_cli.stats.arguments import check_count
from pernode_cli.stats.arguments import invalid_argument as _invalid
from pernode_cli.stats.exact import Exact, exact_difference, exact_pair
from pernode_cli.schema import plain
from pernode_cli.stats.rows import Record

SEED = 0  # the posterior draws' seed: the same numbers every run
N_SAMPLES = 50_000
PRIOR_STRENGTH = 0.5
_CHUNK_CELLS = 4_000_000


@dataclass(frozen=True, kw_only=True)
class BayesSignedRank(Record):
    """Posterior of the Bayesian signed-rank test of ``a`` against ``b``."""

    p_a_better: float  # share of posterior draws in which "a better by more than rope" has the most mass
    p_equivalent: float
    p_b_better: float
    rope: float  # metric units
    maximize: bool
    prior_strength: float
    n_blocks: int
    n_samples: int
    seed: int
    # (n_samples, 3) posterior draws of (theta_a, theta_equivalent, theta_b); left out of to_dict
    samples: Any = field(repr=False, compare=False)

    def to_dict(self) -> dict:
        return {k: plain(getattr(self, k)) for k in self.__dataclass_fields__ if k != "samples"}


def region_masses(z, rope: float, weights: np.ndarray) -> np.ndarray:
    """``(draws, 3)`` masses of (a better, equivalent, b better) for Dirichlet ``weights`` of shape
    ``(draws, n + 1)`` over ``(0, z_1, .., z_n)``; ``z`` positive where ``a`` improves on ``b``.

    ``z`` as floats (taken at their shortest decimals) or ``Exact``: twice each Walsh average is
    compared with twice the ROPE exactly, so a difference of exactly the ROPE is on its edge."""
    z = z if isinstance(z, Exact) else exact.from_floats(np.asarray(z, dtype="float64"))
    d = np.concatenate((np.zeros(1, dtype=z.nums.dtype), z.nums))
    sums = d[:, None] + d[None, :]  # twice the Walsh averages, over all ordered pairs
    edge = 2 * exact.scaled(rope, z.den)
    above, below = exact.step_above(sums, edge), exact.step_above(-sums, edge)
    w = np.asarray(weights, dtype="float64")
    out = np.empty((len(w), 3))
    out[:, 0] = ((w @ above) * w).sum(axis=1)  # w^T H w for every draw at once
    out[:, 2] = ((w @ below) * w).sum(axis=1)
    out[:, 1] = 1.0 - out[:, 0] - out[:, 2]
    return out


def winner_shares(masses: np.ndarray) -> tuple[float, float, float]:
    """Share of draws in which each region holds the most mass. A draw whose largest mass is
    held by several regions counts for each of them equally: baycomp's argmax gives such a draw
    to the first region, so two identical methods at ``rope=0`` (every draw (1/2, 0, 1/2))
    would come out as "a better" with probability 1."""
    top = masses == masses.max(axis=1, keepdims=True)
    p = (top / top.sum(axis=1, keepdims=True)).mean(axis=0)
    return float(p[0]), float(p[1]), float(p[2])


def bayes_signed_rank(a, b, rope: float, maximize: bool, prior_strength: float = PRIOR_STRENGTH,
                      n_samples: int = N_SAMPLES, seed: int = SEED) -> BayesSignedRank:
    """P(a better), P(practically equivalent), P(b better) from paired block values ``a``, ``b``."""
    x, y = exact_pair(a, b)
    if isinstance(rope, bool) or not isinstance(rope, (int, float, np.floating)) or not rope >= 0 \
            or not np.isfinite(rope):
        raise _invalid("rope", "a finite float >= 0 in metric units", rope)
    if isinstance(prior_strength, bool) or not isinstance(prior_strength, (int, float, np.floating)) \
            or not prior_strength > 0 or not np.isfinite(prior_strength):
        raise _invalid("prior_strength", "a finite float > 0", prior_strength)
    n_samples = check_count("n_samples", n_samples)
    z = exact_difference(x, y) if maximize else exact_difference(y, x)
    alpha = np.ones(len(z.nums) + 1)
    alpha[0] = prior_strength
    rng = np.random.default_rng(seed)
    rows = max(1, _CHUNK_CELLS // (len(alpha) ** 2))
    masses = np.concatenate([
        region_masses(z, float(rope), rng.dirichlet(alpha, min(rows, n_samples - start)))
        for start in range(0, n_samples, rows)
    ])
    pa, pe, pb = winner_shares(masses)
    return BayesSignedRank(p_a_better=pa, p_equivalent=pe, p_b_better=pb, rope=float(rope), maximize=bool(maximize),
                           prior_strength=float(prior_strength), n_blocks=len(z.nums), n_samples=n_samples,
                           seed=int(seed), samples=masses)
