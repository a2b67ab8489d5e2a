"""A small document model (headings, text, tables, figures) and its renderings: Rich,
Markdown, LaTeX and a self-contained HTML page. Content is built elsewhere; here it is
only written out, so every format carries the same content."""

from __future__ import annotations

import html
import math
from dataclasses import dataclass

STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif;
       max-width: 72rem; margin: 2rem auto; padding: 0 1rem; color: #1b1b1b; line-height: 1.45; }
h1 { border-bottom: 2px solid #444; padding-bottom: .3rem; }
h2 { border-bottom: 1px solid #bbb; padding-bottom: .2rem; margin-top: 2.5rem; }
table { border-collapse: collapse; margin: .5rem 0 1.2rem; font-size: .9rem; }
div.wide { max-width: 100%; overflow-x: auto; }
caption { text-align: left; font-weight: 600; padding: .3rem 0; }
th, td { border: 1px solid #ccc; padding: .2rem .5rem; }
th { text-align: left; }
th { background: #f0f0f0; }
td { text-align: left; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
p.note { background: #f6f6f6; border-left: 4px solid #888; padding: .4rem .7rem; }
p.caution { background: #fff5e6; border-left: 4px solid #d98c00; padding: .4rem .7rem; }
figure { margin: 1rem 0 2rem; }
figure img { max-width: 100%; height: auto; border: 1px solid #ddd; }
figcaption { font-size: .9rem; color: #333; }
"""


@dataclass(frozen=True)
class Heading:
    level: int
    text: str


@dataclass(frozen=True)
class Text:
    text: str
    kind: str = "p"  # p | note | caution


@dataclass(frozen=True)
class Table:
    rows: tuple  # dicts with the same keys: the column headers
    title: str = ""


@dataclass(frozen=True)
class Figure:
    stem: str  # figures/STEM.svg and figures/STEM.png
    caption: str
    alt: str


def cell(value, digits: int = 4) -> str:
    """A table cell: 4 significant digits, 'n/a' for a missing value."""
    if value is None:
        return "n/a"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        if math.isnan(value):
            return "n/a"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return f"{value:.{digits}g}" if abs(value) >= 1e-3 or value == 0 else f"{value:.3e}"
    return str(value)


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _num_class(value) -> str:
    return ' class="num"' if _is_number(value) else ""


def _table_text(rows, fmt: str) -> str:
    """Numbers right-aligned (columns of numbers or missing values), text left; cells as ``cell`` writes them."""
    from tabulate import tabulate

    keys = list(rows[0])
    numeric = [all(_is_number(r.get(k)) or r.get(k) is None for r in rows) and any(_is_number(r.get(k)) for r in rows)
               for k in keys]
    body = [{k: cell(v) for k, v in row.items()} for row in rows]
    align = ["right" if n else "left" for n in numeric]
    return tabulate(body, headers="keys", tablefmt=fmt, disable_numparse=True, colalign=align)


def to_markdown(blocks) -> str:
    parts = []
    for b in blocks:
        if isinstance(b, Heading):
            parts.append(f"{'#' * b.level} {b.text}")
        elif isinstance(b, Text):
            parts.append(b.text if b.kind == "p" else f"> {b.text}")
        elif isinstance(b, Table) and b.rows:
            esc = tuple({k.replace("|", "\\|"): _md_cell(v) for k, v in r.items()} for r in b.rows)
            parts.append((f"**{b.title}**\n\n" if b.title else "") + _table_text(esc, "pipe"))
        elif isinstance(b, Figure):
            parts.append(f"![{b.alt}](figures/{b.stem}.png)\n\n*{b.caption}* "
                         f"([SVG](figures/{b.stem}.svg))")
    return "\n\n".join(parts) + "\n"


def _md_cell(value):
    return value.replace("|", "\\|") if isinstance(value, str) else value


def to_latex(blocks) -> str:
    parts = []
    for b in blocks:
        if isinstance(b, (Heading, Text)):
            parts.append(f"% {b.text}")
        elif isinstance(b, Table) and b.rows:
            parts.append((f"% {b.title}\n" if b.title else "") + _table_text(b.rows, "latex_booktabs"))
    return "\n\n".join(parts) + "\n"


def print_rich(blocks, console) -> None:
    from rich import box
    from rich.table import Table as RichTable

    for b in blocks:
        if isinstance(b, Heading):
            console.print(f"[bold]{_escape(b.text)}[/bold]", soft_wrap=True)
        elif isinstance(b, Text):
            console.print(_escape(b.text), soft_wrap=True, style="yellow" if b.kind == "caution" else None)
        elif isinstance(b, Table) and b.rows:
            # No cell is ever cut (PerNodeBernoulli and PerNodeBernoulli_Fixed must stay apart at
            # 80 columns, and a number with an ellipsis is no number): each column is at least as
            # wide as its widest cell, headers wrap instead, and the light box leaves room for it.
            # The title is a line of its own: a table narrower than its title would wrap it
            # word by word in the middle of the screen.
            if b.title:
                console.print(f"[italic]{_escape(b.title)}[/italic]", soft_wrap=True)
            t = RichTable(box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True)
            first = next(iter(b.rows[0]))
            for col in b.rows[0]:
                widest = max(len(cell(r.get(col), 4)) for r in b.rows)
                numeric = _numeric_column(b.rows, col) and col != first
                # Names and numbers keep their width; prose (descriptions) wraps.
                t.add_column(_escape(col), justify="right" if numeric else "left", overflow="fold",
                             min_width=widest if numeric or widest <= 32 else None)
            for row in b.rows:
                t.add_row(*(_escape(cell(v, 4)) for v in row.values()))
            console.print(t)


def _numeric_column(rows, col) -> bool:
    return any(_is_number(r.get(col)) for r in rows)


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)


def to_html(blocks, title: str) -> str:
    e = html.escape
    body = []
    for b in blocks:
        if isinstance(b, Heading):
            body.append(f"<h{b.level}>{e(b.text)}</h{b.level}>")
        elif isinstance(b, Text):
            cls = "" if b.kind == "p" else f' class="{b.kind}"'
            body.append(f"<p{cls}>{e(b.text)}</p>")
        elif isinstance(b, Table) and b.rows:
            body.append(_html_table(b))
        elif isinstance(b, Figure):
            body.append(
                f'<figure><img src="figures/{e(b.stem)}.svg" alt="{e(b.alt)}">'
                f'<figcaption>{e(b.caption)} (<a href="figures/{e(b.stem)}.png">PNG</a>, '
                f'<a href="figures/{e(b.stem)}.svg">SVG</a>)</figcaption></figure>'
            )
    return (
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
        f"<title>{e(title)}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n"
        + "\n".join(body) + "\n</body>\n</html>\n"
    )


def _html_table(t: Table) -> str:
    e = html.escape
    head = "".join(f"<th>{e(str(k))}</th>" for k in t.rows[0])
    rows = "".join("<tr>" + "".join(f"<td{_num_class(v)}>{e(cell(v))}</td>" for v in r.values()) + "</tr>"
                   for r in t.rows)
    caption = f"<caption>{e(t.title)}</caption>" if t.title else ""
    # Wide tables (a column per variant) scroll inside their box instead of widening the page.
    return f'<div class="wide"><table>{caption}<thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table></div>'

