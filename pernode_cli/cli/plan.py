"""`pernode plan`: how many configurations and seeds a design needs, from a pilot log."""

from __future__ import annotations

from typing import Annotated, Literal, Optional

import typer

from pernode_cli.cli.app import app
from pernode_cli.cli.rank import AlphaOpt, MaximizeOpt, MetricOpt, MinimizeOpt, SelectOnOpt, SelectOpt, direction_flags


@app.command()
def plan(
    logs: Annotated[list[str], typer.Argument(help="A pilot's logs (CSV) or globs.")],
    delta: Annotated[float, typer.Option(help="The difference to detect, in the metric's units.")],
    metric: MetricOpt = None,
    maximize: MaximizeOpt = False,
    minimize: MinimizeOpt = False,
    select: SelectOpt = None,
    select_on: SelectOnOpt = None,
    control: Annotated[Optional[str], typer.Option(help="Also plan the comparison of --shifted against this variant.")] = None,
    shifted: Annotated[Optional[str], typer.Option(help="The variant made better by --delta (default: the first other than --control).")] = None,
    variants: Annotated[Optional[str], typer.Option(help="Plan only these variants (names separated by commas, any case).")] = None,
    dataset: Annotated[Optional[str], typer.Option(help="Plan only this data set.")] = None,
    alpha: AlphaOpt = 0.05,
    power: Annotated[float, typer.Option(help="The power to reach.")] = 0.8,
    format: Annotated[Literal["table", "json", "markdown"], typer.Option("--format", help="How to print the plan.")] = "table",
) -> None:
    """Estimate from a pilot log the power of the configs design by its size, and the smallest design reaching it."""
    from rich.console import Console

    from pernode_cli.logs import read_logs
    from pernode_cli.report.planning import print_plan, render
    from pernode_cli.stats.planning import plan_logs

    result = plan_logs(read_logs(logs), delta, control=control, shifted=shifted, power=power, metric=metric,
                       maximize=direction_flags(maximize, minimize), select=select, select_on=select_on,
                       variants=variants, dataset=dataset,
                       alpha=alpha)
    text = render(result, format)
    if text is None:
        print_plan(result, Console(highlight=False))
    else:
        print(text)
