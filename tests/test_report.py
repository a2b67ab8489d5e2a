"""`pernode report`: one self-contained report whose numbers are `rank`'s, under both designs."""

import csv
import json
import re

import pytest
from PIL import Image
from typer.testing import CliRunner

from pernode_cli.cli import app
from pernode_cli.rendering.document import slug
from pernode_cli.schema import TIMING_COLUMNS
from tests.helpers import heavy_modules_after
from tests.logs_factory import log_rows as schema3_rows
from tests.logs_factory import write_log

runner = CliRunner()
RATIOS = {"Dropout": 1.0, "GaussianDropout": 0.93, "PerNodeBernoulli": 1.46, "PerNodeGaussian": 1.12}


def write_timings(path):
    rows = []
    for variant, ratio in RATIOS.items():
        row = dict.fromkeys(TIMING_COLUMNS, "")
        low, high = ("", "") if variant == "Dropout" else (ratio - 0.04, ratio + 0.05)
        row.update(timestamp="2026-01-03T10:00:00+00:00", dataset="digits", variant=variant, mean_s=2.0 * ratio,
                   std_s=0.05, median_s=2.0 * ratio, min_s=1.9 * ratio, max_s=2.1 * ratio, n=5,
                   warmup_s=json.dumps([4.2]), ratio_to_dropout=ratio, ratio_ci_low=low, ratio_ci_high=high,
                   epoch_seconds=json.dumps([2.0 * ratio] * 5), warnings=json.dumps([]), device="CPU",
                   backend="tensorflow", backend_version="2.21.0", schema_version=3)
        rows.append(row)
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=TIMING_COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    return path


BUILT: dict = {}  # the report of ``made``, built once per process whichever module asks first


@pytest.fixture(scope="session")
def made(tmp_path_factory):
    """A report of two data sets (3 and 4 configurations, 2 seeds on digits) with a timing log
    (test_report_browser reads it too)."""
    if "made" not in BUILT:
        BUILT["made"] = build_report(tmp_path_factory)
    return BUILT["made"]


def build_report(tmp_path_factory):
    folder = tmp_path_factory.mktemp("bench")
    logs = [write_log(folder / "digits.csv", schema3_rows(seeds=(0, 1))),
            write_log(folder / "cifar.csv", schema3_rows(dataset="cifar10", rates=(0.1, 0.3, 0.5, 0.7), seed=4))]
    timings = write_timings(folder / "timings.csv")
    out = folder / "report"
    result = runner.invoke(app, ["report", *map(str, logs), "--timings", str(timings), "--out", str(out)])
    assert result.exit_code == 0, result.output
    return logs, out


def rank_entries(logs, design):
    result = runner.invoke(app, ["rank", *map(str, logs), "--design", design, "--format", "json"])
    assert result.exit_code == 0, result.output
    return {d["dataset"]: d for d in json.loads(result.stdout)["datasets"]}


def test_report_numbers_are_ranks_numbers_under_each_design(made):
    logs, out = made
    report = json.loads((out / "report.json").read_text())
    md = (out / "index.md").read_text()
    for design in ("paper", "configs"):
        expected = rank_entries(logs, design)
        got = {d["dataset"]: d[design] for d in report["datasets"]}
        assert got == expected, design
        for d in expected.values():
            assert f"Friedman chi2 = {d['omnibus']['chi2']:.3f}" in md
    across = json.loads(runner.invoke(app, ["rank", *map(str, logs), "--design", "configs", "--across-datasets",
                                            "--format", "json"]).stdout)["across_datasets"]
    assert report["across_datasets"] == across and across["blocks"]["n"] == 2 and across["design"] == "datasets"
    assert "Table V layout, paper design" in md and "Table V layout, configs design" in md
    assert "no p-value is given" in md and "Table I over seeds, digits" in md
    assert report["versions"]["scipy"] and "lower is better" in md
    assert "Table IV, digits (CPU, tensorflow; timings.csv)" in md and "| [1.42, 1.51]" in md


def test_report_is_self_contained_and_every_image_exists(made):
    _, out = made
    html = (out / "index.html").read_text()
    figures = re.findall(r'<figure class="fig" id="([^"]+)">(.*?)</figure>', html, flags=re.S)
    # Per data set Fig. 2, Fig. 3, curves, 2 CD diagrams and the configs design's performance
    # profiles; across data sets a CD diagram and profiles; the timing dot plot. Each inline, in
    # its wide and its phone layout, with real text.
    assert len(figures) == 2 * 6 + 2 + 1
    for name, body in figures:
        svgs = re.findall(r"<svg\b.*?</svg>", body, flags=re.S)
        assert len(svgs) == 2 and all(re.search(r"<text\b[^>]*>[^<]+", svg) for svg in svgs), name
    assert "<img" not in html and "<object" not in html and "<iframe" not in html
    ids = re.findall(r'\bid="([^"]+)"', html)
    assert len(ids) == len(set(ids))  # the figures' ids prefixed, each once in the page
    for ref in re.findall(r'href="([^"]+)"', html):
        if ref.startswith("#"):
            assert ref[1:] in ids, ref
        elif not ref.startswith("data:image/png;base64,"):  # a colour bar, inside its SVG
            assert not re.match(r"[a-z]+:", ref) and (out / ref).is_file(), ref
    for bad in ("<script", "<link", "@import", "http://", "https://", "@font-face"):
        assert bad not in html
    assert re.findall(r"url\((?!#)", html) == []  # only the SVGs' own clip paths
    h2 = re.findall(r"<h2[^>]*>(.*?)</h2>", html)
    assert h2[:2] == ["Summary", "Contents"] and h2[2] == "What produced these numbers", h2
    md = (out / "index.md").read_text()
    anchors = {slug(h) for h in re.findall(r"^#+ (.+)$", md, flags=re.M)}
    for ref in re.findall(r"\]\(([^)]+)\)", md):
        assert ref[1:] in anchors if ref.startswith("#") else (out / ref).is_file(), ref
    for svg in (out / "figures").glob("*.svg"):
        text = svg.read_text()
        assert not re.search(r'(href|src)="(?!#|data:image/png;base64,)', text), svg.name  # inline only
        assert re.search(r"<text\b[^>]*font-family: 'DejaVu Sans', 'Arial', 'Helvetica'", text), svg.name
    for png in (out / "figures").glob("*.png"):
        with Image.open(png) as im:
            assert min(im.info["dpi"]) >= 199.9 and im.size[0] >= 1000, png.name
    for item in ("pernode version", "0.1.0", "tensorflow 2.21.0", "CPU", "cifar10: 16 runs", "2026-01-01"):
        assert item in html, item


def test_rank_plots_writes_the_reports_figures(made, tmp_path):
    logs, out = made
    result = runner.invoke(app, ["rank", str(logs[0]), "--plots", str(tmp_path)])
    assert result.exit_code == 0, result.output
    names = sorted(p.name for p in tmp_path.iterdir() if p.name != ".pernode-output")
    assert names == sorted(f"digits_{f}.{e}" for f in ("best3", "scatter", "curves", "cd_configs", "profile_configs")
                           for e in ("png", "svg"))
    for name in names:
        assert (tmp_path / name).read_bytes() == (out / "figures" / name).read_bytes(), name


def _run_bad(tmp_path, args):
    result = runner.invoke(app, ["report", *map(str, args)])
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output and len(result.output.strip().splitlines()) == 1, result.output
    return result.output


def test_bad_input_is_one_line_and_touches_nothing(tmp_path):
    log = write_log(tmp_path / "log.csv", schema3_rows())
    good_timings = write_timings(tmp_path / "t.csv")
    bad_timings = tmp_path / "bad.csv"
    bad_timings.write_text("dataset,variant\ndigits,Dropout\n")
    taken = tmp_path / "taken"
    taken.write_text("keep me")
    out = tmp_path / "out"
    missing = runner.invoke(app, ["report", str(log)])
    assert missing.exit_code == 2 and "Missing option '--out'" in missing.output
    assert "is a file, not a folder; give another --out" in _run_bad(tmp_path, [log, "--out", taken])
    assert "lacks column(s) mean_s" in _run_bad(tmp_path, [log, "--timings", bad_timings, "--out", out])
    assert "lack column(s) val_nope" in _run_bad(tmp_path, [log, "--out", out, "--metric", "val_nope"])
    assert "--top must be an integer in [2," in _run_bad(tmp_path, [log, "--out", out, "--top", "1"])
    assert "--control names Nope" in _run_bad(tmp_path, [log, "--out", out, "--control", "Nope"])
    assert "No log matches" in _run_bad(tmp_path, [tmp_path / "none*.csv", "--out", out])
    rows = schema3_rows()
    rows[3]["test_loss"] = "low"
    bad_log = write_log(tmp_path / "bad_log.csv", rows)
    assert "holds 'low', not a number >= 0 (or nan)" in _run_bad(tmp_path, [bad_log, "--out", out])
    assert not out.exists() and taken.read_text() == "keep me" and good_timings.exists()


def test_report_imports_no_training_backend(tmp_path):
    log = write_log(tmp_path / "log.csv", schema3_rows(rates=(0.2, 0.4, 0.6), epochs=2))
    quick_figures = (
        "from pernode_cli.rendering import plots\n"
        "def quick(fig, plt, stem, caption, alt, phone=None):  # built, not rendered (which imports nothing new)\n"
        "    plt.close(fig)\n"
        "    if phone is not None:\n"
        "        plt.close(phone)\n"
        "    return plots.FigureFile(stem=stem, caption=caption, alt=alt, svg=b'<svg/>', png=b'')\n"
        "plots.render = quick\n"
    )
    assert heavy_modules_after(["report", str(log), "--out", str(tmp_path / "r")], setup=quick_figures) == []
    assert (tmp_path / "r" / "index.html").is_file()


def test_numbers_in_one_column_share_one_format():
    from pernode_cli.rendering.numbers import Interval, column_format, format_rows

    rows = [{"Variant": "A", "loss": 0.129, "p (Holm)": 0.0004, "rank": 1, "CI": Interval(0.1, 0.12345), "W": 1.0},
            {"Variant": "B", "loss": 0.12034, "p (Holm)": 0.25, "rank": 2.5, "CI": Interval(None, 0.2), "W": None}]
    assert format_rows(rows) == [
        {"Variant": "A", "loss": "0.1290", "p (Holm)": "< 0.001", "rank": "1.0", "CI": "[0.1000, 0.1235]", "W": "1"},
        {"Variant": "B", "loss": "0.1203", "p (Holm)": "0.250", "rank": "2.5", "CI": "n/a", "W": "n/a"}]
    assert [column_format("x", [1, 2])(v) for v in (1, 2, None, True)] == ["1", "2", "n/a", "yes"]
    assert [column_format("x", [12345.6, 0.5])(v) for v in (12345.6, 0.5, -0.0001)] == ["12345.6", "0.5", "0.0"]
    assert column_format("x", [2e-9, 3e-8])(2e-9) == "2.00e-09"  # a tiny column in scientific notation, all of it
    assert column_format("x", [float("inf"), 0.25])(float("inf")) == "inf"


def test_html_text_and_inline_figures():
    from pernode_cli.rendering.html import inline, svg_inline

    assert inline("give `--delta` <x>") == "give <code>--delta</code> &lt;x&gt;"
    assert "`" not in inline("a lone ` backtick") and "`" not in inline("`a` and ` b")
    svg = (b'<?xml version="1.0"?>\n<!DOCTYPE svg PUBLIC "-//W3C//DTD SVG 1.1//EN" "http://www.w3.org/x.dtd">\n'
           b'<svg xmlns:xlink="http://www.w3.org/1999/xlink" xmlns="http://www.w3.org/2000/svg"><metadata>http://x'
           b'</metadata><defs><style>*{a:b}</style><path id="m1"/><clipPath id="p2"/></defs>'
           b'<use xlink:href="#m1"/><g clip-path="url(#p2)"><text>hi</text></g></svg>')
    out = svg_inline(svg, "f-", 'a "b"')
    assert out.startswith('<svg role="img" aria-label="a &quot;b&quot;">') and "http" not in out and "<style" not in out
    assert 'id="f-m1"' in out and 'href="#f-m1"' in out and "url(#f-p2)" in out and "<text>hi</text>" in out
