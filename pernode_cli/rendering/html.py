"""The report as one self-contained HTML page: styles inline, every figure an inline SVG (real
text, a font stack that needs no download), no script, no link, no request of any kind.

Laid out for a phone as well as a desktop: the page never gets wider than the screen, a
table wider than its column scrolls inside its own box (a shadow at the edge that has more
to show, its first column sticky) with its caption outside that box, and each figure has a
narrow variant (panels stacked, text at full size) shown below ``NARROW``."""

from __future__ import annotations

import html
import re

from pernode_cli.rendering.document import Contents, Figure, Heading, Items, Table, Text, slug
from pernode_cli.rendering.numbers import format_rows, is_numeric_column

NARROW = "48rem"  # below this width the narrow figures replace the wide ones
STYLE = """
html { -webkit-text-size-adjust: 100%; text-size-adjust: 100%; }
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", Helvetica, Arial, sans-serif;
       max-width: 72rem; margin: 1.5rem auto; padding: 0 1rem; color: #1b1b1b; line-height: 1.45;
       overflow-wrap: anywhere; }
h1 { border-bottom: 2px solid #444; padding-bottom: .3rem; font-size: 1.8rem; line-height: 1.2; }
h2 { border-bottom: 1px solid #bbb; padding-bottom: .2rem; margin-top: 2.5rem; }
code { font-family: "DejaVu Sans Mono", Menlo, Consolas, monospace; font-size: .9em; background: #f0f0f0;
       padding: 0 .2em; border-radius: 3px; }
nav.toc ol { padding-left: 1.4rem; margin: .3rem 0; }
nav.toc li { margin: .15rem 0; }
figure { margin: 1rem 0 1.8rem; min-width: 0; }
figure.table figcaption { font-weight: 600; padding: .3rem 0; font-size: .95rem; }
div.wide { max-width: 100%; overflow-x: auto; -webkit-overflow-scrolling: touch;
  background:
    linear-gradient(to right, #fff 30%, rgba(255, 255, 255, 0)) left center / 2.5rem 100% no-repeat local,
    linear-gradient(to left, #fff 30%, rgba(255, 255, 255, 0)) right center / 2.5rem 100% no-repeat local,
    radial-gradient(farthest-side at 0 50%, rgba(0, 0, 0, .28), rgba(0, 0, 0, 0)) left center / 1rem 100%
      no-repeat scroll,
    radial-gradient(farthest-side at 100% 50%, rgba(0, 0, 0, .28), rgba(0, 0, 0, 0)) right center / 1rem 100%
      no-repeat scroll; }
table { border-collapse: collapse; margin: 0; font-size: .9rem; overflow-wrap: normal; }
th, td { border: 1px solid #ccc; padding: .2rem .5rem; text-align: left; vertical-align: top; }
th { background: rgba(0, 0, 0, .06); }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
th.num { text-align: right; }
div.wide th:first-child, div.wide td:first-child { position: sticky; left: 0; z-index: 1;
  background: #fff; box-shadow: 1px 0 0 #ccc; }
div.wide th:first-child { background: #f0f0f0; }
p.note, p.caution, ul.caution li { padding: .4rem .7rem; }
p.note { background: #f6f6f6; border-left: 4px solid #888; }
p.caution, ul.caution li { background: #fff5e6; border-left: 4px solid #d98c00; }
ul.caution { list-style: none; padding-left: 0; }
ul.caution li { margin: .4rem 0; }
figure.fig div.svg svg { display: block; max-width: 100%; height: auto; }
figure.fig div.svg svg * { stroke-linejoin: round; stroke-linecap: butt; }
figure.fig div.phone { display: none; }
figure.fig figcaption { font-size: .9rem; color: #333; margin-top: .4rem; }
@media (max-width: NARROW_WIDTH) {
  body { margin-top: 1rem; }
  h1 { font-size: 1.5rem; }
  figure.fig div.full { display: none; }
  figure.fig div.phone { display: block; }
  figure.fig div.phone svg { width: 100%; max-width: 32rem; }
}
""".replace("NARROW_WIDTH", NARROW)


def inline(text: str) -> str:
    """Escaped text, where a `quoted` span is code; a lone backtick is an apostrophe (never shown stray)."""
    parts = text.split("`")
    if len(parts) % 2 == 0:  # an odd number of backticks: the last one has no partner
        parts[-2:] = [parts[-2] + "'" + parts[-1]]
    return "".join(f"<code>{html.escape(p)}</code>" if i % 2 else html.escape(p) for i, p in enumerate(parts))


class _Ids:
    """Unique ids for the page's anchors."""

    def __init__(self):
        self.taken: set = set()

    def __call__(self, text: str) -> str:
        base = slug(text) or "section"
        name, n = base, 1
        while name in self.taken:
            n += 1
            name = f"{base}-{n}"
        self.taken.add(name)
        return name


def svg_inline(svg: bytes, prefix: str, alt: str) -> str:
    """A matplotlib SVG made fit for inlining: no XML prolog, DOCTYPE, metadata, style sheet or
    namespace URLs; every id prefixed (the page holds many figures) and its references with it."""
    text = svg.decode("utf-8")
    text = re.sub(r"<\?xml[^>]*\?>|<!DOCTYPE[^>]*>|<metadata>.*?</metadata>|<style[^>]*>.*?</style>", "", text,
                  flags=re.S)
    text = re.sub(r'\s+xmlns(:\w+)?="[^"]*"', "", text)
    text = text.replace("xlink:href=", "href=")
    text = re.sub(r'\bid="([^"]+)"', lambda m: f'id="{prefix}{m.group(1)}"', text)
    text = re.sub(r'href="#([^"]+)"', lambda m: f'href="#{prefix}{m.group(1)}"', text)
    text = re.sub(r"url\(#([^)]+)\)", lambda m: f"url(#{prefix}{m.group(1)})", text)
    label = html.escape(alt, quote=True)
    return re.sub(r"<svg\b", f'<svg role="img" aria-label="{label}"', text.strip(), count=1)


def _figure(b: Figure, ids: _Ids) -> str:
    e = html.escape
    anchor = ids(f"figure {b.stem}")
    wide = svg_inline(b.svg, f"{anchor}-", b.alt) if b.svg else f'<p class="caution">{e(b.alt)}</p>'
    phone = (f'<div class="svg phone">{svg_inline(b.phone_svg, f"{anchor}-n-", b.alt)}</div>' if b.phone_svg
             else "")
    return (f'<figure class="fig" id="{anchor}"><div class="svg{" full" if phone else ""}">{wide}</div>{phone}'
            f'<figcaption>{inline(b.caption)} (<a href="figures/{e(b.stem)}.svg">SVG</a>, '
            f'<a href="figures/{e(b.stem)}.png">PNG</a> beside this page)</figcaption></figure>')


def _table(t: Table, ids: _Ids) -> str:
    e = html.escape
    keys = list(t.rows[0])
    cls = {k: ' class="num"' if is_numeric_column(t.rows, k) else "" for k in keys}
    head = "".join(f'<th scope="col"{cls[k]}>{e(str(k))}</th>' for k in keys)
    body = "".join("<tr>" + "".join(f"<td{cls[k]}>{e(r[k])}</td>" for k in keys) + "</tr>"
                   for r in format_rows(t.rows))
    anchor = ids(f"table {t.title[:40]}" if t.title else "table")
    caption = f'<figcaption id="{anchor}-caption">{inline(t.title)}</figcaption>' if t.title else ""
    # The caption stays outside the box that scrolls (div.wide): whole on any screen.
    return (f'<figure class="table" id="{anchor}">{caption}<div class="wide">'
            f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div></figure>")


def _contents(blocks, at: int, b: Contents, anchors: dict) -> str:
    e = html.escape
    heads = [h for h in blocks[at + 1:] if isinstance(h, Heading) and h.level == 2]
    links = "".join(f'<li><a href="#{anchors[id(h)]}">{e(h.text)}</a></li>' for h in heads)
    return f'<nav class="toc" aria-label="{e(b.title)}"><h2 class="toc">{e(b.title)}</h2><ol>{links}</ol></nav>'


def _block(b, ids: _Ids, anchors: dict) -> str:
    if isinstance(b, Heading):
        return f'<h{b.level} id="{anchors[id(b)]}">{inline(b.text)}</h{b.level}>'
    if isinstance(b, Text):
        cls = "" if b.kind == "p" else f' class="{b.kind}"'
        return f"<p{cls}>{inline(b.text)}</p>"
    if isinstance(b, Items):
        cls = "" if b.kind == "p" else f' class="{b.kind}"'
        return f"<ul{cls}>" + "".join(f"<li>{inline(item)}</li>" for item in b.items) + "</ul>" if b.items else ""
    if isinstance(b, Table):
        return _table(b, ids) if b.rows else ""
    if isinstance(b, Figure):
        return _figure(b, ids)
    return ""


def to_html(blocks, title: str) -> str:
    e = html.escape
    ids = _Ids()
    anchors = {id(b): ids(b.text) for b in blocks if isinstance(b, Heading)}
    body = [_contents(blocks, i, b, anchors) if isinstance(b, Contents) else _block(b, ids, anchors)
            for i, b in enumerate(blocks)]
    return (
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
        f"<title>{e(title)}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n"
        + "\n".join(x for x in body if x) + "\n</body>\n</html>\n"
    )
