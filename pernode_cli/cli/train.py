"""`pernode train`: one configuration of one variant, every epoch logged.

Its settings are the options of ``schema.RunSettings`` (``cli.options.parameters``): a setting
declared there is an option here with no change to this file."""

from __future__ import annotations

import inspect
import json
from typing import Literal

import typer
from rich.console import Console
from rich.markup import escape

from pernode_cli.cli.app import (
    ExperimentOpt,
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
from pernode_cli.cli.options import command, extra, parameters


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
        from pernode_cli.rendering.training import epoch_line

        self.console.print(epoch_line(row), soft_wrap=True)


def train(*, log: str, plugin, track, tensorboard, mlflow, experiment: str, export_timeout: float, quiet: bool,
          format: str, **settings) -> None:
    """Train one configuration of one variant and log every epoch to a CSV file."""
    from pernode_cli.training.environment import requested_backend
    from pernode_cli.training.session import train as train_run

    as_json = format == "json"
    console = Console(quiet=quiet or as_json, highlight=False)
    command_line = export_command(log, tensorboard, mlflow, experiment, track)

    def starting():  # the backend takes seconds to start: a status line on a terminal, then gone
        return Console(stderr=True, quiet=quiet or as_json, highlight=False).status(
            f"starting the {requested_backend()} backend ...")

    with interruptible(saved_in_log(log)):
        result = train_run(log=log, plugin=tuple(plugin or ()), track=list(track or ()), tensorboard=tensorboard,
                           mlflow=mlflow, experiment=experiment, export_timeout=export_timeout,
                           events=_ConsoleEvents(console), on_problem=problem_printer(command_line),
                           starting=starting, on_unsent=unsent_printer(log, command_line), **settings)
    if as_json:
        typer.echo(json.dumps({"command": "train", **result.to_dict()}, indent=2))
    else:
        from types import SimpleNamespace

        from pernode_cli.rendering.training import summary_table

        console.print(summary_table(SimpleNamespace(**result.settings), result))
        console.print(f"log: {log} (run_id {result.run_id})")
    if result.failed:
        Console(stderr=True).print(f"[red]error:[/red] {escape(result.message)}; the row is in {escape(log)}")
        raise typer.Exit(1)


def _register() -> None:
    from pernode_cli.schema import RunSettings

    def shared(name, annotation, default):
        return inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=annotation)

    params = parameters(RunSettings) + [
        extra("log", str, "logs.csv", "CSV log; one row is appended and flushed per epoch.", metavar="LOG"),
        shared("plugin", PluginOpt, None),
        shared("track", TrackOpt, None),
        shared("tensorboard", TensorBoardOpt, None),
        shared("mlflow", MlflowOpt, None),
        shared("experiment", ExperimentOpt, "pernode"),
        shared("export_timeout", ExportTimeoutOpt, 30.0),
        extra("format", Literal["text", "json"], "text", "text: progress and a summary table; json: the run's "
              "record (log, run id, rows written) as one JSON document on stdout."),
        shared("quiet", QuietOpt, False),
    ]
    command(app, "train", params, train)


_register()
