"""Glue between the CLI and the library: Rich output around library calls."""

from __future__ import annotations

import math

from rich.console import Console
from rich.table import Table

from pernode_cli.data import load_dataset
from pernode_cli.logs import CsvLog
from pernode_cli.train import TrainConfig, train_run


def _fmt(value, digits=4):
    if isinstance(value, float):
        return "nan" if math.isnan(value) else f"{value:.{digits}f}"
    return str(value)


def epoch_line(row: dict) -> str:
    return (
        f"epoch {row['epoch']:>3}/{row['epochs']}  val_loss {_fmt(row['val_loss'])}  "
        f"val_acc {_fmt(row['val_acc'])}  train_loss {_fmt(row['train_loss'])}  "
        f"fit_loss {_fmt(row['fit_loss'])}  {row['epoch_seconds']:.2f}s"
    )


def summary_table(config: TrainConfig, result) -> Table:
    table = Table(title=f"{config.variant} on {config.dataset} (rate {config.rate}, units {config.units})")
    for col in ("", "epoch", "val_loss", "val_acc", "train_loss", "train_acc", "seconds"):
        table.add_column(col, justify="right")
    best, last = result.best, result.rows[-1] if result.rows else None
    for label, row in (("best", best), ("last", last)):
        if row:
            table.add_row(label, *(_fmt(row[c]) for c in ("epoch", "val_loss", "val_acc", "train_loss", "train_acc", "epoch_seconds")))
    return table


def run_train_command(*, log: str, quiet: bool, **settings) -> int:
    """Validate, open the log, train, report. Returns the exit code."""
    config = TrainConfig(**settings).validate()
    csv_log = CsvLog(log)  # checks an existing header before any work
    data = load_dataset(config.dataset, config.data_dir, config.seed)
    console = Console(quiet=quiet, highlight=False)
    console.print(
        f"[bold]pernode train[/bold] {config.variant} on {data.name}: "
        f"{data.x_train.shape[0]} training and {data.x_val.shape[0]} validation samples"
    )
    result = train_run(
        config, csv_log, on_epoch=lambda row: console.print(epoch_line(row), soft_wrap=True), dataset=data
    )
    console.print(summary_table(config, result))
    console.print(f"log: {log} (run_id {result.run_id})")
    if result.failed:
        Console(stderr=True).print(f"[red]error:[/red] {result.message}; the row is in {log}")
        return 1
    return 0
