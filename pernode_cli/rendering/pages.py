"""`pernode report`: a benchmark's report as ``index.html`` (one self-contained page: styles
inline, every figure an inline SVG, no script, no request of any kind; ``report.html``),
``index.md`` (the same content for a repository), ``report.json`` (every ranking as
`pernode rank --format json` prints it) and ``figures/`` (each figure as SVG and as 200 dpi
PNG, for papers). The page opens with its Summary, then a table of contents, then what
produced the numbers."""

from __future__ import annotations

import json
from pathlib import Path

from pernode_cli.rendering import plots
from pernode_cli.rendering.folder import check_target, replace_folder
from pernode_cli.rendering.document import Contents, Figure, Heading, Table, Text, to_markdown
from pernode_cli.rendering.html import to_html
from pernode_cli.rendering.numbers import Interval
from pernode_cli.rendering.ranking import ranking_blocks, table_blocks
from pernode_cli.rendering.summary import summary_blocks
from pernode_cli.stats.direction import direction_text
from pernode_cli.stats.timing import baseline_warnings, few_rounds_note

HOW_TO_READ = (
    "Every ranking names its design, the metric and its direction, and how each run's epoch was chosen. Configs "
    "design: a block is one configuration (every setting but the variant), each variant contributes one value per "
    "block, and only blocks that every variant ran are used; Friedman's test gets an exact or permutation p-value, "
    "and which pairs differ is read from Wilcoxon signed-rank tests with Holm's correction (Demsar 2006; Garcia and "
    "Herrera 2008; Benavoli, Corani and Mangili 2016). Each ranking states the conditions under which its p-values "
    "hold their level and warns where one fails. Paper design: the procedure of the paper (section V-B), whose "
    "blocks are each variant's best records, order statistics of one sample: its chi-square and W describe those "
    "records; it gives no p-value."
)
REFERENCES = (
    "J. Demsar (2006), Statistical comparisons of classifiers over multiple data sets, JMLR 7, 1-30.",
    "S. Garcia and F. Herrera (2008), An extension on 'Statistical comparisons of classifiers over multiple "
    "data sets' for all pairwise comparisons, JMLR 9, 2677-2694.",
    "A. Benavoli, G. Corani and F. Mangili (2016), Should we really use post-hoc tests based on mean-ranks?, "
    "JMLR 17, 1-10.",
)
TITLES = {"configs": "Ranking, configs design (configuration blocks)", "paper": "Ranking, paper design (descriptive)"}


def _figure(f: plots.FigureFile) -> Figure:
    return Figure(stem=f.stem, caption=f.caption, alt=f.alt, svg=f.svg, phone_svg=f.phone_svg)


def _ranking_figures(d, plt) -> list:
    """A ranking's CD diagram and, for designs that test (how large, how sure), its profiles and posteriors."""
    made = [plots.cd_figure(d, plt, phone=True)]
    if d.posthoc is not None:
        made += [f for f in (plots.profile_figure(d, plt, True), plots.simplex_figure(d, plt, True)) if f is not None]
    return made


def _design_blocks(d, figures: list, plt) -> list:
    blocks = [Heading(3, TITLES[d.design] if d.design in TITLES else f"Ranking, {d.design} design"), *ranking_blocks(d)]
    if d.variants:
        made = _ranking_figures(d, plt)
        figures += made
        blocks += [_figure(f) for f in made]
    return blocks


def section_blocks(s, figures: list, plt) -> list:
    """One data set: Table I, both designs, the paper's figures and the learning curves."""
    d = s.configs
    blocks = [Heading(2, f"Data set: {s.dataset}"), Text(f"Metric {d.metric} ({direction_text(d.maximize)}).")]
    blocks += table_blocks(d)
    blocks += _design_blocks(s.configs, figures, plt)
    blocks += _design_blocks(s.paper, figures, plt)
    if s.rows is not None and len(s.rows):
        made = plots.dataset_figures(d, s.rows, plt, cd=False, phone=True)
        figures += made
        blocks += [Heading(3, "Figures")] + [_figure(f) for f in made]
    return blocks


def table_v(sections, design: str) -> Table:
    """Paper Table V layout: chi2, p, W and mean ranks per data set, under one design."""
    rows = []
    for s in sections:
        d = getattr(s, design)
        if not d.ranked:
            continue
        o = d.omnibus
        row = {"Data set": s.dataset, "blocks": d.blocks.n, "chi2": o.chi2}
        if o.p is not None:
            row["p"] = o.p
            row["p method"] = o.method
        row["W"] = o.kendall_w
        row.update({v.variant: v.pooled_mean_rank if v.pooled_mean_rank is not None else v.mean_rank
                    for v in d.variants})
        rows.append(row)
    columns = _table_v_columns(rows)
    what = ("paper design (descriptive), the paper's pooled mean ranks" if design == "paper"
            else "configs design, within-block mean ranks")
    return Table(tuple({c: row.get(c) for c in columns} for row in rows),
                 f"Table V layout, {what} (1 = best): Friedman chi2, p and Kendall's W per data set")


def _table_v_columns(rows) -> list:
    """The statistics first, then the variants by their mean rank over the data sets."""
    keys = list(dict.fromkeys(k for row in rows for k in row))
    stats = [k for k in keys if k in ("Data set", "blocks", "chi2", "p", "p method", "W")]
    mean = {v: sum(row[v] for row in rows if v in row) / sum(v in row for row in rows) for v in keys if v not in stats}
    return stats + sorted(mean, key=lambda v: (mean[v], v))


def across_blocks(bench, figures: list, plt) -> list:
    blocks = [Heading(2, "Across data sets")]
    for design in ("configs", "paper"):
        t = table_v(bench.sections, design)
        blocks.append(t if t.rows else Text(f"No data set could be ranked under the {design} design.", "caution"))
    blocks.append(Heading(3, "Ranking across data sets (data sets as blocks, Demsar 2006)"))
    if bench.across is None:
        n = len(bench.sections)
        return blocks + [Text(f"Not available: a ranking across data sets needs at least 2 data sets; the logs hold "
                              f"{n}.", "note")]
    blocks += ranking_blocks(bench.across)
    if bench.across.variants:
        made = _ranking_figures(bench.across, plt)
        figures += made
        blocks += [_figure(f) for f in made]
    return blocks


def timing_blocks(bench, figures: list, plt) -> list:
    if not bench.timings:
        return []
    blocks = [Heading(2, "Epoch time (paper Table IV)")]
    dropout = [(g.dataset, g.device, g.backend, next((r.get("step_ms") for r in g.rows if r["variant"] == "Dropout"),
                                                     None)) for g in bench.timings]
    blocks += [Text(w, "caution") for w in baseline_warnings(dropout)]
    for i, g in enumerate(bench.timings):
        rows = tuple({"Variant": r["variant"], "Mean (s)": r["mean_s"], "ms/step": r.get("step_ms"),
                      "Std (s)": r["std_s"], "n": r["n"], "x Dropout": r["ratio_to_dropout"],
                      "95% CI": Interval(r["ratio_ci_low"], r["ratio_ci_high"])} for r in g.rows)
        where = ", ".join(x for x in (g.device, g.backend) if x) or "device not logged"
        blocks.append(Table(rows, f"Table IV, {g.dataset or 'data set not logged'} ({where}; {g.source}): epoch "
                                  "time and its ratio to Dropout's in the same run, 95% paired bootstrap interval"))
        blocks += [Text(f"timeit warned: {w}", "caution") for w in _timing_warnings(g)]
        n = min((int(r["n"]) for r in g.rows if r.get("n") is not None), default=0)
        few = few_rounds_note(n) if any(r.get("ratio_ci_low") is not None for r in g.rows) else None
        if few:
            blocks.append(Text(f"Note: {few}", "caution"))
        fig = plots.timing_figure(g, f"timing_{i + 1}_{plots.safe_name(g.dataset)}", plt, phone=True)
        if fig is not None:
            figures.append(fig)
            blocks.append(_figure(fig))
    return blocks


def _timing_warnings(g) -> list:
    """Every warning `timeit` recorded for the group, once each (a busy machine once, not per row)."""
    seen = []
    for r in g.rows:
        for w in r.get("warnings") or []:
            line = w if w.startswith("busy machine") else f"{r['variant']}: {w}"
            if line not in seen:
                seen.append(line)
    return seen


def report_blocks(bench, plt) -> tuple[list, list]:
    """The whole report as document blocks, and the figures it shows."""
    figures: list = []
    names = ", ".join(s.dataset for s in bench.sections)
    blocks = [Heading(1, f"Benchmark report: {names}"), *summary_blocks(bench), Contents(),
              Heading(2, "What produced these numbers"),
              Table(tuple({"Item": k, "Value": v} for k, v in bench.provenance), "Versions, devices, data and runs"),
              Text(_options_line(bench.options)), Text(HOW_TO_READ, "note")]
    for s in bench.sections:
        blocks += section_blocks(s, figures, plt)
    blocks += across_blocks(bench, figures, plt)
    if bench.targets is not None:
        from pernode_cli.rendering.ranking import target_blocks
        from pernode_cli.rendering.target_plot import target_figures

        blocks += target_blocks(bench.targets)
        made = target_figures(bench.targets.target_times, phone=True)
        figures += made
        blocks += [_figure(f) for f in made]
    if bench.plan is not None:
        from pernode_cli.rendering.planning import plan_blocks

        blocks += plan_blocks(bench.plan)
    blocks += timing_blocks(bench, figures, plt)
    v = bench.versions
    blocks += [Heading(2, "References")] + [Text(r) for r in REFERENCES]
    blocks.append(Text(f"Computed by pernode {v.get('pernode')} with scipy {v.get('scipy')}, numpy {v.get('numpy')}, "
                       f"pandas {v.get('pandas')}."))
    return blocks, figures


def _options_line(o: dict) -> str:
    select = ("its last epoch" if o["select"] == "last" else
              f"its best epoch by {o['select_on']}")
    return (f"Ranked by {o['metric']} ({o['direction']}); each run gives {select}; configs design: seeds "
            f"{'averaged first' if o['seeds'] in (None, 'average') else 'as separate blocks'}"
            + (f", pairwise tests against {o['control']}" if o["control"] else ", all pairwise tests")
            + f" at alpha {o['alpha']:g} (zeros: {o['zero_method']}); paper design: top {o['top']} records per "
              f"variant; Table I: {o['table_top']} rows per variant.")


def report_json(bench) -> dict:
    return {
        "provenance": dict(bench.provenance),
        "versions": dict(bench.versions),
        "options": dict(bench.options),
        "datasets": [{"dataset": s.dataset, "configs": s.configs.to_dict(), "paper": s.paper.to_dict()}
                     for s in bench.sections],
        "across_datasets": None if bench.across is None else bench.across.to_dict(),
        "plan": None if bench.plan is None else [d.to_dict() for d in bench.plan.datasets],
        "time_to_target": None if bench.targets is None else [d.to_dict() for d in bench.targets.targets],
        "timings": [{"dataset": g.dataset, "device": g.device, "backend": g.backend, "source": g.source,
                     "rows": list(g.rows)} for g in bench.timings],
    }


def write_report(bench, out) -> list[Path]:
    """Render everything in memory, then write folder ``out`` whole or not at all
    (``report.folder``): index.html, index.md, report.json and figures/."""
    from pernode_cli.schema import plain

    check_target(out, "out", "report")
    plt = plots.pyplot()
    blocks, figures = report_blocks(bench, plt)
    title = blocks[0].text
    files = {f"figures/{f.stem}.{ext}": data for f in figures for ext, data in (("svg", f.svg), ("png", f.png))}
    files["index.html"] = to_html(blocks, title).encode()
    files["index.md"] = to_markdown(blocks).encode()
    files["report.json"] = (json.dumps(plain(report_json(bench)), indent=2, allow_nan=False) + "\n").encode()
    return replace_folder(out, files, "out", "report")
