"""Figures of rankings and benchmarks (matplotlib, Agg), each written as SVG and as PNG at
200 dpi: the paper's Fig. 2 (best three records per variant, a dot plot) and Fig. 3
(validation against epoch-end training loss, with the y = x line, coloured by rate),
learning curves, critical-difference diagrams and epoch-time ratios. `pernode rank --plots`
and `pernode report` write them with the same functions. No statistics here."""

from __future__ import annotations

import io
import math
from dataclasses import dataclass
from pathlib import Path

from pernode_cli.report.folder import check_target, replace_folder
from pernode_cli.stats.direction import direction_text
from pernode_cli.stats.tables import best_records

DPI = 200
MARKERS = ("o", "s", "^")


@dataclass(frozen=True)
class FigureFile:
    """One figure, rendered: ``figures/STEM.svg`` and ``figures/STEM.png``."""

    stem: str
    caption: str
    alt: str
    svg: bytes
    png: bytes


def pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    matplotlib.rcParams.update({"svg.hashsalt": "pernode", "font.size": 9, "axes.titlesize": 10})
    return plt


def safe_name(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in str(name))


def render(fig, plt, stem: str, caption: str, alt: str) -> FigureFile:
    svg, png = io.BytesIO(), io.BytesIO()
    if fig.get_layout_engine() is not None:  # lay out once, not again for every file
        fig.canvas.draw()
        fig.set_layout_engine("none")
    fig.savefig(svg, format="svg", metadata={"Date": None})
    fig.savefig(png, format="png", dpi=DPI, metadata={"Software": None})
    plt.close(fig)
    return FigureFile(stem=stem, caption=caption, alt=alt, svg=svg.getvalue(), png=png.getvalue())


def _direction(d) -> str:
    return direction_text(d.maximize)


def best3_dots(d, rows, plt):
    """Paper Fig. 2 as a dot plot: each variant's three best records, variants in ranking order."""
    order = _order(d, rows)
    best = best_records(rows, d.metric, 3, d.maximize)
    fig, ax = plt.subplots(figsize=(7.5, 1.0 + 0.42 * len(order)), layout="constrained")
    for y, variant in enumerate(order):
        vals = best.loc[best["variant"] == variant, d.metric].to_list()
        if vals:
            ax.plot([min(vals), max(vals)], [y, y], color="0.8", lw=1, zorder=1)
        for i, v in enumerate(vals):
            label = f"#{i + 1} best" if y == 0 else None
            ax.scatter(v, y, marker=MARKERS[i], color=f"C{i}", s=36, zorder=2, label=label)
    ax.set_yticks(range(len(order)), order)
    ax.invert_yaxis()
    ax.set_xlabel(f"{d.metric} ({_direction(d)})")
    ax.grid(axis="x", color="0.9")
    ax.set_title(f"{d.dataset}: each variant's three best {d.metric} records\n"
                 + (f"variants in the order of the {d.design} design's ranking, best first" if d.variants else
                    "variants by name (not ranked)"))
    ax.legend(loc="best", fontsize=8)
    return fig


def _order(d, rows) -> list:
    """Variants in ranking order; by name where the record ranks none."""
    ranked = [v.variant for v in d.variants]
    return ranked or sorted(str(v) for v in rows["variant"].unique())


def _panels(plt, k: int, colorbar: bool = False, width=2.9, height=2.3, **kw):
    """A grid of ``k`` panels of ``width`` x ``height`` inches with fixed margins (no layout
    engine: laying out many panels costs more than drawing them)."""
    ncols = min(4, k)
    nrows = math.ceil(k / ncols)
    left, right, bottom, top, gap_w, gap_h = 0.75, 1.1 if colorbar else 0.25, 0.6, 0.75, 0.25, 0.55
    w = left + right + ncols * width + (ncols - 1) * gap_w
    h = bottom + top + nrows * height + (nrows - 1) * gap_h
    fig, axes = plt.subplots(nrows, ncols, figsize=(w, h), squeeze=False, **kw)
    fig.subplots_adjust(left=left / w, right=1 - right / w, bottom=bottom / h, top=1 - top / h,
                        wspace=gap_w / width, hspace=gap_h / height)
    flat = list(axes.ravel())
    for ax in flat[k:]:
        ax.set_visible(False)
    return fig, flat[:k]


def loss_scatter(d, rows, plt):
    """Paper Fig. 3: validation vs epoch-end training loss, every epoch, coloured by rate."""
    if "train_loss" not in rows.columns or "val_loss" not in rows.columns or rows["train_loss"].isna().all():
        return None
    import matplotlib as mpl

    order = _order(d, rows)
    rates = rows["rate"].astype(float) if "rate" in rows.columns else None
    single = rates is None or rates.nunique() <= 1
    norm = None if single else mpl.colors.Normalize(rates.min(), rates.max())
    fig, axes = _panels(plt, len(order), colorbar=not single, sharex=True, sharey=True)
    lo = float(min(rows["train_loss"].min(), rows["val_loss"].min()))
    hi = float(max(rows["train_loss"].max(), rows["val_loss"].max()))
    for ax, variant in zip(axes, order):
        mine = rows[rows["variant"] == variant]
        colour = dict(color="C0") if single else dict(c=mine["rate"].astype(float), cmap="viridis", norm=norm)
        ax.scatter(mine["train_loss"], mine["val_loss"], s=12, alpha=0.85, **colour)
        ax.plot([lo, hi], [lo, hi], ls="--", color="0.4", lw=1)
        ax.set_title(variant, fontsize=9)
    for ax in axes:
        ax.set_xlabel("epoch-end training loss")
        ax.set_ylabel("validation loss")
        ax.label_outer()
    if norm:
        w, h = fig.get_size_inches()
        bar = fig.add_axes([1 - 0.8 / w, 0.6 / h, 0.15 / w, 1 - 1.35 / h])
        fig.colorbar(mpl.cm.ScalarMappable(norm=norm, cmap="viridis"), cax=bar, label="rate")
    one = f", rate {rates.iloc[0]:g}" if single and rates is not None and len(rates) else ""
    fig.suptitle(f"{d.dataset}: validation vs epoch-end training loss, every epoch{one} (dashed: y = x)")
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


def learning_curves(d, rows, plt):
    """Validation and epoch-end training loss per epoch of each variant's best run."""
    if "epoch" not in rows.columns or "val_loss" not in rows.columns:
        return None
    from matplotlib.ticker import MaxNLocator

    runs = _best_runs(rows, d.metric, d.maximize)
    order = [v for v in _order(d, rows) if v in runs]
    fig, axes = _panels(plt, len(order), sharex=True, sharey=True)
    for ax, variant in zip(axes, order):
        run = runs[variant]
        ax.plot(run["epoch"], run["val_loss"], color="C0", lw=1.6, label="validation loss")
        if "train_loss" in run.columns and run["train_loss"].notna().any():
            ax.plot(run["epoch"], run["train_loss"], color="C1", lw=1.4, ls="--", label="epoch-end training loss")
        at = best_records(run, d.metric, 1, d.maximize)
        ax.scatter(at["epoch"], at["val_loss"], color="C0", s=25, zorder=3, label=f"best epoch by {d.metric}")
        rate = f", rate {run['rate'].iloc[0]:g}" if "rate" in run.columns else ""
        ax.set_title(f"{variant}{rate}", fontsize=9)
        ax.set_xlabel("epoch")
        ax.set_ylabel("loss")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.label_outer()
    axes[0].legend(fontsize=7)
    fig.suptitle(f"{d.dataset}: learning curves of each variant's best run")
    return fig


def _cliques(ranks, same) -> list:
    """Maximal runs of consecutive variants (by mean rank) of which no two differ (``same(a, b)``)."""
    out, k = [], len(ranks)
    for i in range(k):
        j = i
        while j + 1 < k and all(same(ranks[a][0], ranks[j + 1][0]) for a in range(i, j + 1)):
            j += 1
        if j > i and not any(a <= i and j <= b for a, b in out):
            out.append((i, j))
    return out


def cd_diagram(ranks, cd, title: str, plt, same=None, cd_label: str = "CD"):
    """The usual critical-difference diagram: the axis of mean ranks on top, the better half of
    the variants joined to it from the left, the rest from the right, and thick bars joining
    variants that the reported tests do not tell apart (``same(a, b)``; no bars without tests).
    ``ranks``: (name, mean rank); ``cd``: the Nemenyi critical difference drawn as a scale bar
    (None: none)."""
    ranks = sorted(ranks, key=lambda x: (x[1], x[0]))
    k, half = len(ranks), math.ceil(len(ranks) / 2)
    cliques = _cliques(ranks, same) if same is not None else []
    top, step = 1.25, 0.27  # inches above the axis, between label rows
    depth = 0.25 + 0.12 * len(cliques) + step * (max(half, k - half) + 0.4)
    longest = max(len(f"{name} ({r:.2f})") for name, r in ranks)
    margin = 0.075 * longest + 0.35  # inches for the labels on each side
    axis = max(4.0, 0.6 * (k - 1))
    width = max(8.0, axis + 2 * margin)
    margin = (width - axis) / 2
    fig = plt.figure(figsize=(width, top + depth))
    ax = fig.add_axes([0, 0, 1, 1])
    span = max(k - 1, 1)
    scale = span / axis  # rank units per inch
    ax.set_xlim(1 - margin * scale, max(k, 2) + margin * scale)
    ax.set_ylim(-depth, top)
    ax.axis("off")
    ax.plot([1, max(k, 2)], [0, 0], color="black", lw=1.2)
    for x in range(1, max(k, 2) + 1):
        ax.plot([x, x], [0, 0.08], color="black", lw=1)
        ax.text(x, 0.13, str(x), ha="center", va="bottom", fontsize=9)
    if cd is not None and math.isfinite(cd):
        end = min(1 + cd, max(k, 2) + 0.6 * margin * scale)  # a CD wider than the figure is cut, and says so
        ax.plot([1, end], [0.55, 0.55], color="0.35", lw=2)
        for x in (1, end) if end == 1 + cd else (1,):
            ax.plot([x, x], [0.5, 0.6], color="0.35", lw=1.5)
        cut = "" if end == 1 + cd else ", wider than the figure"
        ax.text((1 + end) / 2, 0.62, f"{cd_label} = {cd:.2f}{cut}", ha="center", va="bottom", fontsize=8)
    ax.text((1 + max(k, 2)) / 2, top - 0.05, title, ha="center", va="top", fontsize=10)
    below = 0.2 + 0.12 * len(cliques)
    for i, (name, r) in enumerate(ranks):
        left = i < half
        y = -(below + step * ((i if left else k - 1 - i) + 0.5))
        end = 1 - 0.15 * scale if left else max(k, 2) + 0.15 * scale
        ax.plot([r, r, end], [0, y, y], color="0.25", lw=0.9)
        ax.text(end + (-0.05 if left else 0.05) * scale, y, f"{name} ({r:.2f})", ha="right" if left else "left",
                va="center", fontsize=9)
    for level, (i, j) in enumerate(cliques):
        y = -(0.12 + 0.12 * level)
        ax.plot([ranks[i][1] - 0.03, ranks[j][1] + 0.03], [y, y], color="black", lw=4, solid_capstyle="butt")
    return fig


def _same(posthoc):
    """Whether the reported post-hoc tests leave two variants undistinguished: a pair not
    rejected; against a control only pairs with the control are tested (others: not joined)."""
    rejected = {(t.a, t.b): t.reject for t in posthoc.pairs}

    def same(a, b):
        if (a, b) in rejected:
            return not rejected[(a, b)]
        if (b, a) in rejected:
            return not rejected[(b, a)]
        return False

    return same


def ranking_cd(d, plt):
    """The CD diagram of one ranking: bars join what the Wilcoxon-Holm table does not tell apart."""
    ranks = [(v.variant, v.mean_rank) for v in d.variants]
    b = d.blocks
    if d.posthoc is None:
        what, same = f"{d.design} design: {b.n} dependent blocks, descriptive (no test, no bars)", None
    else:
        what = f"{d.design} design: {b.n} {b.kind}"
        same = _same(d.posthoc)
    title = (f"{d.dataset}, {what}\nmean rank by {d.metric} (1 = best); thick bars join variants that the "
             f"Wilcoxon-Holm tests do not tell apart (alpha {d.alpha:g})" if same is not None else
             f"{d.dataset}, {what}\nmean rank by {d.metric} (1 = best)")
    return cd_diagram(ranks, d.nemenyi_cd, title, plt, same, cd_label="Nemenyi CD (reference only)")


def profile_figure_of(d, plt):
    """Performance profiles: each variant's share of blocks reaching each score (a step plot)."""
    import numpy as np

    from pernode_cli.stats.effects import performance_profile

    b = d.blocks
    if b is None or b.n < 2 or not b.values:
        return None
    prof = performance_profile(np.array(b.values), d.maximize)
    order = [v.variant for v in d.variants]
    fig, ax = plt.subplots(figsize=(7.5, 4.2), layout="constrained")
    grid = np.array(prof.thresholds)
    for i, name in enumerate(order):
        j = b.variants.index(name)
        shares = np.array(prof.shares[j])
        ax.step(grid, shares, where="post", color=f"C{i % 10}", lw=1.6, label=name)
        ax.fill_between(grid, prof.low[j], prof.high[j], step="post", color=f"C{i % 10}", alpha=0.08)
    ax.set_xlabel(f"score t in {d.metric} ({direction_text(d.maximize)})")
    ax.set_ylabel(f"share of the {b.n} blocks with {d.metric} {'>=' if d.maximize else '<='} t")
    ax.set_ylim(-0.02, 1.02)
    ax.grid(color="0.9")
    ax.legend(fontsize=7, ncol=2)
    ax.set_title(f"{d.dataset}: performance profiles ({b.kind}), pointwise 95% Wilson bands")
    return fig


def profile_figure(d, plt):
    fig = profile_figure_of(d, plt)
    if fig is None:
        return None
    cap = CAPTIONS["profile"].format(metric=d.metric, n=d.blocks.n, kind=d.blocks.kind)
    return render(fig, plt, f"{safe_name(d.dataset)}_profile_{d.design}", cap, f"{d.dataset}: {cap}")


def simplex_figure(d, plt):
    """The Bayesian signed-rank test's posterior on the simplex, one panel per pair (Benavoli et al. 2017)."""
    import numpy as np

    from pernode_cli.stats.bayes import bayes_signed_rank

    h = d.posthoc
    if h is None or h.rope is None or d.blocks is None or d.blocks.n < 2:
        return None
    values = np.array(d.blocks.values)
    col = {v: j for j, v in enumerate(d.blocks.variants)}
    pairs = list(h.pairs)[:12]
    fig, axes = _panels(plt, len(pairs), width=2.6, height=2.3)
    corners = np.array([[0.0, 0.0], [1.0, 0.0], [0.5, np.sqrt(3) / 2]])  # A better, B better, equivalent
    for ax, t in zip(axes, pairs):
        post = bayes_signed_rank(values[:, col[t.a]], values[:, col[t.b]], h.rope, d.maximize, n_samples=3000)
        p = np.asarray(post.samples)  # (samples, 3): P(a better), P(equivalent), P(b better)
        xy = p[:, [0]] * corners[0] + p[:, [2]] * corners[1] + p[:, [1]] * corners[2]
        ax.plot(*np.vstack([corners, corners[:1]]).T, color="0.3", lw=0.8)
        ax.scatter(xy[:, 0], xy[:, 1], s=2, alpha=0.15, color="C0")
        for (x, y), label in zip(corners, (t.a, t.b, "equivalent")):
            ax.text(x, y + (0.05 if label == "equivalent" else -0.08), label, ha="center", fontsize=7)
        ax.set_title(f"{post.p_a_better:.2f} / {post.p_equivalent:.2f} / {post.p_b_better:.2f}", fontsize=8)
        ax.set_xlim(-0.15, 1.15)
        ax.set_ylim(-0.15, 1.0)
        ax.axis("off")
    fig.suptitle(f"{d.dataset}: Bayesian signed-rank posteriors, ROPE +-{h.rope:g} (titles: P(A better) / "
                 "P(equivalent) / P(B better))")
    cap = CAPTIONS["simplex"].format(rope=h.rope, metric=d.metric)
    return render(fig, plt, f"{safe_name(d.dataset)}_simplex_{d.design}", cap, f"{d.dataset}: {cap}")


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


def dataset_figures(d, rows, plt, cd: bool = True) -> list[FigureFile]:
    """The report's figures of one data set's ranking, from its cleaned rows."""
    base, out = safe_name(d.dataset), []
    fmt = dict(metric=d.metric, direction=_direction(d), design=d.design)
    makers = [("best3", best3_dots), ("scatter", loss_scatter), ("curves", learning_curves)]
    for name, make in makers if len(rows) else []:
        fig = make(d, rows, plt)
        if fig is not None:
            cap = CAPTIONS[name].format(**fmt)
            out.append(render(fig, plt, f"{base}_{name}", cap, f"{d.dataset}: {cap}"))
    if cd and d.variants:
        out.append(cd_figure(d, plt))
        out += [f for f in (profile_figure(d, plt), simplex_figure(d, plt)) if f is not None]
    return out


def cd_figure(d, plt) -> FigureFile:
    cap = CAPTIONS["cd" if d.posthoc is not None else "cd_descriptive"].format(design=d.design)
    return render(ranking_cd(d, plt), plt, f"{safe_name(d.dataset)}_cd_{d.design}", cap, f"{d.dataset}: {cap}")


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


def ratio_dots(group, plt):
    """Epoch time relative to Dropout's, with 95% intervals: a dot plot on an axis from zero."""
    rows = [r for r in group.rows if r["ratio_to_dropout"] is not None]
    if not rows:
        return None
    rows.sort(key=lambda r: r["ratio_to_dropout"])
    fig, ax = plt.subplots(figsize=(7.5, 1.1 + 0.38 * len(rows)), layout="constrained")
    for y, r in enumerate(rows):
        lo, hi = r["ratio_ci_low"], r["ratio_ci_high"]
        if lo is not None and hi is not None:
            ax.plot([lo, hi], [y, y], color="C0", lw=2, alpha=0.6)
        ax.scatter(r["ratio_to_dropout"], y, color="C0", s=30, zorder=3)
        ax.annotate(f"{r['ratio_to_dropout']:.2f}x", (max(r["ratio_to_dropout"], hi or 0), y), xytext=(6, 0),
                    textcoords="offset points", va="center", fontsize=8)
    ax.axvline(1.0, color="0.4", ls="--", lw=1)
    ax.set_yticks(range(len(rows)), [r["variant"] for r in rows])
    right = max(max(r["ratio_ci_high"] or r["ratio_to_dropout"], r["ratio_to_dropout"]) for r in rows)
    ax.set_xlim(0, right * 1.15 + 0.1)
    ax.set_ylim(len(rows) - 0.5, -0.5)
    ax.set_xlabel("epoch time / Dropout's epoch time in the same run (dashed: 1 = as fast as Dropout)")
    where = ", ".join(x for x in (group.device, group.backend) if x)
    ax.set_title(f"{group.dataset or 'epoch time'}{f' on {where}' if where else ''}: ratio to Dropout, 95% interval")
    ax.grid(axis="x", color="0.9")
    return fig


def timing_figure(group, stem: str, plt):
    fig = ratio_dots(group, plt)
    if fig is None:
        return None
    cap = ("Epoch time of each variant divided by Dropout's in the same run (dot) with its 95% paired bootstrap "
           "interval (line); the axis starts at zero, the dashed line marks Dropout's speed.")
    return render(fig, plt, stem, cap, f"{group.dataset}: {cap}")
