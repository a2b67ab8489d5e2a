"""The report's page in a real browser: one self-contained file (opened alone, from a folder that
holds nothing else), laid out for a phone (390 x 844) and a desktop (1280 wide).

Chromium through Playwright where it is installed (the system chromium, or Playwright's own);
else chromium's own headless mode with the same probe added to a copy of the page; skipped
where there is neither."""

import html
import json
import re
import shutil
import subprocess

import pytest

from tests.test_report import made  # noqa: F401  (the report both modules read, built once per session)

try:
    import playwright.sync_api  # noqa: F401
except ImportError:
    PLAYWRIGHT = False
else:
    PLAYWRIGHT = True


def chromium() -> str | None:
    return next((p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if p), None)


pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not PLAYWRIGHT and chromium() is None, reason="neither Playwright nor chromium")]
PHONE, DESKTOP = (390, 844), (1280, 900)

# What a page looks like, measured in the page: one function, run by Playwright or by a script.
PROBE = r"""() => {
  const W = document.documentElement.clientWidth;
  const clipper = el => {  // the nearest ancestor that clips or scrolls el, or null
    for (let p = el.parentElement; p && p !== document.body; p = p.parentElement) {
      if (getComputedStyle(p).overflowX !== 'visible') return p;
    }
    return null;
  };
  const shown = el => el.getClientRects().length > 0;
  const box = el => { const r = el.getBoundingClientRect(); return [r.left, r.right, r.width, r.height]; };
  const figures = [...document.querySelectorAll('figure.fig')].map(f => [...f.querySelectorAll('svg')].filter(shown)
    .map(s => {
      const texts = [...s.querySelectorAll('text')].filter(shown);
      const sizes = texts.map(t => { const m = t.getScreenCTM();
        return parseFloat(getComputedStyle(t).fontSize) * Math.hypot(m.a, m.b); });
      return {box: box(s), texts: texts.length, font: Math.min(...sizes)};
    }));
  const captions = [...document.querySelectorAll('figcaption, caption')].filter(shown).map(c => ({
    text: c.textContent.slice(0, 60), box: box(c), clipped: clipper(c) !== null,
    cut: c.scrollWidth > c.clientWidth + 1}));
  const tables = [...document.querySelectorAll('table')].map(t => {
    const holder = t.parentElement, style = getComputedStyle(holder);
    return {wider: t.getBoundingClientRect().width > holder.clientWidth + 1,
            scrolls: /auto|scroll/.test(style.overflowX),
            cue: /gradient/.test(style.backgroundImage) && /local/.test(style.backgroundAttachment),
            heads: [...t.querySelectorAll('thead th')].map(h => [h.textContent, ...box(h)])};
  });
  const outside = [...document.body.querySelectorAll('*')].filter(e => shown(e) && clipper(e) === null)
    .filter(e => { const r = e.getBoundingClientRect(); return r.right > W + 0.5 || r.left < -0.5; })
    .map(e => e.tagName + '.' + e.className);
  const toc = [...document.querySelectorAll('nav.toc a')].map(a => a.getAttribute('href'));
  return {width: W, scrollWidth: document.documentElement.scrollWidth, figures, captions, tables, outside,
          h2: [...document.querySelectorAll('h2')].map(h => h.textContent), toc,
          tocTargets: toc.filter(h => h.startsWith('#') && document.getElementById(h.slice(1))).length,
          resources: performance.getEntriesByType('resource').map(r => r.name)};
}"""


def probe_with_playwright(page_url: str) -> tuple[dict, list]:
    """The probe at each size, and every request the page made (Playwright watching the network)."""
    from playwright.sync_api import Error, sync_playwright

    requests, found = [], {}
    with sync_playwright() as p:
        try:
            browser = p.chromium.launch(executable_path=chromium(), args=["--no-sandbox"])
        except Error as exc:
            pytest.skip(f"no browser Playwright can start ({str(exc).splitlines()[0]})")
        try:
            page = browser.new_page(viewport=dict(zip(("width", "height"), DESKTOP)))
            page.on("request", lambda r: requests.append(r.url))
            page.on("requestfailed", lambda r: requests.append(f"FAILED {r.url}"))
            page.on("console", lambda m: requests.append(f"CONSOLE {m.type}: {m.text}") if m.type == "error" else None)
            for size in (DESKTOP, PHONE):
                page.set_viewport_size(dict(zip(("width", "height"), size)))
                page.goto(page_url, wait_until="load")
                found[size] = page.evaluate(PROBE)
        finally:
            browser.close()
    return found, requests


def probe_with_chromium(page, tmp_path) -> tuple[dict, list]:
    """The same probe without Playwright: a copy of the page runs it, in a frame of each size (a
    headless window is at least 500 px wide), and posts it to the frame's host, which writes it
    into its DOM for ``--dump-dom``."""
    probe = page.with_name("probe.html")
    script = f"<script>addEventListener('load', () => parent.postMessage(JSON.stringify(({PROBE})()), '*'));</script>"
    probe.write_text(page.read_text().replace("</body>", script + "</body>"))
    found = {}
    for size in (DESKTOP, PHONE):
        host = page.with_name(f"host-{size[0]}.html")
        host.write_text(f'<!DOCTYPE html><body style="margin:0"><iframe src="probe.html" width="{size[0]}" '
                        f'height="{size[1]}" style="border:0;display:block"></iframe><script>addEventListener('
                        "'message', e => document.body.setAttribute('data-probe', e.data));</script></body>")
        flags = ["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--window-size=1400,1000",
                 "--disable-background-networking", "--no-first-run", f"--user-data-dir={tmp_path / 'profile'}",
                 "--virtual-time-budget=10000", "--dump-dom"]
        run = subprocess.run([chromium(), *flags, host.as_uri()], capture_output=True, text=True, timeout=120)
        assert run.returncode == 0, run.stderr[-2000:]
        data = re.search(r'data-probe="([^"]+)"', run.stdout)
        assert data, run.stdout[-2000:]
        found[size] = json.loads(html.unescape(data.group(1)))
    return found, []


def page_alone(out, tmp_path):
    """index.html, and nothing else, in a folder of its own."""
    alone = tmp_path / "alone"
    alone.mkdir()
    shutil.copy(out / "index.html", alone / "index.html")
    return alone / "index.html"


def check_everywhere(found: dict, requests: list, url: str) -> None:
    for size, p in found.items():
        assert p["resources"] == [], (size, p["resources"])  # no image, style sheet or font fetched
        assert p["h2"][0] == "Summary" and p["toc"] and p["tocTargets"] == len(p["toc"]), (size, p["h2"], p["toc"])
        assert p["scrollWidth"] <= size[0] and p["outside"] == [], (size, p["scrollWidth"], p["outside"][:5])
        assert p["figures"] and all(len(f) == 1 for f in p["figures"]), (size, [len(f) for f in p["figures"]])
        for (svg,) in p["figures"]:
            assert svg["box"][2] > 0 and svg["box"][3] > 0 and svg["texts"] > 0, (size, svg)
        for t in p["tables"]:
            assert not t["wider"] or (t["scrolls"] and t["cue"]), (size, t["heads"][:3])
    assert [r for r in requests if r != url] == [], requests


def check_phone(p: dict) -> None:
    w = PHONE[0]
    for c in p["captions"]:
        left, right, _, _ = c["box"]
        assert left >= 0 and right <= w and not c["clipped"] and not c["cut"], c
    for (svg,) in p["figures"]:
        assert svg["box"][3] >= 180 and svg["font"] >= 9, svg  # tall enough, text legible
    wilcoxon = [t for t in p["tables"] if any(h[0] == "p (Holm)" for h in t["heads"])]
    assert wilcoxon
    for t in wilcoxon:
        keys = [h for h in t["heads"] if h[0].startswith("Pair") or h[0] in ("p (Holm)", "differ")]
        assert len(keys) == 3 and all(h[2] <= w for h in keys), keys  # their right edges, unscrolled


def test_the_page_alone_renders_for_a_phone_and_a_desktop(made, tmp_path):  # noqa: F811
    """No request but the page itself; every figure drawn inline with real text; Summary first and
    a table of contents; at 390 px nothing wider than the screen, captions whole and outside the
    scroll boxes, wide tables scrolling with a cue, the Wilcoxon verdict in view, figures tall
    and legible; at 1280 px nothing overflows."""
    _, out = made
    page = page_alone(out, tmp_path)
    if PLAYWRIGHT:
        found, requests = probe_with_playwright(page.as_uri())
    else:
        found, requests = probe_with_chromium(page, tmp_path)
    assert {s: p["width"] for s, p in found.items()} == {s: s[0] for s in found}
    check_everywhere(found, requests, page.as_uri())
    check_phone(found[PHONE])
