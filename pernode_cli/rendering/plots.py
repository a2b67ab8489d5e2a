"""Figures of rankings and benchmarks (matplotlib, Agg), each written as SVG (text as real
``<text>`` elements in a font stack that needs no download) and as PNG at 200 dpi: the paper's
Fig. 2 (best three records per variant, a dot plot) and Fig. 3 (validation against epoch-end
training loss, with the y = x line, coloured by rate), learning curves, critical-difference
diagrams and epoch-time ratios. `pernode rank --plots` and `pernode report` write them with the
same functions; the report also draws each figure in a phone layout (``PHONE``: panels
stacked, text at full size) that its page shows on small screens. No statistics here."""

from __future__ import annotations

import io
import math
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from pernode_cli.paths import safe_name
from pernode_cli.rendering.cd_plot import cd_diagram, same_as
from pernode_cli.rendering.folder import check_target, replace_folder
from pernode_cli.rendering.layout import PHONE, WIDE, Layout
from pernode_cli.rendering.numbers import fixed
from pernode_cli.stats.direction import direction_text
from pernode_cli.stats.tables import best_records

DPI = 200
MARKERS = ("o", "s", "^")
FONTS = ["DejaVu Sans", "Arial", "Helvetica", "Liberation Sans", "sans-serif"]  # none needs a download


@dataclass(frozen=True)
class FigureFile:
    """One figure, rendered: ``figures/STEM.svg`` and ``figures/STEM.png``, and for the report's
    page its phone layout (SVG only; empty where not drawn)."""

    stem: str
    caption: str
    alt: str
    svg: bytes
    png: bytes
    phone_svg: bytes = b""


def pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    matplotlib.rcParams.update({"svg.hashsalt": "pernode", "svg.fonttype": "none", "font.family": "sans-serif",
                                "font.sans-serif": FONTS, "font.size": 9, "axes.titlesize": 10})
    return plt


def _svg(fig) -> bytes:
    if fig.get_layout_engine() is not None:  # lay out once, not again for every file
        fig.canvas.draw()
        fig.set_layout_engine("none")
    svg = io.BytesIO()
    fig.savefig(svg, format="svg", metadata={"Date": None})
    return svg.getvalue()


def render(fig, plt, stem: str, caption: str, alt: str, phone=None) -> FigureFile:
    """``fig`` as SVG and PNG; ``phone``, its phone layout (or None), as SVG."""
    svg, png = _svg(fig), io.BytesIO()
    fig.savefig(png, format="png", dpi=DPI, metadata={"Software": None})
    plt.close(fig)
    small = b""
    if phone is not None:
        small = _svg(phone)
        plt.close(phone)
    return FigureFile(stem=stem, caption=caption, alt=alt, svg=svg, png=png.getvalue(), phone_svg=small)


def drawn(draw, plt, stem: str, caption: str, alt: str, phone: bool = False):
    """``draw(layout)`` in the wide layout and, with ``phone``, the phone one, rendered (None: no figure)."""
    fig = draw(WIDE)
    if fig is None:
        return None
    return render(fig, plt, stem, caption, alt, draw(PHONE) if phone else None)


def _direction(d) -> str:
    return direction_text(d.maximize)


def _title_room(lay: Layout, text: str, size: float) -> float:
    """Inches that ``text`` takes as a title of ``size`` points."""
    return lay.lines(text) * size * 1.35 / 72


def best3_dots(d, rows, plt, lay: Layout = WIDE):
    """Paper Fig. 2 as a dot plot: each variant's three best records, variants in ranking order."""
    order = _order(d, rows)
    best = best_records(rows, d.metric, 3, d.maximize)
    title = lay.wrap(f"{d.dataset}: each variant's three best {d.metric} records\n"
                     + (f"variants in the order of the {d.design} design's ranking, best first" if d.variants else
                        "variants by name (not ranked)"), lay.title)
    height = 0.7 + 0.42 * len(order) + _title_room(lay, title, lay.title) + (0.45 if lay.phone else 0)
    fig, ax = plt.subplots(figsize=(lay.width, height), layout="constrained")
    for y, variant in enumerate(order):
        vals = best.loc[best["variant"] == variant, d.metric].to_list()
        if vals:
            ax.plot([min(vals), max(vals)], [y, y], color="0.8", lw=1, zorder=1)
        for i, v in enumerate(vals):
            label = f"#{i + 1} best" if y == 0 else None
            ax.scatter(v, y, marker=MARKERS[i], color=f"C{i}", s=36, zorder=2, label=label)
    ax.set_yticks(range(len(order)), order)
    ax.invert_yaxis()
    ax.set_xlabel(lay.label(f"{d.metric} ({_direction(d)})"))
    ax.grid(axis="x", color="0.9")
    lay.set_title(fig, ax, title)
    if lay.phone:
        fig.legend(loc="outside lower center", ncol=3, fontsize=lay.tiny)
    else:
        ax.legend(loc="best", fontsize=lay.small)
    return fig


def _order(d, rows) -> list:
    """Variants in ranking order; by name where the record ranks none."""
    ranked = [v.variant for v in d.variants]
    return ranked or sorted(str(v) for v in rows["variant"].unique())


def _panels(plt, k: int, lay: Layout, title: str, colorbar: bool = False, width=2.9, height=2.3, framed=True, **kw):
    """A grid of ``k`` panels of ``width`` x ``height`` inches with fixed margins (no layout
    engine: laying out many panels costs more than drawing them) and ``title`` above; on a phone
    one column of panels as wide as the figure, each with its own tick labels (``framed``: panels
    with axes, whose tick labels take the left margin)."""
    left, right = 0.75 if framed else 0.45, (1.1 if colorbar else 0.25)
    if lay.phone:
        right = 1.1 if colorbar else 0.2 if framed else 0.45
        height, width = height * (lay.width - left - right) / width, lay.width - left - right
    title = lay.wrap(title, lay.title, lay.width)
    ncols = min(lay.cols, k)
    nrows = math.ceil(k / ncols)
    bottom, top = 0.6, 0.35 + _title_room(lay, title, lay.title)
    gap_w, gap_h = 0.25, 0.8 if lay.phone else 0.55
    w = left + right + ncols * width + (ncols - 1) * gap_w
    h = bottom + top + nrows * height + (nrows - 1) * gap_h
    fig, axes = plt.subplots(nrows, ncols, figsize=(w, h), squeeze=False, **kw)
    fig.subplots_adjust(left=left / w, right=1 - right / w, bottom=bottom / h, top=1 - top / h,
                        wspace=gap_w / width, hspace=gap_h / height)
    fig.suptitle(title, fontsize=lay.title, y=1 - 0.12 / h, va="top")
    flat = list(axes.ravel())
    for ax in flat[k:]:
        ax.set_visible(False)
    return fig, flat[:k]


def _axis_labels(axes, lay: Layout, xlabel: str, ylabel: str) -> None:
    """Labels on every panel; in the wide grid only on its outer panels, on a phone on each."""
    for ax in axes:
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        if lay.phone:
            ax.tick_params(labelbottom=True, labelleft=True)
        else:
            ax.label_outer()


def loss_scatter(d, rows, plt, lay: Layout = WIDE):
    """Paper Fig. 3: validation vs epoch-end training loss, every epoch, coloured by rate."""
    if "train_loss" not in rows.columns or "val_loss" not in rows.columns or rows["train_loss"].isna().all():
        return None
    import matplotlib as mpl

    order = _order(d, rows)
    rates = rows["rate"].astype(float) if "rate" in rows.columns else None
    single = rates is None or rates.nunique() <= 1
    norm = None if single else mpl.colors.Normalize(rates.min(), rates.max())
    one = f", rate {rates.iloc[0]:g}" if single and rates is not None and len(rates) else ""
    title = f"{d.dataset}: validation vs epoch-end training loss, every epoch{one} (dashed: y = x)"
    fig, axes = _panels(plt, len(order), lay, title, colorbar=not single, sharex=True, sharey=True)
    lo = float(min(rows["train_loss"].min(), rows["val_loss"].min()))
    hi = float(max(rows["train_loss"].max(), rows["val_loss"].max()))
    for ax, variant in zip(axes, order):
        mine = rows[rows["variant"] == variant]
        colour = dict(color="C0") if single else dict(c=mine["rate"].astype(float), cmap="viridis", norm=norm)
        ax.scatter(mine["train_loss"], mine["val_loss"], s=12, alpha=0.85, **colour)
        ax.plot([lo, hi], [lo, hi], ls="--", color="0.4", lw=1)
        ax.set_title(variant, fontsize=lay.text)
    _axis_labels(axes, lay, "epoch-end training loss", "validation loss")
    if norm:
        w, h = fig.get_size_inches()
        place = [1 - 0.8 / w, 0.6 / h, 0.15 / w, 1 - 1.35 / h]
        if lay.phone:  # beside the first panel, not along the whole column
            box = axes[0].get_position()
            place = [1 - 0.8 / w, box.y0, 0.15 / w, box.height]
        bar = fig.add_axes(place)
        fig.colorbar(mpl.cm.ScalarMappable(norm=norm, cmap="viridis"), cax=bar, label="rate")
    return fig


def _best_runs(rows, metric: str, maximize: bool):
    """Each variant's run with the best value of ``metric`` (its rows, by epoch)."""
    key = "run_id" if "run_id" in rows.columns else None
    if key is None:
        cols = [c for c in ("rate", "units", "batch_size", "seed") if c in rows.columns]
        rows = rows.assign(_run=rows[cols].astype(str).agg("/".join, axis=1) if cols else "run")
        key = "_run"
    best = best_records(rows, metric, 1, maximize)
    return {r["variant"]: rows[rows[key] == r[key]].sort_values("epoch") for _, r in best.iterrows()}


def learning_curves(d, rows, plt, lay: Layout = WIDE):
    """Validation and epoch-end training loss per epoch of each variant's best run."""
    if "epoch" not in rows.columns or "val_loss" not in rows.columns:
        return None
    from matplotlib.ticker import MaxNLocator

    runs = _best_runs(rows, d.metric, d.maximize)
    order = [v for v in _order(d, rows) if v in runs]
    title = f"{d.dataset}: learning curves of each variant's best run"
    fig, axes = _panels(plt, len(order), lay, title, sharex=True, sharey=True)
    for ax, variant in zip(axes, order):
        run = runs[variant]
        ax.plot(run["epoch"], run["val_loss"], color="C0", lw=1.6, label="validation loss")
        if "train_loss" in run.columns and run["train_loss"].notna().any():
            ax.plot(run["epoch"], run["train_loss"], color="C1", lw=1.4, ls="--", label="epoch-end training loss")
        at = best_records(run, d.metric, 1, d.maximize)
        ax.scatter(at["epoch"], at["val_loss"], color="C0", s=25, zorder=3, label=f"best epoch by {d.metric}")
        rate = f", rate {run['rate'].iloc[0]:g}" if "rate" in run.columns else ""
        ax.set_title(f"{variant}{rate}", fontsize=lay.text)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    _axis_labels(axes, lay, "epoch", "loss")
    axes[0].legend(fontsize=lay.tiny)
    return fig


def ranking_cd(d, plt, lay: Layout = WIDE):
    """The CD diagram of one ranking: bars join what the Wilcoxon-Holm table does not tell apart."""
    ranks = [(v.variant, v.mean_rank) for v in d.variants]
    b = d.blocks
    if d.posthoc is None:
        what, same = f"{d.design} design: {b.n} dependent blocks, descriptive (no test, no bars)", None
    else:
        what = f"{d.design} design: {b.n} {b.kind}"
        same = same_as(d.posthoc)
    title = (f"{d.dataset}, {what}\nmean rank by {d.metric} (1 = best); thick bars join variants that the "
             f"Wilcoxon-Holm tests do not tell apart (alpha {d.alpha:g})" if same is not None else
             f"{d.dataset}, {what}\nmean rank by {d.metric} (1 = best)")
    return cd_diagram(ranks, d.nemenyi_cd, title, plt, same, cd_label="Nemenyi CD (reference only)", lay=lay)


def profile_of(d):
    """The performance profile (``stats.effects``) a figure draws; None with fewer than 2 blocks."""
    import numpy as np

    from pernode_cli.stats.effects import performance_profile

    b = d.blocks
    if b is None or b.n < 2 or not b.values:
        return None
    return performance_profile(np.array(b.values), d.maximize)


def profile_figure_of(d, plt, prof=None, lay: Layout = WIDE):
    """Performance profiles: each variant's share of blocks reaching each score (a step plot)."""
    import numpy as np

    prof = prof if prof is not None else profile_of(d)
    if prof is None:
        return None
    b = d.blocks
    order = [v.variant for v in d.variants]
    title = lay.wrap(f"{d.dataset}: performance profiles ({b.kind}), pointwise 95% Wilson bands", lay.title)
    height = 4.2 if not lay.phone else 3.0 + _title_room(lay, title, lay.title) + 0.2 * len(order)
    fig, ax = plt.subplots(figsize=(lay.width, height), layout="constrained")
    grid = np.array(prof.thresholds)
    for i, name in enumerate(order):
        j = b.variants.index(name)
        ax.step(grid, np.array(prof.shares[j]), where="post", color=f"C{i % 10}", lw=1.6, label=name)
        ax.fill_between(grid, prof.low[j], prof.high[j], step="post", color=f"C{i % 10}", alpha=0.08)
    ax.set_xlabel(lay.label(f"score t in {d.metric} ({direction_text(d.maximize)})"))
    ax.set_ylabel(lay.label(f"share of the {b.n} blocks with {d.metric} {'>=' if d.maximize else '<='} t"))
    ax.set_ylim(-0.02, 1.02)
    ax.grid(color="0.9")
    if lay.phone:
        fig.legend(loc="outside lower center", ncol=2, fontsize=lay.tiny)
    else:
        ax.legend(fontsize=lay.tiny, ncol=2)
    lay.set_title(fig, ax, title)
    return fig


def profile_figure(d, plt, phone: bool = False):
    prof = profile_of(d)
    if prof is None:
        return None
    cap = CAPTIONS["profile"].format(metric=d.metric, n=d.blocks.n, kind=d.blocks.kind)
    return drawn(partial(profile_figure_of, d, plt, prof), plt, f"{safe_name(d.dataset)}_profile_{d.design}", cap,
                 f"{d.dataset}: {cap}", phone)


def simplex_of(d, plt, pairs, lay: Layout = WIDE):
    """The Bayesian signed-rank test's posterior on the simplex, one panel per pair (Benavoli et al. 2017)."""
    import numpy as np

    title = (f"{d.dataset}: Bayesian signed-rank posteriors, ROPE +-{d.posthoc.rope:g} (titles: P(A better) / "
             "P(equivalent) / P(B better))")
    fig, axes = _panels(plt, len(pairs), lay, title, width=2.6, height=2.3, framed=False)
    corners = np.array([[0.0, 0.0], [1.0, 0.0], [0.5, np.sqrt(3) / 2]])  # A better, B better, equivalent
    for ax, t in zip(axes, pairs):
        p = np.asarray(t.bayes_sample)  # (samples, 3): P(a better), P(equivalent), P(b better)
        xy = p[:, [0]] * corners[0] + p[:, [2]] * corners[1] + p[:, [1]] * corners[2]
        ax.plot(*np.vstack([corners, corners[:1]]).T, color="0.3", lw=0.8)
        ax.scatter(xy[:, 0], xy[:, 1], s=2, alpha=0.15, color="C0")
        for (x, y), label in zip(corners, (t.a, t.b, "equivalent")):
            ax.text(x, y + (0.05 if label == "equivalent" else -0.08), label, ha="center", fontsize=lay.tiny)
        ax.set_title(" / ".join(fixed(x, 2) for x in (t.bayes_a_better, t.bayes_equivalent, t.bayes_b_better)),
                     fontsize=lay.small)
        ax.set_xlim(-0.15, 1.15)
        ax.set_ylim(-0.15, 1.0)
        ax.axis("off")
    return fig


def simplex_figure(d, plt, phone: bool = False):
    h = d.posthoc
    if h is None or h.rope is None or d.blocks is None or d.blocks.n < 2:
        return None
    pairs = [t for t in h.pairs if t.bayes_sample][:12]  # the posteriors the table's probabilities came from
    if not pairs:
        return None
    cap = CAPTIONS["simplex"].format(rope=h.rope, metric=d.metric)
    return drawn(partial(simplex_of, d, plt, pairs), plt, f"{safe_name(d.dataset)}_simplex_{d.design}", cap,
                 f"{d.dataset}: {cap}", phone)


CAPTIONS = {
    "profile": ("Performance profiles: for each variant, the share of the {n} blocks ({kind}) in which its {metric} "
                "is at least as good as each value on the axis, with pointwise 95% Wilson bands (Agarwal et al. "
                "2021); a curve above another is better over the whole range."),
    "simplex": ("Bayesian signed-rank test with a region of practical equivalence of +-{rope:g} in {metric} "
                "(Benavoli, Corani, Demsar and Zaffalon 2017): samples of the posterior of (P(A practically better), "
                "P(equivalent), P(B practically better)); mass near a corner is a confident conclusion."),
    "best3": ("Paper Fig. 2: each variant's three best {metric} records (any rate, any epoch), variants in "
              "ranking order; {direction}."),
    "scatter": ("Paper Fig. 3: validation loss against epoch-end training loss, every epoch of every finished "
                "run, one panel per variant, colour = rate; points above the dashed y = x line generalise "
                "worse than they fit."),
    "curves": ("Learning curves of each variant's best run (by {metric}): validation loss (solid) and "
               "epoch-end training loss (dashed) per epoch; the dot marks the best epoch."),
    "cd_descriptive": ("Mean-rank diagram, {design} design (descriptive): mean ranks (1 = best) on the axis; no test "
                       "is made, so no bars join variants; the grey bar is Nemenyi's critical difference, for "
                       "reference."),
    "cd": ("Critical-difference diagram, {design} design: mean ranks (1 = best) on the axis; thick bars join "
           "variants that the Wilcoxon signed-rank tests with Holm's correction do not tell apart (the table's "
           "test; the text's conclusions use it); the grey bar is Nemenyi's critical difference, for reference."),
}
MAKERS = (("best3", best3_dots), ("scatter", loss_scatter), ("curves", learning_curves))


def dataset_figures(d, rows, plt, cd: bool = True, phone: bool = False) -> list[FigureFile]:
    """The report's figures of one data set's ranking, from its cleaned rows (``phone``: with
    their phone layouts, for the report's page)."""
    base, out = safe_name(d.dataset), []
    fmt = dict(metric=d.metric, direction=_direction(d), design=d.design)
    for name, make in MAKERS if len(rows) else []:
        cap = CAPTIONS[name].format(**fmt)
        made = drawn(partial(make, d, rows, plt), plt, f"{base}_{name}", cap, f"{d.dataset}: {cap}", phone)
        if made is not None:
            out.append(made)
    if cd and d.variants:
        out.append(cd_figure(d, plt, phone))
        out += [f for f in (profile_figure(d, plt, phone), simplex_figure(d, plt, phone)) if f is not None]
    return out


def cd_figure(d, plt, phone: bool = False) -> FigureFile:
    cap = CAPTIONS["cd" if d.posthoc is not None else "cd_descriptive"].format(design=d.design)
    return drawn(partial(ranking_cd, d, plt), plt, f"{safe_name(d.dataset)}_cd_{d.design}", cap,
                 f"{d.dataset}: {cap}", phone)


def figure_files(figures) -> dict:
    """``{name: bytes}`` of every figure's SVG and PNG."""
    return {f"{f.stem}.{ext}": data for f in figures for ext, data in (("svg", f.svg), ("png", f.png))}


def check_plots_folder(folder) -> None:
    """Refuse a `plots` folder that cannot be replaced whole, before any work."""
    check_target(folder, "plots", "figures")


def write_plots(result, folder) -> list[Path]:
    """`rank --plots`: the report's figures of every ranked data set, SVG and PNG, written as
    one folder whole or not at all (``report.folder``)."""
    check_plots_folder(folder)
    plt = pyplot()
    figures = []
    for d in result.datasets:
        rows = result.rows[result.rows["dataset"] == d.dataset] if d.top_rows else result.rows.iloc[:0]
        figures += dataset_figures(d, rows, plt)
    if result.across is not None and result.across.variants:
        figures.append(cd_figure(result.across, plt))
    return replace_folder(folder, figure_files(figures), "plots", "figures")


def ratio_dots(group, plt, lay: Layout = WIDE):
    """Epoch time relative to Dropout's, with 95% intervals: a dot plot on an axis from zero."""
    rows = [r for r in group.rows if r["ratio_to_dropout"] is not None]
    if not rows:
        return None
    rows.sort(key=lambda r: r["ratio_to_dropout"])
    where = ", ".join(x for x in (group.device, group.backend) if x)
    title = lay.wrap(f"{group.dataset or 'epoch time'}{f' on {where}' if where else ''}: ratio to Dropout, 95% "
                     "interval", lay.title)
    xlabel = lay.label("epoch time / Dropout's epoch time in the same run (dashed: 1 = as fast as Dropout)")
    extra = _title_room(lay, title, lay.title) + _title_room(lay, xlabel, lay.text) if lay.phone else 0.0
    fig, ax = plt.subplots(figsize=(lay.width, 1.1 + 0.38 * len(rows) + extra), layout="constrained")
    for y, r in enumerate(rows):
        lo, hi = r["ratio_ci_low"], r["ratio_ci_high"]
        if lo is not None and hi is not None:
            ax.plot([lo, hi], [y, y], color="C0", lw=2, alpha=0.6)
        ax.scatter(r["ratio_to_dropout"], y, color="C0", s=30, zorder=3)
        ax.annotate(f"{fixed(r['ratio_to_dropout'], 2)}x", (max(r["ratio_to_dropout"], hi or 0), y), xytext=(6, 0),
                    textcoords="offset points", va="center", fontsize=lay.small)
    ax.axvline(1.0, color="0.4", ls="--", lw=1)
    ax.set_yticks(range(len(rows)), [r["variant"] for r in rows])
    right = max(max(r["ratio_ci_high"] or r["ratio_to_dropout"], r["ratio_to_dropout"]) for r in rows)
    ax.set_xlim(0, right * (1.3 if lay.phone else 1.15) + 0.1)
    ax.set_ylim(len(rows) - 0.5, -0.5)
    ax.set_xlabel(xlabel)
    lay.set_title(fig, ax, title)
    ax.grid(axis="x", color="0.9")
    return fig


def timing_figure(group, stem: str, plt, phone: bool = False):
    cap = ("Epoch time of each variant divided by Dropout's in the same run (dot) with its 95% paired bootstrap "
           "interval (line); the axis starts at zero, the dashed line marks Dropout's speed.")
    return drawn(partial(ratio_dots, group, plt), plt, stem, cap, f"{group.dataset}: {cap}", phone)
