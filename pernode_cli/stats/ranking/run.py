"""``rank_logs``: a merged log frame ranked under the options, one ``RankResult``.

The rows are read once (``prepare``: options checked, the metric resolved, rows cleaned,
names matched) and ranked under as many designs as asked (``ranked``): `pernode report`
ranks one preparation under both designs and across data sets.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Optional

from pernode_cli.errors import PernodeError
from pernode_cli.stats import blocks as blk
from pernode_cli.stats.direction import direction_word
from pernode_cli.stats.ranking.designs import rank_across, rank_dataset
from pernode_cli.stats.ranking.options import RankOptions, Resolved, resolve, versions
from pernode_cli.stats.ranking.records import RankResult
from pernode_cli.stats.ranking.targets import rank_targets
from pernode_cli.stats.ranking.texts import all_left_out
from pernode_cli.stats.rows import clean_rows, match_names, variant_list


@dataclass(frozen=True)
class Prepared:
    """Rows read once for rankings: the checked options, what was resolved, the cleaned rows."""

    options: RankOptions
    resolved: Resolved
    clean: Any
    groups: list
    control: Optional[str]
    kind: str  # logs | results table
    frame: Any  # the merged frame as given (time to target reads every epoch)


def prepare(frame, **options) -> Prepared:
    """Check the options, resolve the metric and clean the rows (``RankOptions`` lists the keywords)."""
    o = RankOptions(**options).check()
    r = resolve(frame, o)
    clean = clean_rows(frame, r.metric, o.dataset, o.variants)
    groups = clean.groups()
    if not groups:
        raise PernodeError(f"The log(s) hold no finished rows with status ok to rank ({all_left_out(clean)}).")
    present = sorted(str(v) for v in clean.frame["variant"].unique())
    names = None if o.variants is None else match_names(variant_list(o.variants), present, "variants")
    if o.control is not None and names is not None and str(o.control).lower() not in {n.lower() for n in names}:
        raise PernodeError(f"`control` {o.control!r} is not one of the variants named in `variants`.")
    control = None if o.control is None else match_names([o.control], present, "control")[0]
    kind = "logs" if "epoch" in frame.columns else "results table"
    return Prepared(replace(o, variants=names), r, clean, groups, control, kind, frame)


def ranked(p: Prepared, **changes) -> RankResult:
    """The ranking of prepared rows, with ``changes`` to the options that do not change which rows
    are read (``design``, ``across``, ``per_dataset``, ``control``, ``target``, ``top``, ...)."""
    o = replace(p.options, **changes).check() if changes else p.options
    r, clean, groups, control = p.resolved, p.clean, p.groups, p.control
    if "control" in changes:
        control = None if o.control is None else match_names(
            [o.control], sorted(str(v) for v in clean.frame["variant"].unique()), "control")[0]
    table = p.kind == "results table"
    auto_across = (table and o.across is None and len(groups) >= 2
                   and all(_single_block(g, r, o) for _, g in groups))
    if auto_across:
        o = replace(o, across="datasets")  # one value per method and data set: the data sets are the blocks
    datasets = tuple(rank_dataset(g, n, clean.of(n), r, o, control, table) for n, g in groups)
    across = rank_across(clean, r, o, control) if o.across is not None else None
    if table:
        datasets = tuple(replace(d, source=p.kind) for d in datasets)
        across = None if across is None else replace(across, source=p.kind)
        if auto_across and across is not None:
            across = replace(across, design_reason="a results table with one value per method and data set, so the "
                                                   "data sets are the blocks (Demsar 2006)")
    notes = tuple(n for n in (r.direction_note, f"Defaults: {r.default_note}." if r.default_note else "") if n)
    datasets = tuple(replace(d, warnings=notes + d.warnings) for d in datasets)
    if across is not None and r.direction_note:
        across = replace(across, warnings=(r.direction_note,) + across.warnings)
    targets, times = rank_targets(p.frame, o, control) if o.target is not None else ((), None)
    return RankResult(datasets=datasets, across=across, not_ranked=tuple(x for x in clean.left_out if x.ranked == 0),
                      rows_without_dataset=clean.no_dataset, versions=versions(),
                      options=_echo(o, r), kind=p.kind, targets=targets, target_times=times, rows=clean.frame)


def rank_logs(frame, **options) -> RankResult:
    """Rank a merged log frame (``RankOptions`` lists the keywords): one ``Ranking`` per data
    set, and one across data sets when ``across`` is given. A data set that cannot be ranked
    (one variant, no complete block) gets a record that says why; it never stops the others."""
    return ranked(prepare(frame, **options))


def _single_block(group, r: Resolved, o: RankOptions) -> bool:
    columns = list(o.block_columns) if o.block_columns is not None else None
    (m,) = blk.block_matrices(group, r.metric, r.select, r.select_on, r.select_maximize, "average", None,
                              columns).values()
    return m.n + m.dropped <= 1


def _echo(o: RankOptions, r: Resolved) -> dict:
    return {"design": o.design, "metric": r.metric, "direction": direction_word(r.maximize), "select": r.select,
            "select_on": r.select_on, "seeds": o.seeds, "control": o.control, "variants": o.variants,
            "dataset": o.dataset, "across": o.across, "per_dataset": o.per_dataset, "alpha": o.alpha,
            "zero_method": o.zero_method, "rope": o.rope, "top": o.top, "table_top": o.table_top}
