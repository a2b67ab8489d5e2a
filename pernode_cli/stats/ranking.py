"""The paper's ranking statistics: pure functions over plain arrays and data frames, no I/O.

Procedure (paper section V-B): for each variant take its ``top`` records with the best
metric (duplicate rates allowed). ``M[i, j]`` is the i-th best value of variant ``j``:
blocks are rank positions, treatments are variants. Friedman's chi-square over that
``n x k`` matrix, Kendall's ``W = chi2 / (n (k - 1))`` (tie-corrected as the chi-square is),
the paper's pooled mean ranks (over all ``n k`` records) and Friedman's within-block mean
ranks, the Nemenyi critical difference and a permutation p-value.

The blocks are the 1st..n-th best records of one variant: order statistics of one sample,
strongly dependent, while Friedman's test assumes independent blocks. So the p-values and
W describe the selected records, not independent evidence; ``pernode_cli.stats.configs``
holds the design whose p-values hold their level, and ``rank_logs`` (below) runs either.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Optional

import numpy as np

from pernode_cli.errors import PernodeError
from pernode_cli.stats.rows import (
    REASONS,
    LeftOut,
    Record,
    clean_rows,
    left_out_text,
    mixed_settings,
    plain,
    variant_list,
)

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


@dataclass(frozen=True, kw_only=True)
class Friedman(Record):
    chi2: float
    p: float
    p_permutation: float
    kendall_w: float
    n_blocks: int
    k: int
    critical_difference: float


@dataclass(frozen=True, kw_only=True)
class VariantRank(Record):
    variant: str
    pooled_mean_rank: float
    mean_rank: float
    best: float


@dataclass(frozen=True, kw_only=True)
class Ranking(Record):
    """The paper's layout on one data set. Its p-values and W describe the selected records:
    the blocks are order statistics of one sample, not independent evidence."""

    dataset: str
    metric: str
    top: int
    friedman: Friedman
    variants: tuple  # VariantRank, best first
    top_rows: tuple = ()  # Table I rows (dicts)
    design: str = "paper"


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
        VariantRank(variant=v, pooled_mean_rank=float(pooled[j]), mean_rank=float(within[j]), best=float(m[0, j]))
        for j, v in enumerate(variants)
    ]
    ranks.sort(key=lambda r: (r.pooled_mean_rank, r.mean_rank, r.variant))
    return friedman, ranks


MIN_TOP = 2  # Friedman's test needs at least two blocks (rank positions)


def check_top(top: int, table_top: int) -> None:
    if top < MIN_TOP:
        raise PernodeError(
            f"`top` must be at least {MIN_TOP}: the paper's layout takes each variant's `top` best records as "
            f"the blocks of Friedman's test, which needs at least {MIN_TOP} blocks (got {top})."
        )
    if table_top < 1:
        raise PernodeError(f"`table_top` must be at least 1 (got {table_top}).")


def selected_rows(group, metric: str, top: int, maximize: bool):
    """The rows behind the paper's matrix: each variant's ``top`` best records."""
    ordered = group.sort_values(metric, ascending=not maximize, kind="mergesort")
    return ordered.groupby("variant", sort=False).head(top)


def rank_paper(group, name: str, metric: str, top: int, table_top: int) -> Ranking:
    """The paper's layout on the cleaned rows of one data set."""
    counts = group["variant"].value_counts()
    if len(counts) < 3:
        raise PernodeError(
            f"Data set {name!r} has {len(counts)} variant(s) ({', '.join(sorted(counts.index.astype(str)))}); "
            "the Friedman test needs at least 3."
        )
    short = counts[counts < top].sort_index()
    if len(short):
        worst = int(short.min())
        fix = (f"set `top` to {worst} or fewer" if worst >= MIN_TOP
               else f"the paper's layout needs at least {MIN_TOP} records of every variant")
        raise PernodeError(
            f"Data set {name!r}: variant(s) {', '.join(f'{v} ({c})' for v, c in short.items())} have fewer "
            f"than {top} records (`top`); {fix}."
        )
    maximize = higher_is_better(metric)
    values = {str(v): g[metric].to_numpy() for v, g in group.groupby("variant", sort=True)}
    friedman, ranks = rank_variants(values, top, maximize)
    return Ranking(dataset=name, metric=metric, top=top, friedman=friedman, variants=tuple(ranks),
                   top_rows=top_rows(group, metric, table_top, maximize))


def rank_frame(frame, metric: str = "val_loss", top: int = 5, table_top: int = 3, dataset=None) -> list[Ranking]:
    """The paper's layout on every data set of a merged log frame, each ranked separately.

    Rows are cleaned first (``pernode_cli.stats.rows.clean_rows``): finished attempts only,
    each row once, status ok.
    """
    check_top(top, table_top)
    clean = clean_rows(frame, metric, dataset)
    groups = clean.groups()
    if not groups:
        raise PernodeError("The log(s) hold no finished rows with status ok to rank.")
    return [rank_paper(group, name, metric, top, table_top) for name, group in groups]


def top_rows(group, metric: str, table_top: int, maximize: bool) -> tuple:
    """Table I style: the best ``table_top`` records of each variant, sorted by the metric."""
    best = selected_rows(group, metric, table_top, maximize)
    cols = {out: src for out, src in TABLE_COLUMNS.items() if src in best.columns}
    rows = []
    for _, r in best.iterrows():
        row = {out: plain(r[src]) for out, src in cols.items()}
        if metric not in TABLE_COLUMNS.values():
            row[metric] = plain(r[metric])
        rows.append(row)
    return tuple(rows)


# --- either design: what `pernode rank` and `pernode report` call -----------------------------

DESIGNS = ("auto", "configs", "paper")
# ``auto`` runs the configs design on a data set with at least this many complete blocks: the
# fewest at which Friedman's chi-square can reach p < 0.05 whatever the number of variants
# (k = 3 needs 3 blocks that all rank alike; 2 blocks cannot, for k < 9).
AUTO_MIN_BLOCKS = 3


@dataclass(frozen=True, kw_only=True)
class RankOptions:
    """The keywords of ``rank_logs``; ``check`` refuses a bad value, naming it."""

    design: str = "auto"
    metric: str = "val_loss"
    top: int = 5
    table_top: int = 3
    dataset: Optional[str] = None
    select: str = "best"
    seeds: str = "average"
    control: Optional[str] = None
    across_datasets: bool = False
    variants: Any = None  # names (or "A,B,C") to rank; None for every variant in the logs

    def check(self) -> "RankOptions":
        from pernode_cli.stats import configs

        if self.design not in DESIGNS:
            raise PernodeError(f"`design` must be one of {', '.join(DESIGNS)}, not {self.design!r}.")
        configs._check_choice("select", self.select, configs.SELECTS)
        configs._check_choice("seeds", self.seeds, configs.SEED_MODES)
        named = variant_list(self.variants)
        if self.control is not None and named is not None and str(self.control) not in named:
            raise PernodeError(f"`control` {self.control!r} is not one of the variants named in `variants`.")
        if self.design == "configs":
            if self.table_top < 1:
                raise PernodeError(f"`table_top` must be at least 1 (got {self.table_top}).")
        else:  # the paper's layout may run
            check_top(self.top, self.table_top)
        if self.design == "paper":
            for name in ("control", "across_datasets"):
                if getattr(self, name):
                    raise PernodeError(f"`{name}` belongs to the configs design; the paper's layout does not use it.")
        return self


@dataclass(frozen=True, kw_only=True)
class DatasetRanking(Record):
    """One data set ranked under one design, with what was read to get there."""

    dataset: str
    metric: str
    design: str  # paper | configs: the design that ran
    design_reason: str  # why that design ran
    ranking: Any  # Ranking (paper) or configs.ConfigsRanking (configs)
    top_rows: tuple  # Table I: each variant's best records
    seed_table: tuple  # Table I over seeds: mean and 95% interval per configuration; () with one seed each
    left_out: LeftOut
    mixed_settings: dict  # {setting: {variant: [values]}} where the ranked rows mix a setting
    select: str = "best"  # the epoch of each run that the seed table (and the configs design) takes

    def to_dict(self) -> dict:
        out = {"dataset": self.dataset, "metric": self.metric, "design": self.design,
               "design_reason": self.design_reason}
        stats = self.ranking.to_dict()
        out.update({k: v for k, v in stats.items() if k not in out and k != "top_rows"})
        out.update(top_rows=plain(self.top_rows), seed_table=plain(self.seed_table),
                   left_out=self.left_out.to_dict(), mixed_settings=plain(self.mixed_settings))
        return out


@dataclass(frozen=True, kw_only=True)
class RankResult(Record):
    datasets: tuple  # DatasetRanking, by data set name
    not_ranked: tuple = ()  # LeftOut of data sets whose every row was left out
    rows_without_dataset: int = 0
    rows: Any = field(default=None, repr=False, compare=False)  # the cleaned rows that were read

    def to_dict(self) -> dict:
        return {"datasets": [d.to_dict() for d in self.datasets],
                "not_ranked": [x.to_dict() for x in self.not_ranked],
                "rows_without_dataset": self.rows_without_dataset}


def _choose(group, name: str, o: RankOptions) -> tuple[str, str]:
    from pernode_cli.stats.configs import count_complete_blocks

    if o.design != "auto":
        return o.design, "asked for"
    n = count_complete_blocks(group, o.metric, o.seeds, cleaned=True).get(name, 0)
    if n >= AUTO_MIN_BLOCKS:
        return "configs", (f"chosen automatically: {n} complete blocks (configurations that every variant ran), "
                           f"at least {AUTO_MIN_BLOCKS} needed")
    return "paper", (f"chosen automatically: {n} complete block(s), fewer than the {AUTO_MIN_BLOCKS} the configs "
                     "design needs, so the paper's layout describes the best records instead")


def seed_table(group, metric: str, select: str, table_top: int) -> tuple:
    """Each variant's best ``table_top`` configurations over seeds, when some ran with several."""
    from pernode_cli.stats.configs import seed_summary

    summary = seed_summary(group, metric, select=select, cleaned=True)
    if summary.empty or max(int(n) for n in summary["n_seeds"]) <= 1:
        return ()
    best = summary.drop(columns=["dataset"]).groupby("variant", sort=False).head(table_top)
    return tuple(plain(row) for row in best.to_dict("records"))


def _rank_one(group, name: str, left: LeftOut, o: RankOptions) -> DatasetRanking:
    from pernode_cli.stats.configs import rank_configs

    design, reason = _choose(group, name, o)
    maximize = higher_is_better(o.metric)
    if design == "paper":
        ranking = rank_paper(group, name, o.metric, o.top, o.table_top)
        used, rows = selected_rows(group, o.metric, o.top, maximize), ranking.top_rows
        if o.control:
            reason += "; `control` is not used by the paper's layout"
    else:
        (ranking,) = rank_configs(group, o.metric, select=o.select, seeds=o.seeds, control=o.control, cleaned=True)
        used, rows = group, top_rows(group, o.metric, o.table_top, maximize)
    return DatasetRanking(dataset=name, metric=o.metric, design=design, design_reason=reason, ranking=ranking,
                          top_rows=rows, seed_table=seed_table(group, o.metric, o.select, o.table_top),
                          left_out=left, mixed_settings=mixed_settings(used), select=o.select)


def _rank_pooled(clean, o: RankOptions) -> DatasetRanking:
    from pernode_cli.stats.configs import POOLED, rank_configs

    (ranking,) = rank_configs(clean.frame, o.metric, select=o.select, seeds=o.seeds, control=o.control,
                              across_datasets=True, cleaned=True)
    totals = {k: sum(getattr(x, k) for x in clean.left_out) for k in ("rows", "ranked", *REASONS)}
    return DatasetRanking(dataset=POOLED, metric=o.metric, design="configs",
                          design_reason="asked for: blocks are the configurations of every data set",
                          ranking=ranking, top_rows=(), seed_table=(), left_out=LeftOut(dataset=POOLED, **totals),
                          mixed_settings=mixed_settings(clean.frame), select=o.select)


def rank_logs(frame, **options) -> RankResult:
    """Rank a merged log frame under ``design`` (``RankOptions`` lists the keywords).

    ``auto`` runs the configs design on every data set with at least ``AUTO_MIN_BLOCKS``
    complete blocks and the paper's layout on the others; each result says which ran and why.
    """
    o = RankOptions(**options).check()
    clean = clean_rows(frame, o.metric, o.dataset, o.variants)
    groups = clean.groups()
    if not groups:
        raise PernodeError(f"The log(s) hold no finished rows with status ok to rank ({_all_left_out(clean)}).")
    if o.across_datasets:
        results = (_rank_pooled(clean, o),)
    else:
        results = tuple(_rank_one(group, name, clean.of(name), o) for name, group in groups)
    return RankResult(datasets=results, not_ranked=tuple(x for x in clean.left_out if x.ranked == 0),
                      rows_without_dataset=clean.no_dataset, rows=clean.frame)


def _all_left_out(clean) -> str:
    parts = [f"{x.dataset}: {left_out_text(x)}" for x in clean.left_out]
    if clean.no_dataset:
        parts.append(f"{clean.no_dataset} row(s) with an empty data set")
    return "; ".join(parts) or "no rows"
