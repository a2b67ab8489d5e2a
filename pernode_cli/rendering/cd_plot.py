"""The critical-difference diagram (Demsar 2006): the axis of mean ranks, each variant joined
to it by a line to its label, thick bars joining variants that the reported tests do not tell
apart. Wide: the better half labelled on the left, the rest on the right; on a phone every
label on the right of a short axis, so the text keeps its size. No statistics here."""

from __future__ import annotations

import math
from dataclasses import dataclass

from pernode_cli.rendering.numbers import fixed, rank_text
from pernode_cli.rendering.layout import WIDE, Layout

STEP = 0.27  # inches between label rows


def cliques(ranks, same) -> list:
    """Maximal runs of consecutive variants (by mean rank) of which no two differ (``same(a, b)``)."""
    out, k = [], len(ranks)
    for i in range(k):
        j = i
        while j + 1 < k and all(same(ranks[a][0], ranks[j + 1][0]) for a in range(i, j + 1)):
            j += 1
        if j > i and not any(a <= i and j <= b for a, b in out):
            out.append((i, j))
    return out


def same_as(posthoc):
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


@dataclass(frozen=True)
class _Frame:
    """Where things go: inches above and below the axis, the axis' ends in rank units."""

    k: int
    half: int  # labels on the left
    top: float
    depth: float
    width: float
    left: float  # inches left of rank 1
    scale: float  # rank units per inch
    clique_rows: int

    @property
    def end(self) -> int:
        return max(self.k, 2)


def _frame(ranks, title: str, n_cliques: int, lay: Layout) -> _Frame:
    k = len(ranks)
    half = 0 if lay.phone else math.ceil(k / 2)
    longest = max(len(f"{name} ({rank_text(r)})") for name, r in ranks)
    label = 0.075 * longest + 0.35  # inches for the labels of one side
    top = 1.25 if not lay.phone else 0.95 + lay.lines(title) * lay.title * 1.35 / 72
    depth = 0.25 + 0.12 * n_cliques + STEP * (max(half, k - half) + 0.4)
    if lay.phone:
        left = 0.3
        axis = max(1.5, lay.width - left - label)
        width = left + axis + label
    else:
        axis = max(4.0, 0.6 * (k - 1))
        width = max(8.0, axis + 2 * label)
        left = (width - axis) / 2
    return _Frame(k=k, half=half, top=top, depth=depth, width=width, left=left, scale=max(k - 1, 1) / axis,
                  clique_rows=n_cliques)


def _scale_bar(ax, f: _Frame, cd, cd_label: str, lay: Layout) -> None:
    """Nemenyi's critical difference as a scale bar above the axis (cut, and saying so, where wider)."""
    right = 1 + (f.width - f.left) * f.scale  # the figure's right edge in rank units
    end = min(1 + cd, f.end + 0.6 * (right - f.end) if not lay.phone else right - 0.1 * f.scale)
    ax.plot([1, end], [0.55, 0.55], color="0.35", lw=2)
    for x in (1, end) if end == 1 + cd else (1,):
        ax.plot([x, x], [0.5, 0.6], color="0.35", lw=1.5)
    cut = "" if end == 1 + cd else (",\nwider than the figure" if lay.phone else ", wider than the figure")
    text = f"{cd_label} = {fixed(cd, 2)}{cut}"
    if lay.phone:
        ax.text(1 - 0.15 * f.scale, 0.64, text, ha="left", va="bottom", fontsize=lay.small)
    else:
        ax.text((1 + end) / 2, 0.62, text, ha="center", va="bottom", fontsize=lay.small)


def _labels(ax, ranks, f: _Frame, lay: Layout) -> None:
    below = 0.2 + 0.12 * f.clique_rows
    for i, (name, r) in enumerate(ranks):
        left = i < f.half
        y = -(below + STEP * ((i if left else f.k - 1 - i) + 0.5))
        end = 1 - 0.15 * f.scale if left else f.end + 0.15 * f.scale
        ax.plot([r, r, end], [0, y, y], color="0.25", lw=0.9)
        ax.text(end + (-0.05 if left else 0.05) * f.scale, y, f"{name} ({rank_text(r)})",
                ha="right" if left else "left", va="center", fontsize=lay.text)


def cd_diagram(ranks, cd, title: str, plt, same=None, cd_label: str = "CD", lay: Layout = WIDE):
    """The diagram of ``ranks`` ((name, mean rank)); ``cd``: Nemenyi's critical difference drawn as
    a scale bar (None: none); ``same(a, b)``: the tests leave a and b undistinguished (None: no
    tests, no bars)."""
    ranks = sorted(ranks, key=lambda x: (x[1], x[0]))
    groups = cliques(ranks, same) if same is not None else []
    title = lay.wrap(title, lay.title)
    f = _frame(ranks, title, len(groups), lay)
    fig = plt.figure(figsize=(f.width, f.top + f.depth))
    ax = fig.add_axes([0, 0, 1, 1])
    ax.set_xlim(1 - f.left * f.scale, 1 + (f.width - f.left) * f.scale)
    ax.set_ylim(-f.depth, f.top)
    ax.axis("off")
    ax.plot([1, f.end], [0, 0], color="black", lw=1.2)
    for x in range(1, f.end + 1):
        ax.plot([x, x], [0, 0.08], color="black", lw=1)
        ax.text(x, 0.13, str(x), ha="center", va="bottom", fontsize=lay.text)
    if cd is not None and math.isfinite(cd):
        _scale_bar(ax, f, cd, cd_label, lay)
    centre = (1 + f.end) / 2 if not lay.phone else 1 + (f.width / 2 - f.left) * f.scale
    ax.text(centre, f.top - 0.05, title, ha="center", va="top", fontsize=lay.title)
    _labels(ax, ranks, f, lay)
    for level, (i, j) in enumerate(groups):
        y = -(0.12 + 0.12 * level)
        ax.plot([ranks[i][1] - 0.03, ranks[j][1] + 0.03], [y, y], color="black", lw=4, solid_capstyle="butt")
    return fig
