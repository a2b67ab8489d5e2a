"""`pernode sweep`: every run of a config's grid, resumable and shardable."""

from __future__ import annotations

from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.markup import escape

from pernode_cli.cli.app import (
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


class _ProgressEvents:
    """Rich progress for a sweep: runs done / total with ETA, and the current run's epochs."""

    def __init__(self, console: Console):
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        self.console = console
        self.progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                 TimeRemainingColumn(), console=console, transient=True)
        self.runs_task = self.epoch_task = None

    def __enter__(self):
        self.progress.start()
        return self

    def __exit__(self, *exc):
        self.progress.stop()

    def sweep_start(self, pending: int, total: int) -> None:
        self.console.print(f"{total - pending} of {total} runs already finished; {pending} to run")
        self.runs_task = self.progress.add_task("runs", total=pending)

    def run_start(self, run, epochs: int) -> None:
        from pernode_cli.report.training import run_label

        if self.epoch_task is not None:
            self.progress.remove_task(self.epoch_task)
        self.epoch_task = self.progress.add_task(f"  {run_label(run)}: epochs", total=epochs)

    def epoch(self, row: dict) -> None:
        self.progress.advance(self.epoch_task)

    def run_end(self, run, message: str) -> None:
        from pernode_cli.report.training import run_label

        self.console.print(f"[{run.index + 1}] {run.run_id} {run_label(run)}: {escape(message)}", soft_wrap=True)
        self.progress.advance(self.runs_task)


class _RayProgressEvents(_ProgressEvents):
    """Ray trains several runs at once: the runs bar says how many, rows arrive per run."""

    def run_start(self, run, epochs: int) -> None:
        pass

    def epoch(self, row: dict) -> None:
        pass

    def in_flight(self, count: int) -> None:
        self.progress.update(self.runs_task, description=f"runs ({count} in flight)")


def _print_dry_run(console: Console, table, shard) -> None:
    from pernode_cli.report.training import RICH_ROWS, dry_run_table, dry_run_text

    if len(table) <= RICH_ROWS:
        console.print(dry_run_table(table))
    else:
        console.file.write(dry_run_text(table))
    done = table.finished
    console.print(f"{len(table)} runs in shard {shard[0]}/{shard[1]}: {done} finished, {len(table) - done} to run")


def _print_failures(report) -> None:
    err = Console(stderr=True, highlight=False)
    err.print(f"[red]{len(report.failures)} run(s) failed:[/red]")
    for run_id, message in report.failures:
        err.print(f"  {run_id}: {escape(message)}", soft_wrap=True)
    if report.stopped_early:
        err.print("stopped at the first failure (--fail-fast)")


@app.command()
def sweep(
    config: Annotated[str, typer.Argument(help="TOML config: data set, grid and fixed settings.")],
    log: Annotated[Optional[str], typer.Option(help="CSV log of this sweep (default: named after the config, digits.toml -> digits.csv; state is cached in LOG.sweep.json beside it).")] = None,
    shard: Annotated[Optional[str], typer.Option(help="Run only slice K of N of the grid, e.g. 2/8 (one per array job).")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="List the runs and which are finished; train nothing.")] = False,
    fail_fast: Annotated[bool, typer.Option("--fail-fast", help="Stop at the first failed run.")] = False,
    ray: Annotated[Optional[str], typer.Option("--ray", help="Run the runs as Ray tasks: --ray alone (or 'local') starts a local Ray instance; 'auto', ray://host:port or a 'ray start' address joins a cluster.", metavar="[ADDRESS]")] = None,
    gpus_per_run: Annotated[Optional[float], typer.Option(help="Ray: GPUs per run, fractions allowed (default 0.25 where the cluster has GPUs, else 0).")] = None,
    cpus_per_run: Annotated[Optional[int], typer.Option(help="Ray: CPUs per run (default 1).")] = None,
    plugin: PluginOpt = None,
    tensorboard: TensorBoardOpt = None,
    mlflow: MlflowOpt = None,
    experiment: Annotated[Optional[str], typer.Option(help="MLflow experiment of the live copy.", show_default="the config's fixed.experiment, else pernode")] = None,
    export_timeout: ExportTimeoutOpt = 30.0,
    quiet: QuietOpt = False,
) -> None:
    """Train every run of a config's grid; resumable after a crash or kill, shardable, on Ray."""
    from pernode_cli.sweep import loop
    from pernode_cli.sweep.config import default_log, load_config
    from pernode_cli.sweep.plan import parse_shard

    if ray is not None or gpus_per_run is not None or cpus_per_run is not None:
        from pernode_cli.sweep.ray_runner import check_resources

        check_resources(gpus_per_run, cpus_per_run)  # --dry-run included
    sweep_config, shard_kn = load_config(config, plugins=tuple(plugin or ())), parse_shard(shard)
    log = log or default_log(config)
    console = Console(quiet=quiet, highlight=False)
    if dry_run:
        _print_dry_run(console, loop.dry_run(sweep_config, log, shard_kn), shard_kn)
        return
    from pernode_cli.logs import LogLock

    LogLock(log).probe()  # a second writer is refused at once
    runner = None
    if ray is not None:
        from pernode_cli.sweep.ray_runner import RayRunner

        fixed = sweep_config.fixed
        runner = RayRunner(address=ray, gpus_per_run=fixed["gpus_per_run"] if gpus_per_run is None else gpus_per_run,
                           cpus_per_run=fixed["cpus_per_run"] if cpus_per_run is None else cpus_per_run,
                           plugins=[*(plugin or ()), *sweep_config.plugins], base=sweep_config.path.parent)
    fixed = sweep_config.fixed
    destinations = (tensorboard or fixed.get("tensorboard"), mlflow or fixed.get("mlflow"),
                    experiment or fixed.get("experiment") or "pernode")
    exporters = open_live_exports(*destinations, export_timeout, log)
    display = _ProgressEvents if runner is None else _RayProgressEvents
    try:
        with interruptible(saved_in_log(log)), display(console) as events:
            report = loop.run_sweep(sweep_config, log, shard_kn, fail_fast=fail_fast, events=events, runner=runner,
                                    exporters=exporters)
    finally:
        close_live_exports(exporters, export_timeout, log, *destinations)
    console.print(f"sweep: {report.ran} run(s) trained, {report.skipped} already finished, log {log}")
    if report.failures:
        _print_failures(report)
        raise typer.Exit(1)
