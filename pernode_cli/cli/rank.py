"""`pernode rank`: read logs, rank the variants, render. Imports neither TensorFlow nor Keras."""

from __future__ import annotations

from typing import Annotated, Literal, Optional

import typer

from pernode_cli.cli.app import app
from pernode_cli.report.ranking import FORMATS

DESIGN_HELP = (
    "auto (default): configs on every data set with at least 3 complete blocks, paper elsewhere; "
    "configs: blocks are configurations (valid p-values); paper: the paper's layout (descriptive only)."
)


@app.command()
def rank(
    logs: Annotated[list[str], typer.Argument(help="CSV logs or globs; merged, each data set ranked separately.")],
    design: Annotated[Literal["auto", "configs", "paper"], typer.Option(help=DESIGN_HELP)] = "auto",
    top: Annotated[int, typer.Option(help="Paper design: records per variant in the Friedman matrix (the paper uses 5).")] = 5,
    table_top: Annotated[int, typer.Option(help="Rows per variant in the Table I style output.")] = 3,
    metric: Annotated[str, typer.Option(help="Column to rank by; columns with 'acc' in the name are maximised.")] = "val_loss",
    dataset: Annotated[Optional[str], typer.Option(help="Rank only this data set.")] = None,
    select: Annotated[Literal["best", "last"], typer.Option(help="Configs design: each run's best or last epoch.")] = "best",
    seeds: Annotated[Literal["average", "blocks"], typer.Option(help="Configs design: average seeds first, or take each seed as a block.")] = "average",
    control: Annotated[Optional[str], typer.Option(help="Configs design: test every variant against this one only.")] = None,
    across_datasets: Annotated[
        bool, typer.Option("--across-datasets", help="Configs design: one ranking over the blocks of every data set.")
    ] = False,
    variants: Annotated[Optional[str], typer.Option(help="Rank only these variants (names separated by commas).")] = None,
    format: Annotated[Literal[FORMATS], typer.Option("--format", help="How to print the ranking.")] = "table",
    plots: Annotated[Optional[str], typer.Option(help="Folder for the report's figures (SVG and PNG) of each data set.")] = None,
) -> None:
    """Rank variants from training logs under a named design: Friedman, Kendall's W, mean ranks, Table I."""
    from rich.console import Console

    from pernode_cli.logs import read_logs
    from pernode_cli.report.ranking import print_tables, render
    from pernode_cli.stats.ranking import rank_logs

    result = rank_logs(read_logs(logs), design=design, metric=metric, top=top, table_top=table_top, dataset=dataset,
                       select=select, seeds=seeds, control=control, across_datasets=across_datasets, variants=variants)
    written = []
    if plots:
        from pernode_cli.report.plots import write_plots

        written = write_plots(result, folder=plots)
    text = render(result, format)
    if text is None:
        print_tables(result, Console(highlight=False))
    else:
        print(text)
    if plots:
        Console(stderr=True, highlight=False).print(f"wrote {len(written)} figure files to {plots}")
