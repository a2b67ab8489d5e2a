"""The time-to-target figure (matplotlib, Agg; SVG and PNG through ``plots.render``): per
data set, the share of each variant's runs that reached the target against training
seconds, one step function per variant. No statistics here: the curves come from
``pernode_cli.stats.target``."""

from __future__ import annotations

from pernode_cli.report.plots import FigureFile, pyplot, render, safe_name

CAPTION = ("Share of each variant's runs that reached {target} against training time (the logged epoch_seconds "
           "summed, evaluation excluded); a step at each run's time to target, crosses where a run stopped "
           "without reaching it (censored). Curves end below 1 when some runs never reached the target.")


def reach_plot(curves, target_text: str, dataset: str, plt):
    """One data set's reach curves: ``curves`` are its ``ReachCurve`` records."""
    fig, ax = plt.subplots(figsize=(7.5, 4.2), layout="constrained")
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
    ax.set_xlabel("training seconds (sum of epoch_seconds)")
    ax.set_ylabel("share of runs that reached the target")
    ax.grid(color="0.9")
    ax.set_title(f"{dataset}: time to {target_text}, share of runs per variant")
    ax.legend(loc="best", fontsize=8)
    return fig


def target_figures(times) -> list[FigureFile]:
    """One figure per data set of a ``TargetTimes`` record."""
    plt = pyplot()
    out = []
    for dataset in sorted({c.dataset for c in times.curves}):
        curves = [c for c in times.curves if c.dataset == dataset]
        caption = CAPTION.format(target=times.target.text)
        fig = reach_plot(curves, times.target.text, dataset, plt)
        out.append(render(fig, plt, f"{safe_name(dataset)}_time_to_target", caption, f"{dataset}: {caption}"))
    return out
