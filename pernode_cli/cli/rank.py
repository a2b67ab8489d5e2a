"""`pernode rank`: read logs, rank the variants, render. Imports neither TensorFlow nor Keras."""

from __future__ import annotations

from typing import Annotated, Literal, Optional

import typer

from pernode_cli.cli.app import app, interruptible
from pernode_cli.report.ranking import FORMATS

DESIGN_HELP = (
    "auto: configs where a data set has at least 3 complete blocks (or one configuration with 3 seeds), "
    "paper elsewhere; configs: blocks are configurations (tests); paper: the paper's layout (descriptive only)."
)
MetricOpt = Annotated[Optional[str], typer.Option(help="Column compared (default: test_loss where every row has it, else val_loss).")]
MaximizeOpt = Annotated[bool, typer.Option("--maximize", help="Higher is better; needed for a column whose direction is not known.")]
MinimizeOpt = Annotated[bool, typer.Option("--minimize", help="Lower is better; needed for a column whose direction is not known.")]


def direction_flags(maximize: bool, minimize: bool) -> Optional[bool]:
    """``--maximize`` / ``--minimize`` as the library's ``maximize`` (None: neither given)."""
    from pernode_cli.errors import PernodeError

    if maximize and minimize:
        raise PernodeError("`maximize` and `minimize` contradict each other; give one of them, or neither for a "
                           "metric whose direction is known.")
    return True if maximize else False if minimize else None
SelectOpt = Annotated[Optional[Literal["best", "last"]], typer.Option(help="Each run's best epoch (by --select-on) or its last (default: best when --select-on is another split, else last).", show_default=False)]
SelectOnOpt = Annotated[Optional[str], typer.Option(help="Column that picks each run's best epoch (default: val_X for test_X, else the metric).", show_default=False)]
SeedsOpt = Annotated[Optional[Literal["average", "blocks"]], typer.Option(help="Average a configuration's seeds first, or take each seed as a block (default: average; blocks for a single configuration).", show_default=False)]
ControlOpt = Annotated[Optional[str], typer.Option(help="Test every variant against this one only (fewer tests, more power).")]
VariantsOpt = Annotated[Optional[str], typer.Option(help="Rank only these variants (names separated by commas, any case).")]
MethodColumnOpt = Annotated[Optional[str], typer.Option(help="A results table's column of method names (default: variant, else method).", show_default=False)]
DatasetColumnOpt = Annotated[Optional[str], typer.Option(help="A results table's column of data set names (default: dataset).", show_default=False)]
BlockColumnsOpt = Annotated[Optional[str], typer.Option(help="A results table's columns that tell blocks apart within a data set (comma-separated, e.g. fold).", show_default=False)]
PerDatasetOpt = Annotated[Literal["mean", "best"], typer.Option(help="Across data sets: each variant's mean over a data set's configurations, or its best configuration (chosen on --select-on).")]
AlphaOpt = Annotated[float, typer.Option(help="Level of the tests (which pairs differ, what the sizes can show).")]
ZeroOpt = Annotated[Literal["wilcox", "pratt", "zsplit"], typer.Option(help="Wilcoxon: zero differences dropped (wilcox), ranked then dropped (pratt) or split between the signs (zsplit, Demsar 2006).")]
RopeOpt = Annotated[Optional[float], typer.Option(help="Region of practical equivalence in metric units: adds the Bayesian signed-rank test per pair (P(A better), P(equivalent), P(B better)).", show_default=False)]
TargetOpt = Annotated[Optional[str], typer.Option(help="A target such as 'val_acc>=0.95': also rank the variants by training seconds to reach it (runs that never do rank last).", show_default=False)]
TopOpt = Annotated[int, typer.Option(help="Paper design: records per variant in the Friedman matrix (the paper uses 5).")]
TableTopOpt = Annotated[int, typer.Option(help="Rows per variant in the Table I style output.")]


@app.command()
def rank(
    logs: Annotated[list[str], typer.Argument(help="CSV logs or globs; merged, each data set ranked separately.")],
    design: Annotated[Literal["auto", "configs", "paper"], typer.Option(help=DESIGN_HELP)] = "auto",
    metric: MetricOpt = None,
    maximize: MaximizeOpt = False,
    minimize: MinimizeOpt = False,
    select: SelectOpt = None,
    select_on: SelectOnOpt = None,
    seeds: SeedsOpt = None,
    control: ControlOpt = None,
    variants: VariantsOpt = None,
    dataset: Annotated[Optional[str], typer.Option(help="Rank only this data set.")] = None,
    across_datasets: Annotated[bool, typer.Option("--across-datasets", help="Also rank across data sets: the data sets are the blocks (Demsar 2006).")] = False,
    pooled_configurations: Annotated[bool, typer.Option("--pooled-configurations", help="Also rank the configuration blocks of all data sets pooled (tests these configurations, not across data sets).")] = False,
    per_dataset: PerDatasetOpt = "mean",
    alpha: AlphaOpt = 0.05,
    zero_method: ZeroOpt = "wilcox",
    rope: RopeOpt = None,
    target: TargetOpt = None,
    top: TopOpt = 5,
    table_top: TableTopOpt = 3,
    format: Annotated[Literal[FORMATS], typer.Option("--format", help="How to print the ranking.")] = "table",
    plots: Annotated[Optional[str], typer.Option(help="Folder for the report's figures (SVG and PNG), written whole.")] = None,
    method_column: MethodColumnOpt = None,
    dataset_column: DatasetColumnOpt = None,
    block_columns: BlockColumnsOpt = None,
) -> None:
    """Rank variants from training logs under a named design: Friedman, Wilcoxon-Holm, Kendall's W, Table I."""
    from rich.console import Console

    from pernode_cli.errors import PernodeError
    from pernode_cli.logs import read_logs
    from pernode_cli.report.ranking import print_tables, render
    from pernode_cli.stats.ranking import rank_logs
    from pernode_cli.stats.rows import named_columns

    direction = direction_flags(maximize, minimize)
    if across_datasets and pooled_configurations:
        raise PernodeError("Give one of `across_datasets` and `pooled_configurations`.")
    if plots is not None:
        from pernode_cli.report.plots import check_plots_folder

        check_plots_folder(plots)  # refused before any work
    across = "datasets" if across_datasets else "pooled" if pooled_configurations else None
    frame = named_columns(read_logs(logs), method_column, dataset_column)
    result = rank_logs(frame, design=design, metric=metric, maximize=direction, select=select,
                       select_on=select_on, seeds=seeds, control=control, variants=variants, dataset=dataset,
                       across=across, per_dataset=per_dataset, alpha=alpha, zero_method=zero_method, rope=rope,
                       target=target, top=top, table_top=table_top, block_columns=_columns(block_columns))
    written = []
    if plots:
        from pernode_cli.report.plots import write_plots

        with interruptible(lambda: f"the figures were not written; {plots} is as it was"):
            written = write_plots(result, folder=plots)
    text = render(result, format)
    if text is None:
        print_tables(result, Console(highlight=False))
    else:
        print(text)
    if plots:
        Console(stderr=True, highlight=False).print(f"wrote {len(written)} figure files to {plots}")


def _columns(text: Optional[str]):
    return None if text is None else tuple(c.strip() for c in text.split(",") if c.strip())
