"""`pernode train`: one configuration of one variant, every epoch logged."""

from __future__ import annotations

from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.markup import escape

from pernode_cli.cli.app import (
    DataDirOpt,
    DatasetOpt,
    ExperimentOpt,
    ExportTimeoutOpt,
    MlflowOpt,
    PluginOpt,
    QuietOpt,
    TensorBoardOpt,
    app,
    close_live_exports,
    interruptible,
    open_live_exports,
    saved_in_log,
)


class _ConsoleEvents:
    """Prints the banner and one line per epoch."""

    def __init__(self, console: Console):
        self.console = console

    def start(self, config, data) -> None:
        self.console.print(
            f"[bold]pernode train[/bold] {config.variant} on {data.name}: "
            f"{data.x_train.shape[0]} training and {data.x_val.shape[0]} validation samples"
        )

    def epoch(self, row: dict) -> None:
        from pernode_cli.report.training import epoch_line

        self.console.print(epoch_line(row), soft_wrap=True)


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
    max_train_samples: Annotated[Optional[int], typer.Option(help="Train on at most this many samples.", show_default="all")] = None,
    patience: Annotated[Optional[int], typer.Option(help="Stop after this many epochs without a lower val_loss (0: off).", show_default="off")] = None,
    mc_samples: Annotated[int, typer.Option(help="Monte Carlo passes with the noise on over the validation set after each epoch (0: off).")] = 0,
    log: Annotated[str, typer.Option(help="CSV log; one row is appended and flushed per epoch.")] = "logs.csv",
    plugin: PluginOpt = None,
    tensorboard: TensorBoardOpt = None,
    mlflow: MlflowOpt = None,
    experiment: ExperimentOpt = "pernode",
    export_timeout: ExportTimeoutOpt = 30.0,
    quiet: QuietOpt = False,
) -> None:
    """Train one configuration of one variant and log every epoch to a CSV file."""
    from pernode_cli.logs import LogLock
    from pernode_cli.plugins import load_plugins
    from pernode_cli.training.config import RunSpec
    from pernode_cli.training.environment import import_backend, requested_backend

    load_plugins(plugin or ())  # before the names are looked up: a plugin's variant or data set
    from pernode_cli.variants import canonical_variant, run_rate

    config = RunSpec(dataset=dataset, variant=variant, rate=run_rate(canonical_variant(variant), rate), units=units, batch_size=batch_size,
                     epochs=epochs, lr=lr, seed=seed, data_dir=data_dir, max_train_samples=max_train_samples,
                     patience=patience, mc_samples=mc_samples)
    LogLock(log).probe()  # a second writer is refused before the backend's slow start
    exporters = open_live_exports(tensorboard, mlflow, experiment, export_timeout, log)
    console = Console(quiet=quiet, highlight=False)
    try:
        with interruptible(saved_in_log(log)):
            # The backend takes seconds to start: say so on a terminal (a status line that goes away).
            with Console(stderr=True, quiet=quiet, highlight=False).status(
                    f"starting the {requested_backend()} backend ..."):
                import_backend()
            from pernode_cli.training.run import train_to_log

            result = train_to_log(config, log=log, events=_ConsoleEvents(console), exporters=exporters)
    finally:
        close_live_exports(exporters, export_timeout, log, tensorboard, mlflow, experiment)
    from pernode_cli.report.training import summary_table

    console.print(summary_table(config, result))
    console.print(f"log: {log} (run_id {result.run_id})")
    if result.failed:
        Console(stderr=True).print(f"[red]error:[/red] {escape(result.message)}; the row is in {escape(log)}")
        raise typer.Exit(1)
