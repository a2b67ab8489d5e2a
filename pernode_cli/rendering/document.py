"""A small document model (headings, text, lists, tables, figures) and its renderings: Rich,
Markdown and LaTeX here, the self-contained HTML page in ``report.html``. Content is built
elsewhere; here it is only written out, so every format carries the same content, and every
table's numbers in the same per-column format (``report.numbers``)."""

from __future__ import annotations

from dataclasses import dataclass

from pernode_cli.rendering.numbers import format_rows, is_numeric_column


@dataclass(frozen=True)
class Heading:
    level: int
    text: str


@dataclass(frozen=True)
class Text:
    text: str
    kind: str = "p"  # p | note | caution


@dataclass(frozen=True)
class Items:
    """A bulleted list (the summary's findings and warnings)."""

    items: tuple
    kind: str = "p"  # p | caution


@dataclass(frozen=True)
class Contents:
    """The table of contents: a link to every section (level-2 heading) that follows."""

    title: str = "Contents"


@dataclass(frozen=True)
class Table:
    rows: tuple  # dicts with the same keys: the column headers
    title: str = ""


@dataclass(frozen=True)
class Figure:
    stem: str  # figures/STEM.svg and figures/STEM.png
    caption: str
    alt: str
    svg: bytes = b""  # the figure, inlined in the HTML page
    phone_svg: bytes = b""  # its narrow variant (panels stacked), shown on small screens


def _table_text(rows, fmt: str) -> str:
    """Numbers right-aligned (columns of numbers or missing values), text left; each column in its one format."""
    from tabulate import tabulate

    keys = list(rows[0])
    align = ["right" if is_numeric_column(rows, k) else "left" for k in keys]
    return tabulate(format_rows(rows), headers="keys", tablefmt=fmt, disable_numparse=True, colalign=align)


def slug(text: str) -> str:
    """A heading's anchor as GitHub writes it: lower case, punctuation dropped, spaces as hyphens."""
    kept = "".join(c for c in text.lower() if c.isalnum() or c in " -_")
    return kept.replace(" ", "-")


def _md_contents(blocks, at: int) -> str:
    heads = [b.text for b in blocks[at + 1:] if isinstance(b, Heading) and b.level == 2]
    return "\n".join(f"- [{h}](#{slug(h)})" for h in heads)


def to_markdown(blocks) -> str:
    parts = []
    for i, b in enumerate(blocks):
        if isinstance(b, Heading):
            parts.append(f"{'#' * b.level} {b.text}")
        elif isinstance(b, Text):
            parts.append(b.text if b.kind == "p" else f"> {b.text}")
        elif isinstance(b, Items) and b.items:
            mark = "- **Warning:** " if b.kind == "caution" else "- "
            parts.append("\n".join(mark + item for item in b.items))
        elif isinstance(b, Contents):
            parts.append(f"**{b.title}**\n\n{_md_contents(blocks, i)}")
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
        elif isinstance(b, Items) and b.items:
            parts.append("\n".join(f"% - {item}" for item in b.items))
        elif isinstance(b, Table) and b.rows:
            parts.append((f"% {b.title}\n" if b.title else "") + _table_text(b.rows, "latex_booktabs"))
    return "\n\n".join(parts) + "\n"


def print_rich(blocks, console) -> None:
    for b in blocks:
        if isinstance(b, Heading):
            console.print(f"[bold]{_escape(b.text)}[/bold]", soft_wrap=True)
        elif isinstance(b, Text):
            console.print(_escape(b.text), soft_wrap=True, style="yellow" if b.kind == "caution" else None)
        elif isinstance(b, Items):
            for item in b.items:
                console.print(f"- {_escape(item)}", soft_wrap=True, style="yellow" if b.kind == "caution" else None)
        elif isinstance(b, Table) and b.rows:
            _print_table(b, console)


def _print_table(b: Table, console) -> None:
    from rich import box
    from rich.table import Table as RichTable

    # No cell is ever cut (PerNodeBernoulli and PerNodeBernoulli_Fixed must stay apart at
    # 80 columns, and a number with an ellipsis is no number): each column is at least as
    # wide as its widest cell, headers wrap instead, and the light box leaves room for it.
    # The title is a line of its own: a table narrower than its title would wrap it
    # word by word in the middle of the screen.
    if b.title:
        console.print(f"[italic]{_escape(b.title)}[/italic]", soft_wrap=True)
    t = RichTable(box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True)
    first = next(iter(b.rows[0]))
    text = format_rows(b.rows)
    for col in b.rows[0]:
        widest = max(len(r[col]) for r in text)
        numeric = is_numeric_column(b.rows, col) and col != first
        # Names and numbers keep their width; prose (descriptions) wraps.
        t.add_column(_escape(col), justify="right" if numeric else "left", overflow="fold",
                     min_width=widest if numeric or widest <= 32 else None)
    for row in text:
        t.add_row(*(_escape(v) for v in row.values()))
    console.print(t)


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)
