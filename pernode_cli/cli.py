"""The `pernode` command line. Commands parse options and call library functions.

Heavy modules (TensorFlow, Keras, pandas) are imported inside the commands that need
them, so `pernode --help` stays fast and light.
"""

from __future__ import annotations

import os
import sys
from typing import Annotated, Optional

import typer

from pernode_cli import __version__
from pernode_cli.errors import PernodeError

# TensorFlow's C++ start-up chatter hides pernode's own output; users can override this.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

app = typer.Typer(
    name="pernode",
    help="Benchmark stochastic regularizers (PerNodeDrop and its baselines) and rank them.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _fail(message: str) -> None:
    _error_line(message)
    raise typer.Exit(2)


def _version_callback(value: bool) -> None:
    if value:
        typer.echo(f"pernode {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    version: Annotated[
        Optional[bool],
        typer.Option("--version", callback=_version_callback, is_eager=True, help="Print the version and exit."),
    ] = None,
) -> None:
    """Benchmark stochastic regularizers (PerNodeDrop and its baselines) and rank them."""


DatasetOpt = Annotated[
    str,
    typer.Option(help="digits (embedded), cifar10, speech_commands, rcv1, or a path to an .npz file."),
]
DataDirOpt = Annotated[
    Optional[str], typer.Option(help="Folder (or archive) holding an already downloaded copy of the data set.")
]


@app.command()
def train(
    dataset: DatasetOpt = "digits",
    variant: Annotated[str, typer.Option(help="Regularizer variant, e.g. PerNodeGaussian, Dropout, PerNodeBernoulli_F.")] = "PerNodeGaussian",
    rate: Annotated[float, typer.Option(help="Drop rate / noise strength in [0, 1).")] = 0.5,
    units: Annotated[int, typer.Option(help="Width of the regularization module's Dense layer.")] = 128,
    batch_size: Annotated[int, typer.Option(help="Training batch size.")] = 128,
    epochs: Annotated[int, typer.Option(help="Number of epochs.")] = 20,
    lr: Annotated[float, typer.Option(help="Adam learning rate.")] = 1e-3,
    seed: Annotated[int, typer.Option(help="Seed of weights, noise and data split.")] = 0,
    data_dir: DataDirOpt = None,
    max_train_samples: Annotated[Optional[int], typer.Option(help="Train on at most this many samples.")] = None,
    patience: Annotated[Optional[int], typer.Option(help="Stop after this many epochs without a lower val_loss (0: off).")] = None,
    mc_samples: Annotated[int, typer.Option(help="Monte Carlo passes with the noise on over the validation set after each epoch (0: off).")] = 0,
    log: Annotated[str, typer.Option(help="CSV log; one row is appended and flushed per epoch.")] = "logs.csv",
    quiet: Annotated[bool, typer.Option("--quiet", help="Print nothing but errors.")] = False,
) -> None:
    """Train one configuration of one variant and log every epoch to a CSV file."""
    from pernode_cli.runner import run_train_command

    try:
        code = run_train_command(
            dataset=dataset,
            variant=variant,
            rate=rate,
            units=units,
            batch_size=batch_size,
            epochs=epochs,
            lr=lr,
            seed=seed,
            data_dir=data_dir,
            max_train_samples=max_train_samples,
            patience=patience,
            mc_samples=mc_samples,
            log=log,
            quiet=quiet,
        )
    except PernodeError as exc:
        _fail(str(exc))
    raise typer.Exit(code)


@app.command()
def sweep(
    config: Annotated[str, typer.Argument(help="TOML config: data set, grid and fixed settings.")],
    log: Annotated[str, typer.Option(help="CSV log of this sweep (state is kept in LOG.sweep.json beside it).")] = "sweep.csv",
    shard: Annotated[Optional[str], typer.Option(help="Run only slice K of N of the grid, e.g. 2/8 (one per array job).")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="List the runs and which are finished; train nothing.")] = False,
    fail_fast: Annotated[bool, typer.Option("--fail-fast", help="Stop at the first failed run.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", help="Print nothing but errors.")] = False,
) -> None:
    """Train every run of a config's grid; resumable after a crash or kill, shardable."""
    from pernode_cli.runner import run_sweep_command

    try:
        code = run_sweep_command(config_path=config, log=log, shard=shard, dry_run=dry_run, fail_fast=fail_fast, quiet=quiet)
    except PernodeError as exc:
        _fail(str(exc))
    raise typer.Exit(code)


@app.command()
def timeit(
    dataset: Annotated[str, typer.Option(help="digits, cifar10, speech_commands, rcv1 or an .npz path (shapes of its backbone).")] = "cifar10",
    variants: Annotated[str, typer.Option(help="'all' or a comma-separated list of variants.")] = "all",
    rate: Annotated[float, typer.Option(help="Drop rate / noise strength in [0, 1).")] = 0.5,
    units: Annotated[int, typer.Option(help="Width of the regularization module.")] = 128,
    batch_size: Annotated[int, typer.Option(help="Batch size.")] = 128,
    epochs: Annotated[int, typer.Option(help="Epochs per variant, warm-up included.")] = 6,
    warmup: Annotated[int, typer.Option(help="First epochs (compilation) excluded from the statistics.")] = 1,
    steps_per_epoch: Annotated[Optional[int], typer.Option(help="Steps per epoch (default: the data set's training size / batch size).")] = None,
    data: Annotated[str, typer.Option(help="synthetic (random tensors of the data set's shapes) or real (the loaders).")] = "synthetic",
    data_dir: DataDirOpt = None,
    sampler: Annotated[Optional[str], typer.Option(help="PerNode sampler to time (default auto: the fastest exact one).")] = None,
    log: Annotated[Optional[str], typer.Option(help="Append one row per variant to this CSV file.")] = None,
    format: Annotated[str, typer.Option("--format", help="table, csv, json or markdown.")] = "table",
    quiet: Annotated[bool, typer.Option("--quiet", help="No per-epoch progress on stderr.")] = False,
) -> None:
    """Time each variant's training epochs on the local device (paper Table IV)."""
    from pernode_cli.timeit_command import run_timeit_command

    try:
        run_timeit_command(dataset=dataset, variants=variants, rate=rate, units=units, batch_size=batch_size,
                           epochs=epochs, warmup=warmup, steps_per_epoch=steps_per_epoch, data=data,
                           data_dir=data_dir, log=log, fmt=format, quiet=quiet, sampler=sampler)
    except PernodeError as exc:
        _fail(str(exc))


@app.command()
def rank(
    logs: Annotated[list[str], typer.Argument(help="CSV logs or globs; merged, each data set ranked separately.")],
    top: Annotated[int, typer.Option(help="Records per variant in the Friedman matrix (the paper uses 5).")] = 5,
    table_top: Annotated[int, typer.Option(help="Rows per variant in the Table I style output.")] = 3,
    metric: Annotated[str, typer.Option(help="Column to rank by; columns with 'acc' in the name are maximised.")] = "val_loss",
    dataset: Annotated[Optional[str], typer.Option(help="Rank only this data set.")] = None,
    format: Annotated[str, typer.Option("--format", help="table, csv, json, markdown or latex.")] = "table",
    plots: Annotated[Optional[str], typer.Option(help="Folder for PNG figures (best-3 bars, loss scatter, CD diagram).")] = None,
) -> None:
    """Rank variants from training logs: Friedman test, Kendall's W, mean ranks, Table I."""
    from pernode_cli.rank_command import run_rank_command

    try:
        run_rank_command(logs=logs, top=top, table_top=table_top, metric=metric, dataset=dataset, fmt=format, plots=plots)
    except PernodeError as exc:
        _fail(str(exc))


def _error_line(message: str) -> None:
    from rich.console import Console
    from rich.markup import escape

    Console(stderr=True, highlight=False).print(f"[red]error:[/red] {escape(message)}", soft_wrap=True)


def main() -> None:
    """Console entry point: option-parsing errors become one line and exit code 2 too."""
    args = sys.argv[1:] or ["--help"]
    try:
        code = app(args=args, prog_name="pernode", standalone_mode=False)
    except typer.TyperException as exc:  # wrong type, unknown option, missing argument
        ctx = getattr(exc, "ctx", None)
        where = ctx.command_path if ctx is not None else "pernode"
        _error_line(f"{exc.format_message()} (see '{where} --help')")
        sys.exit(exc.exit_code)
    except typer.Abort:
        _error_line("aborted")
        sys.exit(1)
    sys.exit(code or 0)


if __name__ == "__main__":
    main()
