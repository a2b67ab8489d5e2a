"""Rendering of ranking results: Rich tables, CSV, JSON, Markdown, LaTeX. No statistics here."""

from __future__ import annotations

import csv
import io
import json

from pernode_cli.stats.ranking import Ranking

FORMATS = ("table", "csv", "json", "markdown", "latex")


def _num(value, digits=4):
    if isinstance(value, float):
        return f"{value:.{digits}g}" if abs(value) >= 1e-3 or value == 0 else f"{value:.3e}"
    return str(value)


def ranking_rows(r: Ranking) -> list[dict]:
    return [
        {
            "dataset": r.dataset,
            "variant": v.variant,
            "pooled_mean_rank": v.pooled_mean_rank,
            "mean_rank": v.mean_rank,
            f"best_{r.metric}": v.best,
        }
        for v in r.variants
    ]


def stats_line(r: Ranking) -> str:
    f = r.friedman
    line = (
        f"Friedman chi2 = {f.chi2:.3f} (df = {f.k - 1}), p = {f.p:.3g}, permutation p = {f.p_permutation:.3g}; "
        f"Kendall's W = {f.kendall_w:.3f}; n = {f.n_blocks} blocks, k = {f.k} variants; "
        f"Nemenyi CD (alpha 0.05) = {f.critical_difference:.2f} mean-rank units"
    )
    if r.dropped_rows:
        line += f"; {r.dropped_rows} row(s) of diverged runs (status != ok) left out"
    return line


def to_json(rankings: list[Ranking]) -> str:
    return json.dumps({"datasets": [r.to_dict() for r in rankings]}, indent=2)


def to_csv(rankings: list[Ranking]) -> str:
    buf = io.StringIO()
    rows = []
    for r in rankings:
        f = r.friedman
        for row in ranking_rows(r):
            row = {k if not k.startswith("best_") else "best": v for k, v in row.items()}
            row.update(metric=r.metric, top=r.top, chi2=f.chi2, p=f.p, p_permutation=f.p_permutation,
                       kendall_w=f.kendall_w, n_blocks=f.n_blocks, k=f.k, critical_difference=f.critical_difference)
            rows.append(row)
    writer = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue()


def _tabulate(rows: list[dict], fmt: str) -> str:
    from tabulate import tabulate

    return tabulate([{k: _num(v) for k, v in row.items()} for row in rows], headers="keys", tablefmt=fmt)


def to_text(rankings: list[Ranking], fmt: str) -> str:
    """Markdown (``pipe``) or LaTeX (``latex_booktabs``) text of every data set."""
    tablefmt = {"markdown": "pipe", "latex": "latex_booktabs"}[fmt]
    parts = []
    for r in rankings:
        head = f"Data set: {r.dataset}, metric {r.metric}, top {r.top}"
        parts.append(f"## {head}" if fmt == "markdown" else f"% {head}")
        parts.append(_tabulate(ranking_rows(r), tablefmt))
        parts.append(stats_line(r) if fmt == "markdown" else f"% {stats_line(r)}")
        parts.append(_tabulate(r.top_rows, tablefmt))
        parts.append("")
    return "\n\n".join(parts)


def print_tables(rankings: list[Ranking], console) -> None:
    from rich.table import Table

    for r in rankings:
        t = Table(title=f"{r.dataset}: variants ranked by {r.metric} (top {r.top} records each)")
        for col in ("Variant", "Pooled mean rank", "Mean rank (block)", f"Best {r.metric}"):
            t.add_column(col, justify="left" if col == "Variant" else "right", no_wrap=col == "Variant")
        for v in r.variants:
            t.add_row(v.variant, f"{v.pooled_mean_rank:.1f}", f"{v.mean_rank:.2f}", _num(v.best))
        console.print(t)
        console.print(stats_line(r), soft_wrap=True)
        if r.top_rows:
            t2 = Table(title=f"{r.dataset}: best records per variant, sorted by {r.metric}")
            for col in r.top_rows[0]:
                t2.add_column(col, justify="left" if col == "Variant" else "right", no_wrap=col == "Variant")
            for row in r.top_rows:
                t2.add_row(*(_num(v, 3) for v in row.values()))
            console.print(t2)


def render(rankings: list[Ranking], fmt: str) -> str | None:
    """Text for the machine-readable formats; None for ``table`` (printed with Rich)."""
    if fmt == "json":
        return to_json(rankings)
    if fmt == "csv":
        return to_csv(rankings)
    if fmt in ("markdown", "latex"):
        return to_text(rankings, fmt)
    return None
