"""`pernode report`: a benchmark's report (HTML, Markdown, JSON, figures) from its logs.
Imports neither TensorFlow nor Keras. Its ranking options are ``stats.ranking.RankOptions``'
declared fields, except those the report chooses itself (every design, every data set)."""

from __future__ import annotations

from typing import Optional

from pernode_cli.cli.app import app, interruptible
from pernode_cli.cli.options import argument, command, extra, library_values, parameters
from pernode_cli.cli.rank import TABLE_COLUMNS
from pernode_cli.stats.ranking.options import RankOptions

CHOSEN_BY_THE_REPORT = ("design", "dataset", "across")


def report(logs, out, timings=None, delta=None, method_column=None, dataset_column=None, **values) -> None:
    """Write one self-contained report of a benchmark: both ranking designs, the paper's tables and figures."""
    from rich.console import Console

    from pernode_cli.api import report as write

    options = library_values(RankOptions, values)
    with interruptible(lambda: f"the report was not written; {out} is as it was"):
        written = write(list(logs), out, timings=timings, delta=delta, method_column=method_column,
                        dataset_column=dataset_column, **options)
    figures = sum(1 for p in written if p.suffix == ".svg")
    Console(highlight=False).print(f"wrote {out}/index.html, index.md and report.json with {figures} figures")


command(app, "report", [
    argument("logs", list[str], "Training logs (CSV) or globs; merged, each data set reported.", "LOG"),
    extra("out", str, ..., "Folder for index.html, index.md, report.json and figures/ (written whole: a new or "
          "empty folder, or an earlier report).", metavar="DIR"),
    extra("timings", Optional[list[str]], None, "Timing logs of pernode timeit (paper Table IV); repeatable.",
          metavar="TIMINGS.csv", show_default=False),
    *parameters(RankOptions, exclude=CHOSEN_BY_THE_REPORT),
    extra("delta", Optional[float], None, "Adds the seed and configuration planner: the difference (metric units) "
          "the design should detect with 80% power.", metavar="D", show_default=False),
    *TABLE_COLUMNS,
], report)
