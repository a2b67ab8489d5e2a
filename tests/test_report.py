"""`pernode report`: one self-contained report whose numbers are `rank`'s, under both designs."""

import csv
import json
import re
import shutil
import subprocess

import pytest
from PIL import Image
from typer.testing import CliRunner

from pernode_cli.cli import app
from pernode_cli.stats.timing import TIMING_COLUMNS
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


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    """A report of two data sets (3 and 4 configurations, 2 seeds on digits) with a timing log."""
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
    sources = re.findall(r'<img src="([^"]+)"', html)
    links = re.findall(r'href="([^"]+)"', html)
    # Per data set Fig. 2, Fig. 3, curves, 2 CD diagrams and the configs design's performance
    # profiles; across data sets a CD diagram and profiles; the timing dot plot.
    assert len(sources) == 2 * 6 + 2 + 1
    for ref in sources + links:
        assert not re.match(r"[a-z]+:", ref) and (out / ref).is_file(), ref
    for bad in ("<script", "<link", "@import", "url(", "http://", "https://"):
        assert bad not in html
    md = (out / "index.md").read_text()
    for ref in re.findall(r"\]\(([^)]+)\)", md):
        assert (out / ref).is_file(), ref
    for svg in (out / "figures").glob("*.svg"):
        text = svg.read_text()
        assert not re.search(r'(href|src)="(?!#|data:image/png;base64,)', text), svg.name  # inline only
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
        "from pernode_cli.report import plots\n"
        "def quick(fig, plt, stem, caption, alt):  # figures are built, not rendered (which imports nothing new)\n"
        "    plt.close(fig)\n"
        "    return plots.FigureFile(stem=stem, caption=caption, alt=alt, svg=b'<svg/>', png=b'')\n"
        "plots.render = quick\n"
    )
    assert heavy_modules_after(["report", str(log), "--out", str(tmp_path / "r")], setup=quick_figures) == []
    assert (tmp_path / "r" / "index.html").is_file()


PROBE = """<script>
window.addEventListener('load', function () {
  var imgs = Array.prototype.slice.call(document.images);
  var broken = imgs.filter(function (i) { return !(i.complete && i.naturalWidth > 0); })
                   .map(function (i) { return i.getAttribute('src'); });
  document.body.setAttribute('data-probe', JSON.stringify({images: imgs.length, broken: broken}));
});
</script></body>"""


@pytest.mark.skipif(shutil.which("chromium") is None, reason="chromium is not installed")
def test_report_renders_in_a_headless_browser(made, tmp_path):
    """No console message, every image loaded (a probe script added to a copy of the page counts them)."""
    _, out = made
    page = tmp_path / "report"
    shutil.copytree(out, page)
    (page / "probe.html").write_text((page / "index.html").read_text().replace("</body>", PROBE))
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
             "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={tmp_path / 'profile'}",
             "--enable-logging=stderr", "--v=0", "--virtual-time-budget=10000", "--dump-dom"]
    run = subprocess.run(["chromium", *flags, (page / "probe.html").as_uri()], capture_output=True, text=True,
                         timeout=120)
    assert run.returncode == 0, run.stderr[-2000:]
    probe = re.search(r'data-probe="([^"]+)"', run.stdout)
    assert probe, run.stdout[-2000:]
    found = json.loads(probe.group(1).replace("&quot;", '"'))
    assert found == {"images": 15, "broken": []}
    console = [line for line in run.stderr.splitlines() if ":CONSOLE" in line]
    assert console == []
