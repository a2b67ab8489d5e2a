"""Descriptive tables of a ranking: the paper's Table I (each variant's best records) and
Table I over seeds (each configuration's mean and t-interval over its seeds). Rows are
plain dicts in a total order, so the same rows in any order give the same table."""

from __future__ import annotations

import math

import numpy as np

from pernode_cli.stats import exact
from pernode_cli.stats.blocks import config_columns, run_values, sort_key
from pernode_cli.schema import plain

TABLE_COLUMNS = {  # output name -> log column
    "Variant": "variant",
    "DR": "rate",
    "Ep": "epoch",
    "V-Acc": "val_acc",
    "V-Loss": "val_loss",
    "T-Loss": "train_loss",
    "T-Acc": "train_acc",
    "Test-Acc": "test_acc",
    "Test-Loss": "test_loss",
}
TIE_BREAK = ("variant", "rate", "units", "batch_size", "seed", "epoch", "run_id", "attempt", "source")


def metric_label(metric: str) -> str:
    """The column that holds ``metric`` in Table I style rows."""
    return next((out for out, src in TABLE_COLUMNS.items() if src == metric), metric)


def _sortable(series) -> np.ndarray:
    """A column as float64 sort keys: numbers as they are (missing last), text by its order."""
    import pandas as pd

    numbers = pd.to_numeric(series, errors="coerce")
    if numbers.notna().sum() == series.notna().sum():
        return numbers.to_numpy(dtype="float64", na_value=np.inf)
    text = series.astype("string").fillna("")
    codes, _ = pd.factorize(text, sort=True)  # the text's order, vectorised
    return codes.astype("float64")


def ordered(group, metric: str, maximize: bool):
    """Rows best first by ``metric``, ties in a fixed order of the other columns."""
    keys = [c for c in TIE_BREAK if c in group.columns]
    value = group[metric].to_numpy(dtype="float64")
    columns = [_sortable(group[c]) for c in reversed(keys)] + [-value if maximize else value]
    return group.iloc[np.lexsort(columns)]


def best_records(group, metric: str, top: int, maximize: bool):
    """Each variant's ``top`` best records (epoch rows), best first.

    Only the candidates are sorted in full: per variant, the rows at least as good as its
    ``top``-th best value (ties at that value included), so the result is that of sorting
    every row, at the cost of one partition per variant."""
    import pandas as pd

    value = group[metric].to_numpy(dtype="float64")
    score = -value if maximize else value
    score = np.where(np.isnan(score), np.inf, score)
    codes, names = pd.factorize(group["variant"], use_na_sentinel=False)
    keep = np.zeros(len(group), dtype=bool)
    order = np.argsort(codes, kind="stable")
    bounds = np.searchsorted(codes[order], np.arange(len(names) + 1))
    for c in range(len(names)):
        at = order[bounds[c]:bounds[c + 1]]
        if len(at) <= top:
            keep[at] = True
            continue
        edge = np.partition(score[at], top - 1)[top - 1]
        keep[at[score[at] <= edge]] = True
    return ordered(group.iloc[np.flatnonzero(keep)], metric, maximize).groupby("variant", sort=False).head(top)


def top_rows(group, metric: str, table_top: int, maximize: bool) -> tuple:
    """Table I: the best ``table_top`` records of each variant, sorted by the metric."""
    import pandas as pd

    best = best_records(group, metric, table_top, maximize)
    cols = {out: src for out, src in TABLE_COLUMNS.items() if src in best.columns and
            (not src.startswith("test_") or best[src].notna().any())}
    numbers = {src: pd.to_numeric(best[src], errors="coerce") for src in cols.values() if src != "variant"}
    rows = []
    for i, (_, r) in enumerate(best.iterrows()):
        row = {out: plain(r[src] if src == "variant" else numbers[src].iat[i]) for out, src in cols.items()}
        if metric not in TABLE_COLUMNS.values():
            row[metric] = plain(r[metric])
        rows.append(row)
    return tuple(rows)


def seed_table(group, metric: str, select: str, select_on: str, maximize: bool, select_maximize: bool,
               table_top: int, confidence: float = 0.95, values=None) -> tuple:
    """Each variant's best ``table_top`` configurations over seeds (mean, std and t-interval
    of the runs' values); () unless some configuration ran with several seeds. ``values``:
    ``run_values`` of ``group`` over its configuration columns, when already computed."""
    from scipy.stats import t as t_dist

    columns = config_columns(group)
    if "seed" not in columns:
        return ()
    if values is None:
        values = run_values(group, metric, select, select_on, select_maximize, columns)
    keys = ["variant", *[c for c in columns if c != "seed"]]
    codes = values.groupby(keys, dropna=False, sort=False).ngroup().to_numpy()
    v = values["value"].to_numpy(dtype="float64")
    order = np.lexsort((v, codes))  # within a configuration by value: sums in an order of their own
    codes, v = codes[order], v[order]
    starts = np.flatnonzero(np.r_[True, codes[1:] != codes[:-1]])
    n = np.diff(np.r_[starts, len(codes)])
    means = exact.group_means(exact.from_floats(v), codes)[0].floats() if np.isfinite(v).all() else (
        np.add.reduceat(v, starts) / n)
    spread = np.add.reduceat((v - means[codes]) ** 2, starts)
    with np.errstate(invalid="ignore", divide="ignore"):
        std = np.sqrt(spread / (n - 1))
    first = values.iloc[order[starts]][keys]
    out = []
    for i, key in enumerate(first.itertuples(index=False, name=None)):
        mean = float(means[i])
        sd = float(std[i]) if n[i] > 1 else None
        half = None if sd is None else float(t_dist.ppf(0.5 + confidence / 2, n[i] - 1) * sd / math.sqrt(n[i]))
        row = dict(zip(keys, (plain(x) for x in key)))
        row.update(n_seeds=int(n[i]), mean=mean, std=sd, ci_low=None if half is None else mean - half,
                   ci_high=None if half is None else mean + half)
        out.append(row)
    if not out or max(r["n_seeds"] for r in out) <= 1:
        return ()
    out.sort(key=lambda r: (-r["mean"] if maximize else r["mean"], *(sort_key(r[k]) for k in keys)))
    best, seen = [], {}
    for r in out:
        seen[r["variant"]] = seen.get(r["variant"], 0) + 1
        if seen[r["variant"]] <= table_top:
            best.append(r)
    return tuple(best)
