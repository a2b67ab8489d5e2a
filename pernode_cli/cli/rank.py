"""`pernode rank`: read logs, rank the variants, render. Imports neither TensorFlow nor Keras."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from pernode_cli.cli.app import app
from pernode_cli.report.ranking import FORMATS


@app.command()
def rank(
    logs: Annotated[list[str], typer.Argument(help="CSV logs or globs; merged, each data set ranked separately.")],
    top: Annotated[int, typer.Option(help="Records per variant in the Friedman matrix (the paper uses 5).")] = 5,
    table_top: Annotated[int, typer.Option(help="Rows per variant in the Table I style output.")] = 3,
    metric: Annotated[str, typer.Option(help="Column to rank by; columns with 'acc' in the name are maximised.")] = "val_loss",
    dataset: Annotated[Optional[str], typer.Option(help="Rank only this data set.")] = None,
    format: Annotated[str, typer.Option("--format", help=f"{', '.join(FORMATS)}.")] = "table",
    plots: Annotated[Optional[str], typer.Option(help="Folder for PNG figures (best-3 bars, loss scatter, CD diagram).")] = None,
) -> None:
    """Rank variants from training logs: Friedman test, Kendall's W, mean ranks, Table I."""
    from rich.console import Console

    from pernode_cli.checks import check_choice
    from pernode_cli.logs import read_logs
    from pernode_cli.report.ranking import print_tables, render
    from pernode_cli.stats.ranking import rank_frame

    check_choice("format", format, FORMATS)
    rankings = rank_frame(read_logs(logs), metric=metric, top=top, table_top=table_top, dataset=dataset)
    text = render(rankings, format)
    if text is None:
        print_tables(rankings, Console(highlight=False))
    else:
        print(text)
    if plots:
        from pernode_cli.report.plots import write_plots

        written = write_plots(rankings, plots)
        Console(stderr=True, highlight=False).print(f"wrote {len(written)} figures to {plots}")
