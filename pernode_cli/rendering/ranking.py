"""Rendering of ranking records (``stats.ranking.Ranking``): document blocks for Rich,
Markdown, LaTeX and HTML, plus CSV and JSON. No statistics here, and no branching on the
design: a record's fields say what there is to show (a p-value or none, a post-hoc family
or none, pooled mean ranks or none)."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import fields

from pernode_cli.rendering.document import Heading, Table, Text, print_rich, to_latex, to_markdown
from pernode_cli.rendering.numbers import Interval, fixed, p_equation, stat_text
from pernode_cli.stats.direction import direction_text
from pernode_cli.stats.effects import PairStatistics
from pernode_cli.stats.ranking import Ranking, RankResult
from pernode_cli.stats.rows import left_out_text
from pernode_cli.stats.tables import metric_label

FORMATS = ("table", "csv", "json", "markdown", "latex")
DESIGN_NAMES = {"paper": "the paper's layout, descriptive", "configs": "configuration blocks",
                "datasets": "data sets as blocks", "pooled": "configuration blocks of all data sets pooled"}
METHODS = {"exact": "exact (every rank pattern enumerated)", "iman-davenport": "Iman-Davenport F approximation",
           "descriptive": "descriptive: no p-value"}


def _method(o) -> str:
    if o.method == "permutation":
        return f"permutation ({o.n_resamples:,} within-block permutations)"
    return METHODS.get(o.method, o.method)


def heading(d: Ranking, level: int = 2) -> Heading:
    why = f"; {d.design_reason}" if d.design_reason else ""
    return Heading(level, f"Data set: {d.dataset}, {d.metric} ({direction_text(d.maximize)}), design {d.design} "
                          f"({DESIGN_NAMES.get(d.design, d.design)}{why})")


def selection_line(d: Ranking) -> str:
    if d.select == "target":
        return (f"Each run gives its training seconds (the logged epoch_seconds, summed) to the first epoch that meets "
                f"{d.select_on}; a run that never meets it is censored and ranks last.")
    if d.source == "results table":
        return f"Each method gives its {d.metric} as the table holds it."
    if d.design == "paper":
        return f"Records: each variant's {d.blocks.n if d.blocks else '?'} best epoch rows by {d.metric}."
    how = (f"its last epoch's {d.metric}" if d.select == "last" else
           f"{d.metric} at its best epoch by {d.select_on}" if d.select_on != d.metric else
           f"its best epoch's {d.metric}")
    return f"Each run gives {how}."


def stats_line(d: Ranking) -> str:
    o, b = d.omnibus, d.blocks
    f = "inf" if o.iman_davenport_f is None and o.p is not None else stat_text(o.iman_davenport_f)
    parts = [f"Friedman chi2 = {stat_text(o.chi2)} (df = {o.df})"]
    if o.p is not None:
        parts.append(f"Iman-Davenport F = {f}")
    parts.append(f"Kendall's W = {stat_text(o.kendall_w)}")
    p = f"{p_equation(o.p)}, {_method(o)}" if o.p is not None else _method(o)
    return (f"{'; '.join(parts)}; {p}; n = {b.n} blocks ({b.kind}), k = {b.k} {_who(d).lower()}s"
            + ("" if d.nemenyi_cd is None else
               f"; Nemenyi CD (alpha {d.alpha:g}, for reference) = {fixed(d.nemenyi_cd, 2)}"))


def blocks_line(d: Ranking) -> str:
    b = d.blocks
    if b.kind == "rank positions":
        return f"Blocks: the 1st..{b.n}-th best records of each variant (order statistics, not independent)."
    cols = ", ".join(b.columns) or "none"
    seeds = {"average": "; seeds averaged first", "blocks": "; each seed its own block"}.get(b.seeds or "", "")
    per = {"mean": "; each variant's mean over the data set's configurations",
           "best": "; each variant's best configuration (on the selection split)"}.get(b.per_dataset or "", "")
    if d.source == "results table":
        per = "; each method's value in the table"
    return (f"Blocks: {b.n} {b.kind} ({cols}{seeds}{per}); {b.dropped} dropped for lacking a ranked variant.")


def rows_line(d: Ranking) -> str:
    x = d.left_out
    if x is None:
        return ""
    if not x.left_out:
        if d.source == "results table":
            return f"Rows: {x.ranked} read, each once."
        return f"Rows: {x.ranked} read, each once, all from finished attempts with status ok."
    return f"Rows: {x.ranked} of {x.rows} read were ranked; left out: {left_out_text(x)}."


def _who(d: Ranking) -> str:
    return "Method" if d.source == "results table" else "Variant"


def ranking_table(d: Ranking) -> Table:
    label = metric_label(d.metric)
    rows = []
    for v in d.variants:
        row = {_who(d): v.variant}
        if v.pooled_mean_rank is not None:
            row["Pooled mean rank"] = v.pooled_mean_rank
        row["Mean rank (block)" if v.pooled_mean_rank is not None else "Mean rank"] = v.mean_rank
        if v.median is not None:
            row[f"Median {label}"] = v.median
        if v.best is not None:
            row[f"Best {label}"] = v.best
        rows.append(row)
    return Table(tuple(rows), f"{d.dataset}: {_who(d).lower()}s by {d.metric}, {DESIGN_NAMES.get(d.design, d.design)} "
                              f"({d.blocks.n} blocks), 1 = best")


def pairwise_table(d: Ranking) -> Table:
    h = d.posthoc
    against = f"against {h.control}" if h.control else "all pairs"
    methods = sorted({t.method for t in h.pairs})
    # The verdict first, next to the pair's name: on a narrow screen it is what shows.
    rows = tuple({"Pair (A vs B)": pair_name(t), "p (Holm)": t.p_holm, "differ": t.reject, "p": t.p, "T+": t.statistic,
                  **({"Median A - B": t.median_difference} if t.median_difference is not None else {}),
                  **({"p method": t.method} if len(methods) > 1 else {})} for t in h.pairs)
    how = f"{methods[0]} p-values, " if len(methods) == 1 else ""
    return Table(rows, f"{d.dataset}: two-sided Wilcoxon signed-rank tests over the blocks, {against}, {how}Holm-"
                       f"corrected; differ: p (Holm) <= {h.alpha:g} (zeros: {h.zero_method}; T+ = sum of the ranks "
                       "of positive A - B)")


def pair_name(t) -> str:
    return f"{t.a} vs {t.b}"


def intervals_table(d: Ranking):
    """Each variant's mean and interquartile mean of its block values, with 95% intervals."""
    if not any(v.mean is not None for v in d.variants):
        return None
    rows = tuple({_who(d): v.variant, "Mean": v.mean, "95% CI": Interval.of(v.mean_ci), "IQM": v.iqm,
                  "IQM 95% CI": Interval.of(v.iqm_ci)} for v in d.variants)
    strat = " (resampled within each data set)" if d.blocks.kind == "pooled configurations" else ""
    return Table(rows, f"{d.dataset}: how large: mean and interquartile mean of each variant's {d.blocks.n} block "
                       f"values ({d.metric}), 95% expanded-percentile bootstrap intervals{strat}")


def effects_table(d: Ranking):
    """Per pair: every labelled statistic of ``stats.effects.PairStatistics`` some pair has (the
    Hodges-Lehmann difference, P(A better), with a ROPE the Bayesian test), in declared order."""
    pairs = [t for t in (d.posthoc.pairs if d.posthoc else ()) if t.p_improvement is not None]
    if not pairs:
        return None
    shown = [f for f in fields(PairStatistics)
             if f.metadata.get("label") and any(getattr(t, f.name) is not None for t in pairs)]
    rows = tuple({"Pair (A vs B)": pair_name(t),
                  **{f.metadata["label"]: Interval.of(getattr(t, f.name)) if f.metadata["interval"]
                     else getattr(t, f.name) for f in shown}} for t in pairs)
    rope = f"{d.posthoc.rope:g}" if d.posthoc.rope is not None else ""
    words = [f.metadata["caption"].format(metric=d.metric, rope=rope) for f in shown if f.metadata["caption"]]
    return Table(rows, f"{d.dataset}: how large and how sure: {'; '.join(words)}")


def seed_rows(d: Ranking) -> tuple:
    """Table I over seeds with only the settings that vary, and the interval as one cell."""
    if not d.seed_table:
        return ()
    skip = {"variant", "n_seeds", "mean", "std", "ci_low", "ci_high"}
    varying = [k for k in d.seed_table[0] if k not in skip and len({str(r[k]) for r in d.seed_table}) > 1]
    out = []
    for r in d.seed_table:
        ci = Interval(r["ci_low"], r["ci_high"])
        out.append({"Variant": r["variant"], **{k: r[k] for k in varying}, "Seeds": r["n_seeds"],
                    f"Mean {metric_label(d.metric)}": r["mean"], "95% CI": ci})
    return tuple(out)


def ranking_blocks(d: Ranking) -> list:
    """The ranking, its statistics, what its design can show, and what was read."""
    blocks = []
    if not d.ranked:
        blocks.append(Text(f"Not ranked under the {d.design} design: {d.reason}.", "caution"))
    else:
        blocks += [ranking_table(d), Text(stats_line(d)), Text(blocks_line(d)), Text(selection_line(d))]
        if d.posthoc is not None and d.posthoc.pairs:
            blocks.append(pairwise_table(d))
        blocks += [t for t in (intervals_table(d), effects_table(d)) if t is not None]
    if d.conditions and d.ranked:
        blocks.append(Text(d.conditions, "note"))
    blocks += [Text(w, "caution") for w in d.warnings]
    line = rows_line(d)
    return blocks + ([Text(line)] if line else [])


def table_blocks(d: Ranking) -> list:
    """Table I (each variant's best records) and, with several seeds, Table I over seeds."""
    blocks = []
    if d.top_rows:
        n = max(sum(1 for r in d.top_rows if r.get("Variant") == v) for v in {r.get("Variant") for r in d.top_rows})
        blocks.append(Table(d.top_rows, f"Table I, {d.dataset}: each variant's best {n} record(s) by {d.metric} "
                                        f"({direction_text(d.maximize)})"))
    if d.seed_table:
        blocks.append(Table(seed_rows(d), f"Table I over seeds, {d.dataset}: mean and 95% t-interval over seeds of "
                                          f"each run's value ({selection_line(d)[:-1].lower()}), best first"))
    return blocks


def dataset_blocks(d: Ranking, level: int = 2) -> list:
    """Everything `rank` prints for one data set, as document blocks."""
    return [heading(d, level), *ranking_blocks(d), *table_blocks(d)]


def result_blocks(result: RankResult) -> list:
    blocks = []
    table_only = [d for d in result.datasets if not d.ranked and d.design_reason == "a results table"]
    if table_only and len(table_only) == len(result.datasets):
        names = ", ".join(d.dataset for d in table_only)
        blocks.append(Text(f"A results table: {len(table_only)} data sets ({names}) with one value per method each, "
                           f"so the data sets are the blocks of the ranking below.", "note"))
    else:
        for d in result.datasets:
            blocks += dataset_blocks(d)
    if result.across is not None:
        blocks += dataset_blocks(result.across)
    blocks += target_blocks(result)
    for x in result.not_ranked:
        blocks.append(Text(f"Not ranked: data set {x.dataset} has no finished rows with status ok "
                           f"({left_out_text(x)}).", "caution"))
    if result.rows_without_dataset:
        blocks.append(Text(f"Left out: {result.rows_without_dataset} row(s) with an empty data set.", "caution"))
    v = result.versions
    blocks.append(Text(f"Computed by pernode {v.get('pernode')} with scipy {v.get('scipy')}, numpy {v.get('numpy')}, "
                       f"pandas {v.get('pandas')}."))
    return blocks


def target_table(result: RankResult, dataset: str):
    """Per variant: runs, how many met the target, the median epoch and seconds of those that did."""
    import statistics

    times = result.target_times
    if times is None:
        return None
    rows = []
    for c in times.curves:
        if c.dataset != dataset:
            continue
        reached = [r for r in times.runs if r.dataset == dataset and r.variant == c.variant and r.reached]
        rows.append({"Variant": c.variant, "Runs": c.n_runs, "Met the target": c.n_reached,
                     "Median epoch": statistics.median([r.epoch for r in reached]) if reached else None,
                     "Median seconds": statistics.median([r.seconds for r in reached]) if reached else None})
    return Table(tuple(rows), f"{dataset}: time to {times.target.text} (of the runs that met it; seconds are the "
                              "training passes' epoch_seconds summed)") if rows else None


def target_blocks(result: RankResult) -> list:
    blocks = []
    for d in result.targets:
        blocks.append(Heading(2, f"Time to target: data set {d.dataset}, {d.metric} (lower is better)"))
        table = target_table(result, d.dataset)
        blocks += ([table] if table is not None else []) + ranking_blocks(d)
    return blocks


def to_json(result: RankResult) -> str:
    return json.dumps(result.to_dict(), indent=2, allow_nan=False)


def ranking_rows(d: Ranking) -> list[dict]:
    """CSV rows, one per variant, with the data set's statistics repeated."""
    o, b = d.omnibus, d.blocks
    stats = dict(dataset=d.dataset, metric=d.metric, direction=d.direction, design=d.design, select=d.select,
                 select_on=d.select_on, ranked=d.ranked)
    if o is not None:
        stats.update(chi2=o.chi2, df=o.df, iman_davenport_f=o.iman_davenport_f, kendall_w=o.kendall_w, p=o.p,
                     p_method=o.method, n_blocks=b.n, k=b.k, nemenyi_cd=d.nemenyi_cd)
    if not d.variants:
        return [dict(stats, variant="", reason=d.reason)]
    def bounds(ci):
        return (None, None) if ci is None else tuple(ci)

    return [dict(stats, variant=v.variant, mean_rank=v.mean_rank, median=v.median, mean=v.mean,
                 mean_ci_low=bounds(v.mean_ci)[0], mean_ci_high=bounds(v.mean_ci)[1], iqm=v.iqm,
                 iqm_ci_low=bounds(v.iqm_ci)[0], iqm_ci_high=bounds(v.iqm_ci)[1],
                 pooled_mean_rank=v.pooled_mean_rank, best=v.best) for v in d.variants]


def result_rows(result: RankResult) -> list[dict]:
    """One row per (data set, variant) of every ranking, its statistics repeated."""
    records = list(result.datasets) + ([result.across] if result.across is not None else [])
    return [row for d in records if d.design_reason != "a results table" for row in ranking_rows(d)]


def to_csv(result: RankResult) -> str:
    rows = result_rows(result)
    fields = list(dict.fromkeys(k for row in rows for k in row))
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=fields, lineterminator="\n", restval="")
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue()


def to_text(result: RankResult, fmt: str) -> str:
    """Markdown or LaTeX (booktabs tables, the rest as comments) of every data set."""
    blocks = result_blocks(result)
    return to_markdown(blocks) if fmt == "markdown" else to_latex(blocks)


def print_tables(result: RankResult, console) -> None:
    print_rich(result_blocks(result), console)


def render(result: RankResult, fmt: str) -> str | None:
    """Text for the machine-readable formats; None for ``table`` (printed with Rich)."""
    if fmt == "json":
        return to_json(result)
    if fmt == "csv":
        return to_csv(result)
    if fmt in ("markdown", "latex"):
        return to_text(result, fmt)
    return None
