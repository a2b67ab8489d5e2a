"""`pernode rank`: read logs, rank the variants, render. Imports neither TensorFlow nor Keras.

Its options are ``stats.ranking.RankOptions``' declared fields (``cli.options``), plus what only
the command has: the logs, the output format, the figures' folder and a results table's columns.
"""

from __future__ import annotations

from typing import Literal, Optional

from pernode_cli.cli.app import app, interruptible
from pernode_cli.cli.options import argument, command, extra, library_values, parameters
from pernode_cli.rendering.ranking import FORMATS
from pernode_cli.stats.ranking.options import RankOptions

LOGS = argument("logs", list[str], "CSV logs or globs; merged, each data set ranked separately.", "LOG")
TABLE_COLUMNS = [
    extra("method_column", Optional[str], None, "A results table's column of method names (default: variant, else "
          "method).", metavar="COLUMN", show_default=False),
    extra("dataset_column", Optional[str], None, "A results table's column of data set names (default: dataset).",
          metavar="COLUMN", show_default=False),
]


def rank(logs, format="table", plots=None, method_column=None, dataset_column=None, **values) -> None:
    """Rank variants from training logs under a named design: Friedman, Wilcoxon-Holm, Kendall's W, Table I."""
    from rich.console import Console

    from pernode_cli.logs import read_logs
    from pernode_cli.rendering.ranking import print_tables, render
    from pernode_cli.stats.ranking import rank_logs
    from pernode_cli.stats.rows import named_columns

    options = library_values(RankOptions, values)  # contradictory flags are refused here, before any work
    if plots is not None:
        from pernode_cli.rendering.plots import check_plots_folder

        check_plots_folder(plots)  # refused before any work
    frame = named_columns(read_logs(logs), method_column, dataset_column)
    result = rank_logs(frame, **options)
    written = []
    if plots:
        from pernode_cli.rendering.plots import write_plots

        with interruptible(lambda: f"the figures were not written; {plots} is as it was"):
            written = write_plots(result, folder=plots)
    text = render(result, format)
    if text is None:
        print_tables(result, Console(highlight=False))
    else:
        print(text)
    if plots:
        Console(stderr=True, highlight=False).print(f"wrote {len(written)} figure files to {plots}")


command(app, "rank", [
    LOGS, *parameters(RankOptions),
    extra("format", Literal[FORMATS], "table", "How to print the ranking."),
    extra("plots", Optional[str], None, "Folder for the report's figures (SVG and PNG), written whole.",
          metavar="DIR", show_default=False),
    *TABLE_COLUMNS,
], rank)
