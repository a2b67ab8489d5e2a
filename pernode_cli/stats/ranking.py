"""The paper's ranking statistics: pure functions over plain arrays and data frames, no I/O.

Procedure (paper section V-B): for each variant take its ``top`` records with the best
metric (duplicate rates allowed). ``M[i, j]`` is the i-th best value of variant ``j``:
blocks are rank positions, treatments are variants. Friedman's chi-square over that
``n x k`` matrix, Kendall's ``W = chi2 / (n (k - 1))`` (tie-corrected as the chi-square is),
the paper's pooled mean ranks (over all ``n k`` records) and Friedman's within-block mean
ranks, the Nemenyi critical difference and a permutation p-value.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import numpy as np

from pernode_cli.errors import PernodeError

TABLE_COLUMNS = {  # output name -> log column
    "Variant": "variant",
    "DR": "rate",
    "Ep": "epoch",
    "V-Acc": "val_acc",
    "V-Loss": "val_loss",
    "T-Loss": "train_loss",
    "T-Acc": "train_acc",
}


def metric_label(metric: str) -> str:
    """The column that holds ``metric`` in Table I style rows."""
    return next((out for out, src in TABLE_COLUMNS.items() if src == metric), metric)


def higher_is_better(metric: str) -> bool:
    """Accuracy-like columns are maximised; losses, errors and ECE are minimised."""
    return "acc" in metric.lower()


def friedman_statistic(matrix: np.ndarray) -> float:
    """Tie-corrected Friedman chi-square of an ``(..., n, k)`` array (blocks x treatments)."""
    from scipy.stats import rankdata

    m = np.asarray(matrix, dtype="float64")
    n, k = m.shape[-2], m.shape[-1]
    ranks = rankdata(m, axis=-1)
    r_sum = ranks.sum(axis=-2)
    chi2 = 12.0 / (n * k * (k + 1)) * (r_sum**2).sum(axis=-1) - 3.0 * n * (k + 1)
    # Tie correction, as scipy.stats.friedmanchisquare applies it: sum of t^3 - t over tie
    # groups of each block. A value tied with d others contributes d (d + 2), and the t
    # members of a group together t (t - 1) (t + 1) = t^3 - t.
    d = (m[..., :, None] == m[..., None, :]).sum(axis=-1) - 1
    ties = (d * (d + 2)).sum(axis=-1)
    correction = 1.0 - ties.sum(axis=-1) / (n * (k**3 - k))
    return chi2 / correction


@dataclass
class Friedman:
    chi2: float
    p: float
    p_permutation: float
    kendall_w: float
    n_blocks: int
    k: int
    critical_difference: float


@dataclass
class VariantRank:
    variant: str
    pooled_mean_rank: float
    mean_rank: float
    best: float


@dataclass
class Ranking:
    dataset: str
    metric: str
    top: int
    friedman: Friedman
    variants: list[VariantRank]
    top_rows: list[dict] = field(default_factory=list)
    dropped_rows: int = 0

    def to_dict(self) -> dict:
        return asdict(self)


def nemenyi_cd(k: int, n: int, alpha: float = 0.05) -> float:
    """Nemenyi critical difference in within-block mean-rank units."""
    from scipy.stats import studentized_range

    q = studentized_range.ppf(1 - alpha, k, np.inf) / math.sqrt(2)
    return float(q * math.sqrt(k * (k + 1) / (6.0 * n)))


def friedman_test(matrix: np.ndarray, n_resamples: int = 2000, seed: int = 0) -> Friedman:
    """Friedman test on an ``(n, k)`` matrix: blocks in rows, treatments in columns."""
    from scipy.stats import friedmanchisquare, permutation_test

    m = np.asarray(matrix, dtype="float64")
    n, k = m.shape
    if np.all(m == m[:, :1]):  # every block one big tie: nothing to rank
        chi2, p = 0.0, 1.0
    else:
        res = friedmanchisquare(*m.T)
        chi2, p = float(res.statistic), float(res.pvalue)

    def stat(*columns, axis=-1):
        # columns: k arrays of shape (..., n); stack treatments last.
        return friedman_statistic(np.stack(columns, axis=-1))

    if chi2 == 0.0:
        p_perm = 1.0
    else:
        perm = permutation_test(
            tuple(m.T),
            stat,
            permutation_type="samples",
            vectorized=True,
            n_resamples=n_resamples,
            alternative="greater",
            rng=np.random.default_rng(seed),
        )
        p_perm = float(perm.pvalue)
    return Friedman(
        chi2=chi2,
        p=p,
        p_permutation=p_perm,
        kendall_w=chi2 / (n * (k - 1)),
        n_blocks=n,
        k=k,
        critical_difference=nemenyi_cd(k, n),
    )


def rank_matrix(values_by_variant: dict[str, np.ndarray], top: int, maximize: bool = False):
    """The ``(top, k)`` matrix of the ``top`` best values of each variant, best first."""
    variants = list(values_by_variant)
    cols = []
    for v in variants:
        vals = np.sort(np.asarray(values_by_variant[v], dtype="float64"))
        cols.append((vals[::-1] if maximize else vals)[:top])
    return variants, np.column_stack(cols)


def rank_variants(values_by_variant: dict[str, np.ndarray], top: int, maximize: bool = False):
    """Friedman statistics and both mean ranks; variants sorted best first."""
    from scipy.stats import rankdata

    variants, m = rank_matrix(values_by_variant, top, maximize)
    score = -m if maximize else m  # rank 1 = best
    pooled = rankdata(score.ravel()).reshape(score.shape).mean(axis=0)
    within = rankdata(score, axis=1).mean(axis=0)
    friedman = friedman_test(score)
    ranks = [
        VariantRank(v, float(pooled[j]), float(within[j]), float(m[0, j])) for j, v in enumerate(variants)
    ]
    ranks.sort(key=lambda r: (r.pooled_mean_rank, r.mean_rank, r.variant))
    return friedman, ranks


def _clean(frame, metric: str, source: str = "log"):
    import pandas as pd

    required = ["dataset", "variant", metric]
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise PernodeError(
            f"{source} lacks column(s) {', '.join(missing)}; rank needs dataset, variant and the "
            f"`metric` column ({metric})."
        )
    dropped = 0
    if "status" in frame.columns:  # rows of diverged runs are results, not rankable values
        keep = frame["status"].fillna("ok").astype(str) == "ok"
        dropped = int((~keep).sum())
        frame = frame[keep]
    values = pd.to_numeric(frame[metric], errors="coerce")
    bad = values.isna() | ~np.isfinite(values.to_numpy(dtype="float64", na_value=np.nan))
    if bad.any():
        first = frame.index[bad.to_numpy()][0]
        raise PernodeError(
            f"{source}: column {metric} holds a non-numeric or NaN value ({frame.loc[first, metric]!r}, "
            f"{int(bad.sum())} row(s) in all); fix or drop those rows."
        )
    frame = frame.assign(**{metric: values.astype("float64")})
    return frame, dropped


def rank_frame(frame, metric: str = "val_loss", top: int = 5, table_top: int = 3, dataset=None) -> list[Ranking]:
    """Rank every data set of a merged log frame separately."""
    if top < 1 or table_top < 1:
        raise PernodeError("`top` and `table_top` must be at least 1.")
    frame, dropped = _clean(frame, metric)
    if dataset is not None:
        frame = frame[frame["dataset"].astype(str) == dataset]
        if frame.empty:
            raise PernodeError(f"No rows for data set {dataset!r} in the log(s).")
    if frame.empty:
        raise PernodeError("The log(s) hold no rows to rank.")
    maximize = higher_is_better(metric)
    out = []
    for name, group in frame.groupby(frame["dataset"].astype(str), sort=True):
        counts = group["variant"].value_counts()
        if len(counts) < 3:
            raise PernodeError(
                f"Data set {name!r} has {len(counts)} variant(s) ({', '.join(sorted(counts.index.astype(str)))}); "
                "the Friedman test needs at least 3."
            )
        short = counts[counts < top]
        if len(short):
            worst = int(short.min())
            raise PernodeError(
                f"Data set {name!r}: variant(s) {', '.join(f'{v} ({c})' for v, c in short.items())} have fewer "
                f"than {top} records (`top`); set `top` to {worst} or fewer."
            )
        values = {str(v): g[metric].to_numpy() for v, g in group.groupby("variant", sort=True)}
        friedman, ranks = rank_variants(values, top, maximize)
        out.append(
            Ranking(
                dataset=name,
                metric=metric,
                top=top,
                friedman=friedman,
                variants=ranks,
                top_rows=top_rows(group, metric, table_top, maximize),
                dropped_rows=dropped,
            )
        )
    return out


def top_rows(group, metric: str, table_top: int, maximize: bool) -> list[dict]:
    """Table I style: the best ``table_top`` records of each variant, sorted by the metric."""
    ordered = group.sort_values(metric, ascending=not maximize, kind="mergesort")
    best = ordered.groupby("variant", sort=False).head(table_top)
    cols = {out: src for out, src in TABLE_COLUMNS.items() if src in best.columns}
    rows = []
    for _, r in best.iterrows():
        row = {out: _plain(r[src]) for out, src in cols.items()}
        if metric not in TABLE_COLUMNS.values():
            row[metric] = _plain(r[metric])
        rows.append(row)
    return rows


def _plain(value):
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating,)):
        return float(value)
    return value
