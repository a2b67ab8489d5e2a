"""The paper's layout (section V-B): descriptive statistics of each variant's best records.

For each variant take its ``top`` records (epoch rows) with the best metric, duplicate rates
allowed; ``M[i, j]`` is the i-th best value of variant ``j``: blocks are rank positions,
treatments are variants. Friedman's chi-square over that matrix, Kendall's
``W = chi2 / (n (k - 1))`` (tie-corrected as the chi-square is), the paper's pooled mean
ranks (over all ``n k`` records) and Friedman's within-block mean ranks.

The blocks are the 1st..n-th best records of one sample: order statistics, strongly
dependent, while Friedman's test assumes independent blocks, so on logs where no variant
differs the layout still "finds" a difference almost every time. Its chi-square and W
describe the selected records; no p-value is given for them.
"""

from __future__ import annotations

import math

import numpy as np

from pernode_cli.stats.procedures import _chi2, block_ranks, nemenyi_cd

MIN_TOP = 2  # two rank positions at least


def top_values(group, metric: str, top: int, maximize: bool, variants) -> np.ndarray:
    """The ``(top, k)`` matrix of each variant's ``top`` best values, best first."""
    cols = []
    for v in variants:
        vals = np.sort(group.loc[group["variant"] == v, metric].to_numpy(dtype="float64"))
        cols.append((vals[::-1] if maximize else vals)[:top])
    return np.column_stack(cols)


def paper_statistics(m: np.ndarray, maximize: bool) -> dict:
    """chi2, W, both mean ranks and the Nemenyi critical difference of the paper's matrix."""
    from scipy.stats import rankdata

    ranks = block_ranks(m, maximize)
    n, k = ranks.shape
    chi2 = _chi2(ranks)
    score = -m if maximize else m
    pooled = rankdata(score.ravel()).reshape(score.shape).mean(axis=0)
    return {"chi2": chi2, "kendall_w": chi2 / (n * (k - 1)), "mean_ranks": ranks.mean(axis=0),
            "pooled_mean_ranks": pooled, "best": m[0], "critical_difference": nemenyi_cd(k, n) if k >= 2 else math.nan}
