"""`pernode plan`: how many configurations and seeds a design needs, from a pilot log.

The options a pilot is read with are ``stats.ranking.RankOptions``' declared fields."""

from __future__ import annotations

from typing import Literal, Optional

from pernode_cli.cli.app import app
from pernode_cli.cli.options import argument, command, extra, library_values, parameters
from pernode_cli.stats.ranking.options import RankOptions

READ_AS = ["metric", "maximize", "select", "select_on", "control", "variants", "dataset", "alpha"]


def plan(logs, delta, shifted=None, power=0.8, format="table", **values) -> None:
    """Estimate from a pilot log the power of the configs design by its size, and the smallest design reaching it."""
    from rich.console import Console

    from pernode_cli.logs import read_logs
    from pernode_cli.rendering.planning import print_plan, render
    from pernode_cli.stats.planning import plan_logs

    options = library_values(RankOptions, values)
    control = options.pop("control", None)
    result = plan_logs(read_logs(logs), delta, control=control, shifted=shifted, power=power, **options)
    text = render(result, format)
    if text is None:
        print_plan(result, Console(highlight=False))
    else:
        print(text)


command(app, "plan", [
    argument("logs", list[str], "A pilot's logs (CSV) or globs.", "LOG"),
    extra("delta", float, ..., "The difference to detect, in the metric's units.", metavar="D"),
    *parameters(RankOptions, READ_AS),
    extra("shifted", Optional[str], None, "The variant made better by --delta (default: the first other than "
          "--control).", metavar="VARIANT", show_default=False),
    extra("power", float, 0.8, "The power to reach.", metavar="POWER"),
    extra("format", Literal["table", "json", "markdown"], "table", "How to print the plan."),
], plan)
