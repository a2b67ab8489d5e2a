"""The time-to-target figure (matplotlib, Agg; SVG and PNG through ``plots.render``): per
data set, the share of each variant's runs that reached the target against training
seconds, one step function per variant. No statistics here: the curves come from
``pernode_cli.stats.target``."""

from __future__ import annotations

from functools import partial

from pernode_cli.rendering.layout import WIDE, Layout
from pernode_cli.rendering.plots import FigureFile, drawn, pyplot, safe_name

CAPTION = ("Share of each variant's runs that reached {target} against training time (the logged epoch_seconds "
           "summed, evaluation excluded); a step at each run's time to target, crosses where a run stopped "
           "without reaching it (censored). Curves end below 1 when some runs never reached the target.")


def reach_plot(curves, target_text: str, dataset: str, plt, lay: Layout = WIDE):
    """One data set's reach curves: ``curves`` are its ``ReachCurve`` records."""
    title = lay.wrap(f"{dataset}: time to {target_text}, share of runs per variant", lay.title)
    height = 4.2 if not lay.phone else 3.0 + 0.15 * lay.lines(title) + 0.2 * len(curves)
    fig, ax = plt.subplots(figsize=(lay.width, height), layout="constrained")
    right = max([0.0] + [t for c in curves for t in c.times + c.censored_at]) * 1.05 or 1.0
    for i, c in enumerate(curves):
        colour = f"C{i % 10}"
        xs = [0.0, *c.times, right]
        ys = [0.0, *c.shares, c.shares[-1] if c.shares else 0.0]
        ax.step(xs, ys, where="post", color=colour, lw=1.6, label=f"{c.variant} ({c.n_reached}/{c.n_runs} reached)")
        if c.censored_at:
            ax.scatter(c.censored_at, c.share_at(c.censored_at), marker="x", color=colour, s=28, zorder=3)
    ax.set_xlim(0, right)
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel(lay.label("training seconds (sum of epoch_seconds)"))
    ax.set_ylabel(lay.label("share of runs that reached the target"))
    ax.grid(color="0.9")
    lay.set_title(fig, ax, title)
    if lay.phone:
        fig.legend(loc="outside lower center", fontsize=lay.tiny)
    else:
        ax.legend(loc="best", fontsize=lay.small)
    return fig


def target_figures(times, phone: bool = False) -> list[FigureFile]:
    """One figure per data set of a ``TargetTimes`` record (``phone``: with its phone layout)."""
    plt = pyplot()
    out = []
    for dataset in sorted({c.dataset for c in times.curves}):
        curves = [c for c in times.curves if c.dataset == dataset]
        caption = CAPTION.format(target=times.target.text)
        draw = partial(reach_plot, curves, times.target.text, dataset, plt)
        out.append(drawn(draw, plt, f"{safe_name(dataset)}_time_to_target", caption, f"{dataset}: {caption}", phone))
    return out
