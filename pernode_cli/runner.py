"""Glue between the CLI and the library: Rich output around library calls."""

from __future__ import annotations

import math

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from pernode_cli.data import load_dataset
from pernode_cli.logs import CsvLog
from pernode_cli.train import TrainConfig, train_run


def _fmt(value, digits=4):
    if isinstance(value, float):
        return "nan" if math.isnan(value) else f"{value:.{digits}f}"
    return str(value)


def epoch_line(row: dict) -> str:
    line = (
        f"epoch {row['epoch']:>3}/{row['epochs']}  val_loss {_fmt(row['val_loss'])}  "
        f"val_acc {_fmt(row['val_acc'])}  train_loss {_fmt(row['train_loss'])}  "
        f"fit_loss {_fmt(row['fit_loss'])}  {row['epoch_seconds']:.2f}s"
    )
    if row.get("mc_val_loss") is not None:
        line += f"  mc_val_loss {_fmt(row['mc_val_loss'])} ({row['mc_passes']} passes)"
    return line


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
    from pathlib import Path

    from pernode_cli.errors import PernodeError
    from pernode_cli.sweep import state_path

    config = TrainConfig(**settings).validate()
    if state_path(Path(log)).exists():
        # A sweep rewrites its log when it resumes; rows added by hand could be dropped.
        raise PernodeError(f"{log} belongs to a sweep ({state_path(Path(log)).name} beside it); pass another --log.")
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
        Console(stderr=True).print(f"[red]error:[/red] {escape(result.message)}; the row is in {escape(log)}")
        return 1
    return 0


class RichSweepEvents:
    """Rich progress for a sweep: runs done / total with ETA, and the current run's epochs."""

    def __init__(self, console: Console):
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        self.console = console
        self.progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            console=console,
            transient=True,
        )
        self.runs_task = None
        self.epoch_task = None

    def __enter__(self):
        self.progress.start()
        return self

    def __exit__(self, *exc):
        self.progress.stop()

    def sweep_start(self, pending: int, total: int) -> None:
        self.console.print(f"{total - pending} of {total} runs already finished; {pending} to run")
        self.runs_task = self.progress.add_task("runs", total=pending)

    def run_start(self, run, epochs: int) -> None:
        c = run.config
        label = f"{c.variant} rate {c.rate} units {c.units} batch {c.batch_size} seed {c.seed}"
        if self.epoch_task is not None:
            self.progress.remove_task(self.epoch_task)
        self.epoch_task = self.progress.add_task(f"  {label}: epochs", total=epochs)

    def epoch(self, row: dict) -> None:
        self.progress.advance(self.epoch_task)

    def run_end(self, run, message: str) -> None:
        c = run.config
        self.console.print(
            f"[{run.index + 1}] {run.run_id} {c.variant} rate {c.rate} units {c.units} "
            f"batch {c.batch_size} seed {c.seed}: {escape(message)}",
            soft_wrap=True,
        )
        self.progress.advance(self.runs_task)


def dry_run_table(runs) -> Table:
    table = Table(title="Runs of this shard")
    for col in ("#", "run_id", "variant", "rate", "units", "batch", "seed", "status"):
        table.add_column(col)
    for r in runs:
        c = r.config
        table.add_row(str(r.index + 1), r.run_id, c.variant, str(c.rate), str(c.units), str(c.batch_size), str(c.seed), r.status)
    return table


def run_sweep_command(*, config_path: str, log: str, shard: str | None, dry_run: bool, fail_fast: bool, quiet: bool) -> int:
    from pathlib import Path

    from pernode_cli.config import load_config
    from pernode_cli.sweep import open_state, parse_shard, plan, run_sweep

    config = load_config(config_path)
    shard_kn = parse_shard(shard)
    log_path = Path(log)
    console = Console(quiet=quiet, highlight=False)
    if dry_run:
        state = open_state(log_path, config, shard_kn)
        runs = plan(config, shard_kn, state)
        console.print(dry_run_table(runs))
        done = sum(r.status in ("done", "nonfinite") for r in runs)
        console.print(f"{len(runs)} runs in shard {shard_kn[0]}/{shard_kn[1]}: {done} finished, {len(runs) - done} to run")
        return 0
    with RichSweepEvents(console) as events:
        report = run_sweep(config, log_path, shard_kn, fail_fast=fail_fast, events=events)
    console.print(f"sweep: {report.ran} run(s) trained, {report.skipped} already finished, log {log}")
    if report.failures:
        err = Console(stderr=True, highlight=False)
        err.print(f"[red]{len(report.failures)} run(s) failed:[/red]")
        for run_id, message in report.failures:
            err.print(f"  {run_id}: {escape(message)}", soft_wrap=True)
        if report.stopped_early:
            err.print("stopped at the first failure (--fail-fast)")
        return 1
    return 0
