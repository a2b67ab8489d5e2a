"""Rendering of ranking results: Rich tables, CSV, JSON, Markdown, LaTeX. No statistics here.

Every output names the design that ran (``paper`` or ``configs``) and why, says what the
paper's layout can and cannot show, how many rows were read and left out, and whether the
ranked rows mix training lengths, widths, batch sizes or sample counts.
"""

from __future__ import annotations

import csv
import io
import json

from pernode_cli.report.document import Heading, Table, Text, print_rich, to_latex, to_markdown
from pernode_cli.stats.configs import POOLED
from pernode_cli.stats.ranking import DatasetRanking, RankResult, metric_label
from pernode_cli.stats.rows import left_out_text

FORMATS = ("table", "csv", "json", "markdown", "latex")

PAPER_NOTE = (
    "Design paper (the paper's layout): the blocks are each variant's 1st..{top}-th best records, order "
    "statistics of one sample and strongly dependent, so p and W describe these selected records, not "
    "independent evidence that the variants differ. The configs design tests that."
)
SEEDS_TEXT = {"average": "seeds averaged first", "blocks": "each seed its own block"}
DESIGN_NAMES = {"paper": "the paper's layout", "configs": "configuration blocks"}


def design_note(d: DatasetRanking) -> str:
    r = d.ranking
    if d.design == "paper":
        return PAPER_NOTE.format(top=r.top)
    pooled = "data set, " if r.dataset == POOLED else ""
    columns = pooled + (", ".join(r.block_columns) or "none")
    return (
        f"Design configs: a block is one configuration ({columns}; {SEEDS_TEXT[r.seeds]}), and each variant "
        f"gives its {r.select} epoch's {r.metric} in it. {r.n_blocks} complete blocks; {r.dropped_blocks} "
        "dropped for lacking a variant. The blocks are separate runs, so the p-values hold their level."
    )


def stats_line(d: DatasetRanking) -> str:
    r = d.ranking
    if d.design == "paper":
        f = r.friedman
        return (
            f"Friedman chi2 = {f.chi2:.3f} (df = {f.k - 1}), p = {f.p:.3g}, permutation p = {f.p_permutation:.3g}; "
            f"Kendall's W = {f.kendall_w:.3f}; n = {f.n_blocks} blocks, k = {f.k} variants; "
            f"Nemenyi CD (alpha 0.05) = {f.critical_difference:.2f} mean-rank units"
        )
    fv = "inf" if r.iman_davenport_f == float("inf") else f"{r.iman_davenport_f:.3f}"
    return (
        f"Friedman chi2 = {r.chi2:.3f} (df = {r.k - 1}), p = {r.p:.3g}; Iman-Davenport F = {fv} "
        f"(df = {r.k - 1}, {(r.k - 1) * (r.n_blocks - 1)}), p = {r.iman_davenport_p:.3g}; Kendall's W = "
        f"{r.kendall_w:.3f}; n = {r.n_blocks} blocks, k = {r.k} variants; Nemenyi CD (alpha 0.05) = "
        f"{r.critical_difference:.2f} mean-rank units"
    )


def rows_line(d: DatasetRanking) -> str:
    x = d.left_out
    if not x.left_out:
        return f"Rows: {x.ranked} read, each once, all from finished attempts with status ok."
    return f"Rows: {x.ranked} of {x.rows} read were ranked; left out: {left_out_text(x)}."


def mixed_line(d: DatasetRanking) -> str | None:
    """One line when the ranked rows mix a setting; None when they do not."""
    if not d.mixed_settings:
        return None
    parts = []
    for setting, by_variant in d.mixed_settings.items():
        if all(len(v) == 1 for v in by_variant.values()):  # each variant one value, not the same
            parts.append(f"{setting} ({', '.join(f'{k} {_values(v)}' for k, v in by_variant.items())})")
        else:
            values = sorted({x for v in by_variant.values() for x in v}, key=lambda x: (x is None, x or 0))
            parts.append(f"{setting} ({_values(values)})")
    return "Mixed settings: the ranked rows mix " + "; ".join(parts) + "."


def _values(values) -> str:
    return ", ".join("none" if v is None else str(v) for v in values)


def ranking_table(d: DatasetRanking) -> Table:
    r, label = d.ranking, metric_label(d.metric)
    if d.design == "paper":
        rows = tuple({"Variant": v.variant, "Pooled mean rank": v.pooled_mean_rank, "Mean rank (block)": v.mean_rank,
                      f"Best {label}": v.best} for v in r.variants)
        return Table(rows, f"{d.dataset}: variants by {d.metric}, paper's layout (top {r.top} records each)")
    rows = tuple({"Variant": v.variant, "Mean rank": v.mean_rank, f"Median {label}": v.median} for v in r.variants)
    return Table(rows, f"{d.dataset}: variants by {d.metric}, configs design ({r.n_blocks} blocks)")


def pairwise_table(d: DatasetRanking) -> Table:
    r = d.ranking
    against = f"against {r.control}" if r.control else "all pairs"
    rows = tuple({"A": t.a, "B": t.b, "Wilcoxon W": t.statistic, "p": t.p, "p (Holm)": t.p_holm,
                  "Median A - B": t.median_difference} for t in r.pairwise)
    return Table(rows, f"{d.dataset}: Wilcoxon signed-rank tests over the blocks, {against}, Holm-corrected")


def seed_rows(d: DatasetRanking) -> tuple:
    """Table I over seeds with only the settings that vary, and the interval as one cell."""
    if not d.seed_table:
        return ()
    skip = {"variant", "n_seeds", "mean", "std", "ci_low", "ci_high"}
    varying = [k for k in d.seed_table[0] if k not in skip and len({str(r[k]) for r in d.seed_table}) > 1]
    out = []
    for r in d.seed_table:
        ci = "n/a" if r["ci_low"] is None else f"[{r['ci_low']:.4g}, {r['ci_high']:.4g}]"
        out.append({"Variant": r["variant"], **{k: r[k] for k in varying}, "Seeds": r["n_seeds"],
                    f"Mean {metric_label(d.metric)}": r["mean"], "95% CI": ci})
    return tuple(out)


def heading(d: DatasetRanking, level: int = 2) -> Heading:
    return Heading(level, f"Data set: {d.dataset}, metric {d.metric}, design {d.design} "
                          f"({DESIGN_NAMES[d.design]}; {d.design_reason})")


def ranking_blocks(d: DatasetRanking) -> list:
    """The ranking, its statistics, what its design can show, and what was read."""
    blocks = [ranking_table(d), Text(stats_line(d)), Text(design_note(d), "caution" if d.design == "paper" else "note")]
    if d.design == "configs" and d.ranking.pairwise:
        blocks.append(pairwise_table(d))
    mixed = mixed_line(d)
    return blocks + [Text(rows_line(d))] + ([Text(mixed, "caution")] if mixed else [])


def table_blocks(d: DatasetRanking) -> list:
    """Table I (each variant's best records) and, with several seeds, Table I over seeds."""
    blocks = []
    if d.top_rows:
        n = max(sum(1 for r in d.top_rows if r.get("Variant") == v) for v in {r.get("Variant") for r in d.top_rows})
        blocks.append(Table(d.top_rows, f"Table I, {d.dataset}: each variant's best {n} record(s) by {d.metric}"))
    if d.seed_table:
        blocks.append(Table(seed_rows(d), f"Table I over seeds, {d.dataset}: mean and 95% t-interval of the "
                                          f"{d.select} epoch's {d.metric} over seeds, best configurations first"))
    return blocks


def dataset_blocks(d: DatasetRanking, level: int = 2) -> list:
    """Everything `rank` prints for one data set, as document blocks."""
    return [heading(d, level), *ranking_blocks(d), *table_blocks(d)]


def result_blocks(result: RankResult) -> list:
    blocks = []
    for d in result.datasets:
        blocks += dataset_blocks(d)
    for x in result.not_ranked:
        blocks.append(Text(f"Not ranked: data set {x.dataset} has no finished rows with status ok "
                           f"({left_out_text(x)}).", "caution"))
    if result.rows_without_dataset:
        blocks.append(Text(f"Left out: {result.rows_without_dataset} row(s) with an empty data set.", "caution"))
    return blocks


def dataset_json(d: DatasetRanking) -> dict:
    """One data set's JSON object: the record's fields and the design's note."""
    return {**d.to_dict(), "note": design_note(d), "mixed_settings_note": mixed_line(d)}


def to_json(result: RankResult) -> str:
    out = result.to_dict()
    out["datasets"] = [dataset_json(d) for d in result.datasets]
    return json.dumps(out, indent=2, allow_nan=False)


def ranking_rows(d: DatasetRanking) -> list[dict]:
    """CSV rows, one per variant, with the data set's statistics repeated."""
    r = d.ranking
    if d.design == "paper":
        f = r.friedman
        stats = dict(metric=d.metric, design=d.design, top=r.top, chi2=f.chi2, p=f.p, p_permutation=f.p_permutation,
                     kendall_w=f.kendall_w, n_blocks=f.n_blocks, k=f.k, critical_difference=f.critical_difference)
        return [{"dataset": d.dataset, "variant": v.variant, "pooled_mean_rank": v.pooled_mean_rank,
                 "mean_rank": v.mean_rank, "best": v.best, **stats} for v in r.variants]
    stats = dict(metric=d.metric, design=d.design, select=r.select, seeds=r.seeds, chi2=r.chi2, p=r.p,
                 iman_davenport_f=r.iman_davenport_f, iman_davenport_p=r.iman_davenport_p, kendall_w=r.kendall_w,
                 n_blocks=r.n_blocks, dropped_blocks=r.dropped_blocks, k=r.k, critical_difference=r.critical_difference)
    return [{"dataset": d.dataset, "variant": v.variant, "mean_rank": v.mean_rank, "median": v.median, **stats}
            for v in r.variants]


def to_csv(result: RankResult) -> str:
    rows = [row for d in result.datasets for row in ranking_rows(d)]
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
