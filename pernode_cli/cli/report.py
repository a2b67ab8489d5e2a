"""`pernode report`: a benchmark's report (HTML, Markdown, JSON, figures) from its logs.
Imports neither TensorFlow nor Keras."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from pernode_cli.cli.app import app, interruptible
from pernode_cli.cli.rank import (
    AlphaOpt,
    BlockColumnsOpt,
    ControlOpt,
    DatasetColumnOpt,
    MaximizeOpt,
    MethodColumnOpt,
    MetricOpt,
    MinimizeOpt,
    PerDatasetOpt,
    RopeOpt,
    SeedsOpt,
    SelectOnOpt,
    SelectOpt,
    TableTopOpt,
    TargetOpt,
    TopOpt,
    VariantsOpt,
    ZeroOpt,
    direction_flags,
)


@app.command()
def report(
    logs: Annotated[list[str], typer.Argument(help="Training logs (CSV) or globs; merged, each data set reported.")],
    out: Annotated[str, typer.Option(help="Folder for index.html, index.md, report.json and figures/ (written whole: a new or empty folder, or an earlier report).")],
    timings: Annotated[Optional[list[str]], typer.Option(help="Timing logs of pernode timeit (paper Table IV); repeatable.")] = None,
    metric: MetricOpt = None,
    maximize: MaximizeOpt = False,
    minimize: MinimizeOpt = False,
    select: SelectOpt = None,
    select_on: SelectOnOpt = None,
    seeds: SeedsOpt = None,
    control: ControlOpt = None,
    variants: VariantsOpt = None,
    per_dataset: PerDatasetOpt = "mean",
    alpha: AlphaOpt = 0.05,
    zero_method: ZeroOpt = "wilcox",
    rope: RopeOpt = None,
    target: TargetOpt = None,
    delta: Annotated[Optional[float], typer.Option(help="Adds the seed and configuration planner: the difference (metric units) the design should detect with 80% power.", show_default=False)] = None,
    top: TopOpt = 5,
    table_top: TableTopOpt = 3,
    method_column: MethodColumnOpt = None,
    dataset_column: DatasetColumnOpt = None,
    block_columns: BlockColumnsOpt = None,
) -> None:
    """Write one self-contained report of a benchmark: both ranking designs, the paper's tables and figures."""
    from rich.console import Console

    from pernode_cli.logs import read_logs
    from pernode_cli.report.benchmark import collect_benchmark, read_timings
    from pernode_cli.report.folder import check_target
    from pernode_cli.report.pages import write_report

    check_target(out, "out", "report")  # refused before any work
    from pernode_cli.cli.rank import _columns
    from pernode_cli.stats.rows import named_columns

    frame = named_columns(read_logs(logs), method_column, dataset_column)
    timing = read_timings(timings) if timings else None
    bench = collect_benchmark(frame, timings=timing, metric=metric, maximize=direction_flags(maximize, minimize),
                              select=select,
                              select_on=select_on, seeds=seeds, control=control, variants=variants,
                              per_dataset=per_dataset, alpha=alpha, zero_method=zero_method, rope=rope, top=top,
                              table_top=table_top, delta=delta, block_columns=_columns(block_columns), target=target)
    with interruptible(lambda: f"the report was not written; {out} is as it was"):
        written = write_report(bench, out=out)
    figures = sum(1 for p in written if p.suffix == ".svg")
    Console(highlight=False).print(f"wrote {out}/index.html, index.md and report.json with {figures} figures")
