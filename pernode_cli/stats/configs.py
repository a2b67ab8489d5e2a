"""Configuration-blocked ranking of variants: pure functions over log frames, no I/O.

The standard design for comparing methods (Demsar 2006; Garcia and Herrera 2008; Benavoli,
Corani and Mangili 2016): a *block* is one configuration, i.e. the data set and every
setting except the variant (``rate``, ``units``, ``batch_size``, ``seed``, ``epochs``,
``lr``, ``patience``, ``max_train_samples``, whichever columns the log has; a missing one
is a single constant value). Every variant contributes one value per block: its metric at
the best epoch of the run (``select="best"``) or at the last one (``select="last"``). Only
blocks where every ranked variant has a value are used. Over those blocks: Friedman's
chi-square, the Iman-Davenport F, Kendall's W, within-block mean ranks, the Nemenyi
critical difference, and pairwise Wilcoxon signed-rank tests with Holm's correction.

Unlike the paper's layout (``pernode_cli.stats.ranking``), whose blocks are the 1st..n-th
best records of one sample and therefore dependent, these blocks are separate training
runs, so the p-values hold their nominal level. Rows are read as every ranking reads them
(``pernode_cli.stats.rows``): finished attempts only, each row once, status ok.

Seeds: with ``seeds="average"`` (the default) each variant's values are first averaged over
the seeds of a configuration, and the block is the configuration without the seed. The
seeds of one configuration share every other setting, and with it any variant-by-setting
interaction, so they are not independent blocks; ``seeds="blocks"`` treats each seed as
its own block anyway (more blocks, but the p-values are only valid when no such
interaction exists).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Optional

import numpy as np

from pernode_cli.errors import PernodeError
from pernode_cli.stats.ranking import higher_is_better, nemenyi_cd
from pernode_cli.stats.rows import Record, clean_rows

# Settings that, with the data set, define a configuration. ``mc_samples`` is left out: it
# changes only the Monte Carlo evaluation, not the trained model.
CONFIG_COLUMNS = ("rate", "units", "batch_size", "seed", "epochs", "lr", "patience", "max_train_samples")
SELECTS = ("best", "last")
SEED_MODES = ("average", "blocks")
POOLED = "all data sets"
MIN_VARIANTS = 3
MIN_BLOCKS = 2




@dataclass(frozen=True, kw_only=True)
class PairwiseTest(Record):
    """Wilcoxon signed-rank test of ``a`` against ``b`` over the blocks (two-sided)."""

    a: str
    b: str
    statistic: float
    p: float
    p_holm: float  # Holm step-down adjusted over all pairs of this ranking
    median_difference: float  # median over blocks of a minus b, in metric units


@dataclass(frozen=True, kw_only=True)
class ConfigsVariant(Record):
    variant: str
    mean_rank: float  # within-block mean rank, 1 = best
    median: float  # median of the variant's block values, in metric units


@dataclass(frozen=True, kw_only=True)
class ConfigsRanking(Record):
    dataset: str
    metric: str
    design: str = "configs"
    select: str
    seeds: str
    block_columns: tuple  # the settings that tell blocks apart (besides the data set)
    n_blocks: int
    dropped_blocks: int  # blocks that lack a value for at least one ranked variant
    k: int
    chi2: float
    p: float
    iman_davenport_f: float  # inf (None in to_dict) when every block ranks alike
    iman_davenport_p: float
    kendall_w: float
    critical_difference: float  # Nemenyi at alpha 0.05, in mean-rank units
    variants: tuple  # ConfigsVariant, best mean rank first
    pairwise: tuple  # PairwiseTest, all pairs or each variant against ``control``
    control: Optional[str] = None


@dataclass(frozen=True, kw_only=True)
class BlockStatistics(Record):
    """Friedman family statistics of one ``(n blocks, k variants)`` matrix."""

    n: int
    k: int
    chi2: float
    p: float
    iman_davenport_f: float
    iman_davenport_p: float
    kendall_w: float
    mean_ranks: tuple  # per column of the matrix, 1 = best


def select_epoch(curves: np.ndarray, select: str = "best", maximize: bool = False) -> np.ndarray:
    """One value per run from ``(..., epochs)`` curves: the best or the last epoch."""
    c = np.asarray(curves, dtype="float64")
    if select == "last":
        return c[..., -1]
    return c.max(axis=-1) if maximize else c.min(axis=-1)


def block_statistics(matrix: np.ndarray, maximize: bool = False) -> BlockStatistics:
    """Friedman chi2 and p, Iman-Davenport F and p, Kendall's W and mean ranks (1 = best)."""
    from scipy.stats import f as f_dist
    from scipy.stats import friedmanchisquare, rankdata

    m = np.asarray(matrix, dtype="float64")
    n, k = m.shape
    ranks = rankdata(-m if maximize else m, axis=1)
    if np.all(m == m[:, :1]):  # every block one big tie: nothing to rank
        chi2, p = 0.0, 1.0
    else:
        res = friedmanchisquare(*m.T)
        chi2, p = max(float(res.statistic), 0.0), float(res.pvalue)
    most = n * (k - 1)  # chi2 when every block ranks the variants alike
    if most - chi2 <= 1e-12 * most:
        f, f_p = math.inf, 0.0
    else:
        f = (n - 1) * chi2 / (most - chi2)
        f_p = float(f_dist.sf(f, k - 1, (k - 1) * (n - 1)))
    return BlockStatistics(
        n=n, k=k, chi2=chi2, p=p, iman_davenport_f=float(f), iman_davenport_p=f_p,
        kendall_w=chi2 / most, mean_ranks=tuple(float(r) for r in ranks.mean(axis=0)),
    )


def holm(pvalues) -> tuple:
    """Holm's step-down adjusted p-values, monotone and capped at 1, in the input order."""
    p = np.asarray(pvalues, dtype="float64")
    m = len(p)
    order = np.argsort(p, kind="stable")
    adjusted = np.minimum(1.0, np.maximum.accumulate((m - np.arange(m)) * p[order]))
    out = np.empty(m)
    out[order] = adjusted
    return tuple(float(x) for x in out)


def wilcoxon_pair(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """Two-sided Wilcoxon signed-rank statistic and p of paired ``a - b``; (0, 1) if all equal."""
    from scipy.stats import wilcoxon

    d = np.asarray(a, dtype="float64") - np.asarray(b, dtype="float64")
    if np.all(d == 0):
        return 0.0, 1.0
    res = wilcoxon(d, alternative="two-sided")
    return float(res.statistic), float(res.pvalue)


def pairwise_tests(matrix: np.ndarray, variants, order, control: Optional[str] = None) -> tuple:
    """Wilcoxon tests for all pairs (``a`` ranked before ``b``) or each variant vs ``control``."""
    column = {v: j for j, v in enumerate(variants)}
    if control is None:
        pairs = [(a, b) for i, a in enumerate(order) for b in order[i + 1:]]
    else:
        pairs = [(v, control) for v in order if v != control]
    raw = []
    for a, b in pairs:
        x, y = matrix[:, column[a]], matrix[:, column[b]]
        raw.append((a, b, *wilcoxon_pair(x, y), float(np.median(x - y))))
    adjusted = holm([r[3] for r in raw])
    return tuple(
        PairwiseTest(a=a, b=b, statistic=s, p=p, p_holm=ph, median_difference=md)
        for (a, b, s, p, md), ph in zip(raw, adjusted)
    )


_cd = functools.lru_cache(maxsize=256)(nemenyi_cd)


def rank_blocks(matrix: np.ndarray, variants, maximize: bool, control: Optional[str] = None, **meta) -> ConfigsRanking:
    """The full record for one complete ``(n blocks, k variants)`` matrix; ``meta`` fills the rest."""
    m = np.asarray(matrix, dtype="float64")
    variants = [str(v) for v in variants]
    stats = block_statistics(m, maximize)
    ranked = sorted(
        (ConfigsVariant(variant=v, mean_rank=r, median=float(np.median(m[:, j])))
         for j, (v, r) in enumerate(zip(variants, stats.mean_ranks))),
        key=lambda x: (x.mean_rank, x.variant),
    )
    order = [x.variant for x in ranked]
    return ConfigsRanking(
        n_blocks=stats.n, k=stats.k, chi2=stats.chi2, p=stats.p,
        iman_davenport_f=stats.iman_davenport_f, iman_davenport_p=stats.iman_davenport_p,
        kendall_w=stats.kendall_w, critical_difference=_cd(stats.k, stats.n),
        variants=tuple(ranked), pairwise=pairwise_tests(m, variants, order, control),
        control=control, **meta,
    )


# --- from log rows to block tables ---------------------------------------------------------


def _check_choice(name: str, value, allowed) -> None:
    if value not in allowed:
        options = " or ".join(repr(a) for a in allowed)
        raise PernodeError(f"`{name}` must be {options}, not {value!r}.")


def _valid_rows(frame, metric: str, cleaned: bool = False):
    """The rows a ranking reads (``pernode_cli.stats.rows.clean_rows``): finished attempts, each
    row once, status ok, the metric as finite floats, data set and variant as text.
    ``cleaned``: ``frame`` is already ``clean_rows(...).frame`` for this metric."""
    return frame if cleaned else clean_rows(frame, metric).frame


def _run_values(frame, metric: str, select: str, maximize: bool, columns: list):
    """One value per (data set, variant, configuration): per run, then averaged over repeats."""
    keys = ["dataset", "variant", *columns]
    if select == "last" and "epoch" in frame.columns:
        import pandas as pd

        epoch = pd.to_numeric(frame["epoch"], errors="coerce")
        frame = frame.iloc[np.argsort(epoch.to_numpy(dtype="float64", na_value=-np.inf), kind="stable")]
    run_keys = keys + (["run_id"] if "run_id" in frame.columns else [])
    runs = frame.groupby(run_keys, dropna=False, sort=False)[metric]
    per_run = runs.last() if select == "last" else (runs.max() if maximize else runs.min())
    # Repeated runs of one configuration (same settings, another run id) count once.
    return per_run.groupby(level=list(range(len(keys))), dropna=False, sort=False).mean().reset_index()


def _block_tables(frame, metric: str, select: str, seeds: str, across_datasets: bool):
    """``{data set name: blocks x variants table}`` and the settings that define the blocks."""
    columns = [c for c in CONFIG_COLUMNS if c in frame.columns]
    values = _run_values(frame, metric, select, higher_is_better(metric), columns)
    if seeds == "average" and "seed" in columns:
        columns = [c for c in columns if c != "seed"]
        keys = ["dataset", "variant", *columns]
        values = values.groupby(keys, dropna=False, sort=False)[metric].mean().reset_index()
    if across_datasets:
        groups, keys = [(POOLED, values)], ["dataset", *columns]
    else:
        groups, keys = sorted(values.groupby("dataset", sort=False), key=lambda g: g[0]), columns
    tables = {}
    for name, group in groups:
        block = group.groupby(keys, dropna=False, sort=False).ngroup() if keys else 0
        tables[str(name)] = group.assign(_block=block).pivot(index="_block", columns="variant", values=metric)
    return tables, tuple(columns)


def _complete(table, ranked):
    """Complete ``(n, k)`` values and the number of blocks dropped for a missing variant."""
    present = [v for v in ranked if v in table.columns]
    sub = table.reindex(columns=list(ranked))
    touched = sub[table[present].notna().any(axis=1)] if present else sub.iloc[:0]
    full = touched.dropna()
    return full.to_numpy(dtype="float64"), len(touched) - len(full)


def _ranked_variants(table, variants, name: str) -> list:
    if variants is None:
        return sorted(str(v) for v in table.columns)
    absent = [v for v in variants if v not in table.columns]
    if absent:
        raise PernodeError(
            f"Data set {name!r} has no rows with status ok for {', '.join(absent)}, named in `variants`."
        )
    return list(variants)


def _normalise_variants(variants):
    if variants is None:
        return None
    if isinstance(variants, str):
        variants = [variants]
    return list(dict.fromkeys(str(v) for v in variants))


def rank_configs(frame, metric: str = "val_loss", select: str = "best", seeds: str = "average",
                 control: Optional[str] = None, across_datasets: bool = False, variants=None,
                 cleaned: bool = False) -> list:
    """Rank variants over configuration blocks: one ``ConfigsRanking`` per data set (by name).

    ``across_datasets`` pools the blocks of every data set into one ranking; ``variants``
    restricts (and orders) the ranked variants; ``control`` limits the pairwise tests to
    each variant against that one.
    """
    _check_choice("select", select, SELECTS)
    _check_choice("seeds", seeds, SEED_MODES)
    variants = _normalise_variants(variants)
    if control is not None and variants is not None and str(control) not in variants:
        raise PernodeError(f"`control` {control!r} is not one of the variants named in `variants`.")
    rows = _valid_rows(frame, metric, cleaned)
    if rows.empty:
        raise PernodeError("The log(s) hold no finished rows with status ok to rank.")
    tables, columns = _block_tables(rows, metric, select, seeds, across_datasets)
    maximize = higher_is_better(metric)
    out = []
    for name, table in tables.items():
        ranked = _ranked_variants(table, variants, name)
        _check_ranked(name, ranked, control)
        m, dropped = _complete(table, ranked)
        if len(m) < MIN_BLOCKS:
            raise PernodeError(
                f"Data set {name!r} has {len(m)} complete block(s) (configurations with a value for every "
                f"one of {len(ranked)} variants; {dropped} dropped) and the configs design needs at least "
                f"{MIN_BLOCKS}: run every variant at the same settings, or name fewer in `variants`."
            )
        out.append(rank_blocks(m, ranked, maximize, None if control is None else str(control),
                               dataset=name, metric=metric, select=select, seeds=seeds,
                               block_columns=columns, dropped_blocks=dropped))
    return out


def _check_ranked(name: str, ranked: list, control) -> None:
    if len(ranked) < MIN_VARIANTS:
        raise PernodeError(
            f"Data set {name!r} has {len(ranked)} variant(s) to rank ({', '.join(ranked) or 'none'}) and "
            f"the configs design needs at least {MIN_VARIANTS}: log more variants or name more in `variants`."
        )
    if control is not None and str(control) not in ranked:
        raise PernodeError(
            f"`control` {control!r} is not one of the ranked variants of data set {name!r} ({', '.join(ranked)})."
        )


def count_complete_blocks(frame, metric: str = "val_loss", seeds: str = "average", variants=None,
                          across_datasets: bool = False, cleaned: bool = False) -> dict:
    """``{data set: number of blocks with a value for every ranked variant}``; never raises on shape."""
    _check_choice("seeds", seeds, SEED_MODES)
    variants = _normalise_variants(variants)
    rows = _valid_rows(frame, metric, cleaned)
    if rows.empty:
        return {}
    tables, _ = _block_tables(rows, metric, "best", seeds, across_datasets)
    counts = {}
    for name, table in tables.items():
        ranked = sorted(str(v) for v in table.columns) if variants is None else variants
        counts[name] = len(_complete(table, ranked)[0]) if len(ranked) >= MIN_VARIANTS else 0
    return counts


def seed_summary(frame, metric: str = "val_loss", maximize: Optional[bool] = None, select: str = "best",
                 confidence: float = 0.95, cleaned: bool = False):
    """One row per (data set, variant, configuration without the seed) over its seeds.

    Columns: dataset, variant, the configuration's settings, ``n_seeds``, ``mean``,
    ``std``, ``ci_low`` and ``ci_high`` (a t-interval over the seeds' per-run values).
    ``std`` and the interval are None for a single seed; NaN never appears (None instead).
    Sorted by data set, then best mean first.
    """
    import pandas as pd
    from scipy.stats import t as t_dist

    _check_choice("select", select, SELECTS)
    maximize = higher_is_better(metric) if maximize is None else bool(maximize)
    rows = _valid_rows(frame, metric, cleaned)
    columns = [c for c in CONFIG_COLUMNS if c in rows.columns]
    values = _run_values(rows, metric, select, maximize, columns)
    keys = ["dataset", "variant", *[c for c in columns if c != "seed"]]
    g = values.groupby(keys, dropna=False, sort=False)[metric]
    out = g.agg(n_seeds="count", mean="mean", std="std").reset_index()
    half = t_dist.ppf(0.5 + confidence / 2, out["n_seeds"].clip(lower=2) - 1) * out["std"] / np.sqrt(out["n_seeds"])
    out["ci_low"], out["ci_high"] = out["mean"] - half, out["mean"] + half
    out = out.sort_values(["dataset", "mean", "variant"], ascending=[True, not maximize, True], kind="stable")
    out = out.reset_index(drop=True)
    for col in out.columns:  # one seed has no spread: None, not NaN
        if out[col].isna().any():
            out[col] = pd.Series([None if pd.isna(v) else v for v in out[col]], index=out.index, dtype=object)
    return out
