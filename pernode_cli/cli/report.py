"""`pernode report`: a benchmark's report (HTML, Markdown, JSON, figures) from its logs.
Imports neither TensorFlow nor Keras."""

from __future__ import annotations

from typing import Annotated, Literal, Optional

import typer

from pernode_cli.cli.app import app


@app.command()
def report(
    logs: Annotated[list[str], typer.Argument(help="Training logs (CSV) or globs; merged, each data set reported.")],
    out: Annotated[str, typer.Option(help="Folder for index.html, index.md, report.json and figures/.")],
    timings: Annotated[Optional[list[str]], typer.Option(help="Timing logs of pernode timeit (paper Table IV); repeatable.")] = None,
    metric: Annotated[str, typer.Option(help="Column to rank by; columns with 'acc' in the name are maximised.")] = "val_loss",
    top: Annotated[int, typer.Option(help="Paper design: records per variant in the Friedman matrix.")] = 5,
    table_top: Annotated[int, typer.Option(help="Rows per variant in Table I.")] = 3,
    select: Annotated[Literal["best", "last"], typer.Option(help="Configs design: each run's best or last epoch.")] = "best",
    seeds: Annotated[Literal["average", "blocks"], typer.Option(help="Configs design: average seeds first, or take each seed as a block.")] = "average",
    control: Annotated[Optional[str], typer.Option(help="Configs design: test every variant against this one only.")] = None,
    variants: Annotated[Optional[str], typer.Option(help="Rank only these variants (names separated by commas).")] = None,
) -> None:
    """Write one self-contained report of a benchmark: both ranking designs, the paper's tables and figures."""
    from rich.console import Console

    from pernode_cli.logs import read_logs
    from pernode_cli.report.benchmark import collect_benchmark, read_timings
    from pernode_cli.report.pages import write_report

    frame = read_logs(logs)
    timing = read_timings(timings) if timings else None
    bench = collect_benchmark(frame, timings=timing, metric=metric, top=top, table_top=table_top, select=select,
                              seeds=seeds, control=control, variants=variants)
    written = write_report(bench, out=out)
    figures = sum(1 for p in written if p.suffix == ".svg")
    Console(highlight=False).print(f"wrote {out}/index.html, index.md and report.json with {figures} figures")
