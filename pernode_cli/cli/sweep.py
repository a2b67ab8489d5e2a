"""`pernode sweep`: every run of a config's grid, resumable and shardable."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Literal, Optional

import typer
from rich.console import Console
from rich.markup import escape

from pernode_cli.cli.app import (
    ExportTimeoutOpt,
    MlflowOpt,
    PluginOpt,
    QuietOpt,
    TensorBoardOpt,
    TrackOpt,
    app,
    export_command,
    interruptible,
    problem_printer,
    saved_in_log,
    unsent_printer,
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
        return self

    def __exit__(self, *exc):
        if self.progress.live.is_started:
            self.progress.stop()

    def sweep_start(self, pending: int, total: int) -> None:
        # Started here, once the sweep's input is checked: a refused sweep prints nothing on stdout.
        self.progress.start()
        self.console.print(f"{total - pending} of {total} runs already finished; {pending} to run")
        self.runs_task = self.progress.add_task("runs", total=pending)

    def run_start(self, run, epochs: int) -> None:
        from pernode_cli.rendering.training import run_label

        if self.epoch_task is not None:
            self.progress.remove_task(self.epoch_task)
        self.epoch_task = self.progress.add_task(f"  {run_label(run)}: epochs", total=epochs)

    def epoch(self, row: dict) -> None:
        self.progress.advance(self.epoch_task)

    def run_end(self, run, message: str) -> None:
        from pernode_cli.rendering.training import run_label

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
    from pernode_cli.rendering.training import RICH_ROWS, dry_run_table, dry_run_text

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


ConfigArg = Annotated[str, typer.Argument(help="TOML config: data set, grid and fixed settings.", metavar="CONFIG")]
LogOpt = Annotated[Optional[str], typer.Option(
    help="CSV log of this sweep (default: named after the config, digits.toml -> digits.csv; state is cached in "
    "LOG.sweep.json beside it).", metavar="LOG", show_default=False)]
ShardOpt = Annotated[Optional[str], typer.Option(
    help="Run only slice K of N of the grid, e.g. 2/8 (one per array job).", metavar="K/N",
    show_default="the whole grid")]
DryRunOpt = Annotated[bool, typer.Option("--dry-run", help="List the runs and which are finished; train nothing.")]
FailFastOpt = Annotated[bool, typer.Option("--fail-fast", help="Stop at the first failed run.")]
RayOpt = Annotated[Optional[str], typer.Option(
    "--ray", help="Run the runs as Ray tasks: --ray alone (or 'local') starts a local Ray instance; 'auto', "
    "ray://host:port or a 'ray start' address joins a cluster.", metavar="[ADDRESS]", show_default=False)]
GpusOpt = Annotated[Optional[float], typer.Option(
    help="Ray: GPUs per run, fractions allowed.", metavar="GPUS",
    show_default="the config's, else 0.25 where the cluster has GPUs, else 0")]
CpusOpt = Annotated[Optional[int], typer.Option(help="Ray: CPUs per run.", metavar="CPUS",
                                                show_default="the config's, else 1")]
SweepExperimentOpt = Annotated[Optional[str], typer.Option(
    help="MLflow experiment of the live copy.", metavar="NAME",
    show_default="the config's fixed.experiment, else pernode")]
FormatOpt = Annotated[Literal["text", "json"], typer.Option(
    help="text: progress and a summary line; json: what was done (runs trained and finished, their ids, the "
    "failures, the log) as one JSON document on stdout.")]


@app.command()
def sweep(
    config: ConfigArg,
    log: LogOpt = None,
    shard: ShardOpt = None,
    dry_run: DryRunOpt = False,
    fail_fast: FailFastOpt = False,
    ray: RayOpt = None,
    gpus_per_run: GpusOpt = None,
    cpus_per_run: CpusOpt = None,
    plugin: PluginOpt = None,
    track: TrackOpt = None,
    tensorboard: TensorBoardOpt = None,
    mlflow: MlflowOpt = None,
    experiment: SweepExperimentOpt = None,
    export_timeout: ExportTimeoutOpt = 30.0,
    format: FormatOpt = "text",
    quiet: QuietOpt = False,
) -> None:
    """Train every run of a config's grid; resumable after a crash or kill, shardable, on Ray."""
    from pernode_cli.sweeps import session
    from pernode_cli.sweeps.config import default_log

    if ray is not None or gpus_per_run is not None or cpus_per_run is not None:
        from pernode_cli.sweeps.ray_runner import check_resources

        check_resources(gpus_per_run, cpus_per_run)  # --dry-run included
    sweep_config, shard_kn = session.load(config, plugin, shard)
    log = log or default_log(config)
    as_json = format == "json"
    console = Console(quiet=quiet or as_json, highlight=False)
    if dry_run:
        table = session.dry_run(sweep_config, log=log, shard=shard_kn)
        if as_json:
            record = {"command": "sweep", "dry_run": True, "log": str(Path(log).resolve()),
                      "shard": f"{shard_kn[0]}/{shard_kn[1]}", **session.plan_dict(table)}
            typer.echo(json.dumps(record, indent=2))
        else:
            _print_dry_run(console, table, shard_kn)
        return
    live = session.live_destinations(sweep_config.fixed, track, tensorboard, mlflow, experiment)
    command_line = export_command(log, live["tensorboard"], live["mlflow"], live["experiment"], live["track"])
    display = _ProgressEvents if ray is None else _RayProgressEvents
    with interruptible(saved_in_log(log)), display(console) as events:
        report = session.sweep(sweep_config, log=log, shard=shard_kn, fail_fast=fail_fast, ray=ray,
                               gpus_per_run=gpus_per_run, cpus_per_run=cpus_per_run, plugin=tuple(plugin or ()),
                               export_timeout=export_timeout, events=events, on_problem=problem_printer(command_line),
                               on_unsent=unsent_printer(log, command_line), **live)
    if as_json:
        typer.echo(json.dumps({"command": "sweep", **report.to_dict()}, indent=2))
    else:
        console.print(f"sweep: {report.ran} run(s) trained, {report.skipped} already finished, log {log}")
    if report.failures:
        _print_failures(report)
        raise typer.Exit(1)
