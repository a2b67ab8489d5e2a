"""The designs: configuration blocks (configs), data sets as blocks, pooled configurations and
the paper's descriptive layout, each turned into a ``Ranking`` record."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from pernode_cli.stats import blocks as blk
from pernode_cli.stats.exact import exact_difference, exact_median
from pernode_cli.stats.exact import Exact
from pernode_cli.stats import procedures as proc
from pernode_cli.stats.direction import (
    direction_word,
)
from pernode_cli.stats.paper import MIN_TOP, paper_statistics, top_values
from pernode_cli.stats.rows import (
    REASONS,
    LeftOut,
    fairness_text,
    mixed_settings,
    mixed_text,
    plain,
)
from pernode_cli.stats.tables import seed_table, top_rows
from pernode_cli.stats.ranking.options import AUTO_MIN_BLOCKS, RankOptions, Resolved
from pernode_cli.stats.ranking.records import ACROSS_NAME, Blocks, Omnibus, PairTest, PostHoc, Ranking, VariantRank
from pernode_cli.stats.ranking.texts import CONDITIONS, design_warnings, interval_warnings


def _omnibus(m, maximize: bool):
    f = proc.friedman(m, maximize)
    n, k = m.shape
    return Omnibus(chi2=f.chi2, df=k - 1, iman_davenport_f=f.iman_davenport_f, kendall_w=f.kendall_w, p=f.p,
                   method=f.method, n_resamples=f.n_resamples, min_attainable_p=f.min_attainable_p), f.mean_ranks


def _effects(m: Exact, pairs_idx, maximize: bool, rope) -> list:
    """Hodges-Lehmann, P(improvement) and (with a ROPE) the Bayesian probabilities per pair."""
    from pernode_cli.stats.effects import PAIR_STATISTICS, compare_pairs

    if m.nums.shape[0] < 2 or not pairs_idx:
        return [{} for _ in pairs_idx]
    out = []
    for e in compare_pairs(m, maximize, pairs=pairs_idx, rope=rope).pairs:
        out.append({name: getattr(e, name) for name in PAIR_STATISTICS})
    return out


def _tied(d: Exact) -> bool:
    size = np.abs(d.nums)
    return bool((size == 0).any() or len(np.unique(size)) < len(size))


def _posthoc(m: Exact, variants, order, control, alpha: float, zero_method: str, maximize: bool = False,
             rope=None) -> PostHoc:
    column = {v: j for j, v in enumerate(variants)}
    if control is None:
        pairs = [(a, b) for i, a in enumerate(order) for b in order[i + 1:]]
    else:
        pairs = [(v, control) for v in order if v != control]
    raw = []
    for a, b in pairs:  # differences exact on the log's decimals (``stats.exact``): ties and zeros are
        d = exact_difference(m[:, column[a]], m[:, column[b]])
        t = proc.signed_rank(d, zero_method)
        raw.append((a, b, t, exact_median(d), _tied(d)))
    adjusted = proc.holm([t.p for _, _, t, _, _ in raw])
    effects = _effects(m, [(column[a], column[b]) for a, b in pairs], maximize, rope)
    tests = tuple(PairTest(a=a, b=b, statistic=t.statistic, p=t.p, p_holm=ph, reject=bool(ph <= alpha),
                           method=t.method, n_used=t.n_used, median_difference=md, tied=tied, **e)
                  for (a, b, t, md, tied), ph, e in zip(raw, adjusted, effects))
    n, family = m.nums.shape[0], len(pairs)
    floor = min(1.0, family * proc.min_signed_rank_p(n)) if family else 1.0
    return PostHoc(zero_method=zero_method, alpha=alpha, family="against control" if control else "all pairs",
                   control=control, pairs=tests, min_attainable_p_holm=floor, rope=rope,
                   blocks_needed=proc.blocks_needed_for_family(family, alpha) if floor > alpha else None)


def tested(m: blk.BlockMatrix, maximize: bool, control, o: RankOptions):
    """Omnibus, variants (best mean rank first), post-hoc family, Nemenyi CD and the warnings
    that the numbers themselves call for."""
    from pernode_cli.stats.effects import variant_intervals

    ex = m.exact_values()  # the cells exactly: ties and differences on the log's decimals
    omnibus, ranks = _omnibus(ex, maximize)
    intervals = {}
    if m.n >= 2:
        # Pooled blocks of several data sets are resampled within their data set (rliable's
        # stratified bootstrap); data sets as blocks, or one data set's blocks, are one group.
        strata = m.strata if m.kind == "pooled configurations" and len(set(m.strata)) > 1 else None
        for e in variant_intervals(m.values, strata=strata).variants:
            intervals[e.variant] = dict(mean=e.mean, mean_ci=e.mean_ci, iqm=e.iqm, iqm_ci=e.iqm_ci)
    variants = sorted((VariantRank(variant=v, mean_rank=r, median=float(np.median(np.sort(m.values[:, j]))),
                                   **intervals.get(j, {}))
                       for j, (v, r) in enumerate(zip(m.variants, ranks))), key=lambda x: (x.mean_rank, x.variant))
    order = [x.variant for x in variants]
    posthoc = _posthoc(ex, m.variants, order, control, o.alpha, o.zero_method, maximize, o.rope)
    warnings = []
    if omnibus.min_attainable_p is not None and omnibus.min_attainable_p > o.alpha:
        head = (f"With {m.n} block(s) of {m.k} variants the exact Friedman test cannot reach p <= {o.alpha:g} (its "
                f"smallest p here is {omnibus.min_attainable_p:.3g}): no difference can be shown. ")
        if proc.min_friedman_p(m.n, m.k) <= o.alpha:  # enough blocks: their ties are what bind
            warnings.append(head + "The blocks are enough; their tied values leave too few distinct rank patterns.")
        else:
            warnings.append(head + f"It needs at least {proc.friedman_blocks_needed(m.k, o.alpha)} blocks.")
    if posthoc.blocks_needed is not None and posthoc.pairs:
        k1 = m.k - 1
        control_need = proc.blocks_needed_for_family(k1, o.alpha)
        warnings.append(
            f"With {m.n} block(s) the smallest two-sided signed-rank p is {proc.min_signed_rank_p(m.n):.3g}, and Holm "
            f"over {len(posthoc.pairs)} test(s) needs p <= {o.alpha / len(posthoc.pairs):.3g} at its first step: no "
            f"pair can be declared different at alpha {o.alpha:g}. That needs at least {posthoc.blocks_needed} "
            f"blocks" + ("" if control is not None else
                         f"; comparing against one control ({k1} tests) needs {control_need}")
            + ", or rank fewer variants.")
    warnings += interval_warnings(m.n, posthoc)
    cd = proc.nemenyi_cd(m.k, m.n, o.alpha) if m.k >= 2 and m.n >= 1 else None
    return omnibus, tuple(variants), posthoc, cd, warnings


def _varying(m: blk.BlockMatrix) -> tuple:
    """The settings whose values differ between blocks (the others are constant)."""
    return tuple(c for i, c in enumerate(m.columns) if len({repr(key[i]) for key in m.keys}) > 1)


def blocks_record(m: blk.BlockMatrix, per_dataset=None) -> Blocks:
    return Blocks(kind=m.kind, n=m.n, k=m.k, columns=_varying(m), seeds=m.seeds if m.kind != "data sets" else None,
                  dropped=m.dropped, unequal_seeds=m.unequal_seeds, per_dataset=per_dataset, variants=m.variants,
                  keys=tuple(tuple(plain(v) for v in key) for key in m.keys),
                  values=tuple(tuple(float(x) for x in row) for row in m.values), strata=tuple(m.strata))


def not_ranked(name: str, r: Resolved, design: str, reason: str, o: RankOptions, **extra) -> Ranking:
    return Ranking(dataset=name, metric=r.metric, direction=direction_word(r.maximize), select=r.select,
                   select_on=r.select_on, design=design, design_reason=extra.pop("design_reason", ""), ranked=False,
                   reason=reason, alpha=o.alpha, conditions=CONDITIONS.get(design, ""), **extra)


def configurations_in(group) -> int:
    """Configurations (settings other than the variant and seed) in a data set's rows."""
    cols = [c for c in blk.config_columns(group) if c != "seed"]
    if not cols:
        return 1
    return int(group.groupby(cols, dropna=False, sort=False).ngroups)


def configs_ranking(name, m: blk.BlockMatrix, r: Resolved, o: RankOptions, control, reason: str,
                     configurations: int, **common) -> Ranking:
    if m.n == 0:
        return not_ranked(name, r, "configs", (
            f"no complete block: no configuration was run by every one of the {m.k} variants ({m.dropped} "
            "incomplete); run every variant at the same settings, or rank fewer variants"), o,
            design_reason=reason, blocks=blocks_record(m), **common)
    omnibus, variants, posthoc, cd, warnings = tested(m, r.maximize, control, o)
    warnings = design_warnings(m, r, configurations) + warnings
    return Ranking(dataset=name, metric=r.metric, direction=direction_word(r.maximize), select=r.select,
                   select_on=r.select_on, design="configs", design_reason=reason, ranked=True, alpha=o.alpha,
                   blocks=blocks_record(m), omnibus=omnibus, variants=variants, posthoc=posthoc, nemenyi_cd=cd,
                   conditions=CONDITIONS["configs"], warnings=tuple(warnings + list(common.pop("warnings", ()))),
                   **common)


def _paper_ranking(name, group, variants, r: Resolved, o: RankOptions, reason: str, **common) -> Ranking:
    counts = {v: int((group["variant"] == v).sum()) for v in variants}
    short = {v: c for v, c in counts.items() if c < o.top}
    if short:
        worst = min(short.values())
        fix = (f"set `top` to {worst} or fewer" if worst >= MIN_TOP else
               f"the paper's layout needs at least {MIN_TOP} records of every variant")
        return not_ranked(name, r, "paper", (
            f"variant(s) {', '.join(f'{v} ({c})' for v, c in sorted(short.items()))} have fewer than {o.top} records "
            f"(`top`); {fix}"), o, design_reason=reason, **common)
    m = top_values(group, r.metric, o.top, r.maximize, variants)
    s = paper_statistics(m, r.maximize)
    n, k = m.shape
    ranked = sorted((VariantRank(variant=v, mean_rank=float(s["mean_ranks"][j]),
                                 pooled_mean_rank=float(s["pooled_mean_ranks"][j]), best=float(s["best"][j]))
                     for j, v in enumerate(variants)), key=lambda x: (x.pooled_mean_rank, x.mean_rank, x.variant))
    omnibus = Omnibus(chi2=float(s["chi2"]), df=k - 1, iman_davenport_f=None, kendall_w=float(s["kendall_w"]),
                      p=None, method="descriptive")
    return Ranking(dataset=name, metric=r.metric, direction=direction_word(r.maximize), select=r.select,
                   select_on=r.select_on, design="paper", design_reason=reason, ranked=True, alpha=o.alpha,
                   blocks=Blocks(kind="rank positions", n=n, k=k, columns=(), seeds=None),
                   omnibus=omnibus, variants=tuple(ranked), nemenyi_cd=float(s["critical_difference"]),
                   conditions=CONDITIONS["paper"], **common)


def _choose(o: RankOptions, averaged: blk.BlockMatrix, as_blocks: blk.BlockMatrix, configurations: int):
    """``(design, matrix, reason)``: the design that runs on this data set and why."""
    if o.seeds is not None:  # asked for
        m = averaged if o.seeds == "average" else as_blocks
        if o.design == "configs" or (o.design == "auto" and m.n >= AUTO_MIN_BLOCKS):
            return "configs", m, "asked for" if o.design == "configs" else (
                f"chosen automatically: {m.n} complete blocks, at least {AUTO_MIN_BLOCKS} needed")
    elif averaged.n >= AUTO_MIN_BLOCKS or (o.design == "configs" and configurations > 1):
        return "configs", averaged, ("asked for" if o.design == "configs" else
                                     f"chosen automatically: {averaged.n} complete blocks (configurations every "
                                     f"variant ran, seeds averaged), at least {AUTO_MIN_BLOCKS} needed")
    elif configurations == 1 and as_blocks.n >= (1 if o.design == "configs" else AUTO_MIN_BLOCKS):
        return "configs", as_blocks, (
            f"{'asked for' if o.design == 'configs' else 'chosen automatically'}: one configuration, so its "
            f"{as_blocks.n} seeds are the blocks (independent runs with no other setting to interact with)")
    if o.design == "configs":
        return "configs", averaged, "asked for"
    return "paper", None, (
        f"chosen automatically: {averaged.n} complete block(s) of configurations (fewer than {AUTO_MIN_BLOCKS}) "
        "and no single configuration with enough seeds, so the paper's layout describes the best records instead")


def rank_dataset(group, name: str, left: LeftOut, r: Resolved, o: RankOptions, control, table: bool = False) -> Ranking:
    present = sorted(str(v) for v in group["variant"].unique())
    variants = sorted(o.variants) if o.variants is not None else present
    cols = list(o.block_columns) if o.block_columns is not None else None
    runs = blk.run_values(group, r.metric, r.select, r.select_on, r.select_maximize,
                          blk.config_columns(group) if cols is None else cols)  # once: every table below reads it
    common = dict(top_rows=top_rows(group, r.metric, o.table_top, r.maximize), left_out=left,
                  seed_table=seed_table(group, r.metric, r.select, r.select_on, r.maximize, r.select_maximize,
                                        o.table_top, values=runs if cols is None else None),
                  mixed_settings=mixed_settings(group))
    mixed = mixed_text(common["mixed_settings"])
    fair = fairness_text(common["mixed_settings"])
    common["warnings"] = tuple(w for w in (fair, mixed) if w)
    if len(variants) < 2:
        design = "paper" if o.design == "paper" else "configs"
        return not_ranked(name, r, design, (
            f"one variant ({', '.join(variants)}): a ranking needs at least 2 variants run at the same settings; "
            "log more variants"), o, design_reason="" if o.design == "auto" else "asked for", **common)
    if control is not None and control not in variants:
        return not_ranked(name, r, "configs", f"`control` {control} has no rows in this data set", o, **common)
    averaged = blk.block_matrices(group, r.metric, r.select, r.select_on, r.select_maximize, "average", variants,
                                  cols, values=runs)[name]
    as_blocks = blk.block_matrices(group, r.metric, r.select, r.select_on, r.select_maximize, "blocks", variants,
                                   cols, values=runs)[name]
    configurations = configurations_in(group)
    if table and averaged.n + averaged.dropped <= 1:
        return not_ranked(name, r, "configs", (
            "one value per method: in a results table such a data set is one block of the ranking across data "
            "sets (give `block_columns` for blocks within it)"), o, design_reason="a results table", **common)
    if o.design == "paper":
        design, m, reason = "paper", None, "asked for"
    else:
        design, m, reason = _choose(o, averaged, as_blocks, configurations)
    if design == "paper":
        paper = _paper_ranking(name, group, variants, r, o, reason, **common)
        if control is not None and paper.ranked:
            paper = replace(paper, design_reason=paper.design_reason + "; `control` is not used by the paper's layout")
        return paper
    return configs_ranking(name, m, r, o, control, reason, configurations, **common)


def _not_everywhere(matrices: dict, ranked) -> dict:
    """``{variant: [data sets without it]}`` of the variants some data set ran but the ranking left out."""
    present = {v for m in matrices.values() for v in m.variants if m.n}
    return {v: [name for name, m in sorted(matrices.items()) if v not in m.variants or not m.n]
            for v in sorted(present - set(ranked))}


def rank_across(clean, r: Resolved, o: RankOptions, control) -> Ranking:
    groups = dict(clean.groups())
    matrices = {}
    for _, group in groups.items():
        matrices.update(blk.block_matrices(group, r.metric, r.select, r.select_on, r.select_maximize,
                                           o.seeds or "average", o.variants,
                                           list(o.block_columns) if o.block_columns is not None else None))
    totals = {k: sum(getattr(x, k) for x in clean.left_out) for k in ("rows", "ranked", *REASONS)}
    left = LeftOut(dataset=ACROSS_NAME, **totals)
    design = "datasets" if o.across == "datasets" else "pooled"
    if o.across == "datasets":
        m = blk.dataset_blocks(matrices, o.per_dataset, r.select_maximize, o.variants)
        reason = ("asked for: the data sets are the blocks, each variant's value per data set is the "
                  + ("mean over its configurations" if o.per_dataset == "mean"
                     else "best configuration, chosen on " + r.select_on))
    else:
        m = blk.pooled_blocks(matrices, o.variants)
        reason = "asked for: the configuration blocks of every data set in one matrix"
    mixed = mixed_settings(clean.frame)
    base = dict(left_out=left, mixed_settings=mixed, design_reason=reason)
    if len(groups) < 2:
        return not_ranked(ACROSS_NAME, r, design, f"a ranking across data sets needs at least 2 data sets; the "
                           f"rows hold {len(groups)}", o, **base)
    if m.k < 2 or m.n == 0:
        return not_ranked(ACROSS_NAME, r, design, (
            f"{m.n} data set(s) with a value for every one of {m.k} variant(s) that all data sets ran "
            f"({m.dropped} dropped); run the same variants on every data set"), o,
            blocks=blocks_record(m, o.per_dataset if design == "datasets" else None), **base)
    if control is not None and control not in m.variants:
        return not_ranked(ACROSS_NAME, r, design, f"`control` {control} was not run on every data set", o, **base)
    omnibus, variants, posthoc, cd, warnings = tested(m, r.maximize, control, o)
    notes = design_warnings(m, r, 2) if design == "pooled" else design_warnings(m, r, 1)
    if design == "pooled":
        notes.append(CONDITIONS["pooled"])
    missing = _not_everywhere(matrices, m.variants)
    if missing:
        notes.append(
            "Left out across data sets, for not having run on every data set: " + "; ".join(
                f"{v} (not on {', '.join(where)})" for v, where in missing.items()) + ".")
    text = mixed_text(mixed)
    return Ranking(dataset=ACROSS_NAME, metric=r.metric, direction=direction_word(r.maximize), select=r.select,
                   select_on=r.select_on, design=design, design_reason=reason, ranked=True, alpha=o.alpha,
                   blocks=blocks_record(m, o.per_dataset if design == "datasets" else None), omnibus=omnibus,
                   variants=variants, posthoc=posthoc, nemenyi_cd=cd, conditions=CONDITIONS[design],
                   warnings=tuple(notes + warnings + ([text] if text else [])), left_out=left,
                   mixed_settings=mixed)
