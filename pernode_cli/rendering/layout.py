"""The two layouts of every figure: ``WIDE`` (the files beside the report, a desktop screen)
and ``PHONE`` (the report's page on a small screen: 4 inches wide, shown about 360 px wide,
so 8 pt text renders at 9 px or more; panels stacked, long titles wrapped)."""

from __future__ import annotations

import textwrap
from dataclasses import dataclass

AXES = 2.6  # inches of a phone figure's axes, between their tick labels


@dataclass(frozen=True)
class Layout:
    """The sizes of one variant of a figure, in inches and points."""

    width: float  # a one-panel figure
    cols: int  # panels per row at most
    tiny: float  # legends and labels inside panels
    small: float  # annotations, panel titles
    text: float  # ticks and axis labels
    title: float
    phone: bool

    def wrap(self, text: str, size: float, width: float = 0.0) -> str:
        """``text`` as one paragraph broken into lines that fit ``width`` inches (the figure's) at
        ``size`` points; as it is in the wide layout."""
        if not self.phone:
            return text
        chars = max(12, int((width or self.width) * 72 * 0.94 / (0.6 * size)))
        return textwrap.fill(" ".join(text.split()), chars)

    def set_title(self, fig, ax, text: str) -> None:
        """A one-axes figure's title: above its axes; on a phone above the whole figure (centred on
        the figure, whose width it is wrapped to, not on axes narrowed by their tick labels)."""
        if self.phone:
            fig.suptitle(self.wrap(text, self.title), fontsize=self.title)
        else:
            ax.set_title(text, fontsize=self.title)

    def label(self, text: str) -> str:
        """An axis label: on a phone wrapped to the width of the axes."""
        return self.wrap(text, self.text, AXES)

    def lines(self, text: str) -> int:
        return text.count("\n") + 1


WIDE = Layout(width=7.5, cols=4, tiny=7, small=8, text=9, title=10, phone=False)
PHONE = Layout(width=4.0, cols=1, tiny=8, small=8, text=9, title=9, phone=True)  # 8 pt: 9 px and more at 390 px
