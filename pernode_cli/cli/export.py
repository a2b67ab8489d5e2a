"""`pernode export`: send existing logs to TensorBoard and/or MLflow. Imports neither
TensorFlow nor Keras."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from pernode_cli.cli.app import QuietOpt, app, interruptible

UNFINISHED_SHOWN = 5


def _attempts(attempts) -> str:
    names = [f"{a.run_id} attempt {a.attempt}" for a in attempts[:UNFINISHED_SHOWN]]
    more = len(attempts) - len(names)
    return ", ".join(names) + (f" and {more} more" if more else "")


@app.command()
def export(
    logs: Annotated[list[str], typer.Argument(help="CSV logs or globs written by train or sweep.")],
    tensorboard: Annotated[Optional[str], typer.Option(help="Folder of TensorBoard runs, one per run id and attempt (DIR/RUN_ID/attempt-N).")] = None,
    mlflow: Annotated[Optional[str], typer.Option(help="MLflow tracking URI: sqlite:///mlflow.db, http(s)://HOST:PORT, or a local store (file: URI or path).")] = None,
    experiment: Annotated[str, typer.Option(help="MLflow experiment the runs go to (created if missing).")] = "pernode",
    timeout: Annotated[float, typer.Option(help="Seconds to keep retrying a tracker that does not answer.")] = 60.0,
    quiet: QuietOpt = False,
) -> None:
    """Send logs to TensorBoard and/or MLflow after the fact; a second export adds nothing."""
    from rich.console import Console
    from rich.markup import escape

    from pernode_cli.checks import check_positive_number
    from pernode_cli.errors import PernodeError
    from pernode_cli.export import open_exporters
    from pernode_cli.export.replay import read_attempts, send_attempts

    if tensorboard is None and mlflow is None:
        raise PernodeError("Nothing to export to: give `tensorboard` (a folder) or `mlflow` (a tracking URI), or both.")
    check_positive_number("timeout", timeout)
    runs = read_attempts(logs)
    exporters = open_exporters(tensorboard=tensorboard, mlflow=mlflow, experiment=experiment)
    out, err = Console(quiet=quiet, highlight=False), Console(stderr=True, highlight=False)
    for note in runs.notes:
        err.print(f"[yellow]note:[/yellow] {escape(note)}", soft_wrap=True)
    saved = "the trackers hold what was sent so far; run the same export again to send the rest"
    with interruptible(lambda: saved):
        send_attempts(runs, exporters)
        problems = exporters.close(timeout_s=timeout)
    unfinished = [a for a in runs.attempts if not a.finished]
    out.print(f"{len(runs.attempts)} attempt(s) from {runs.files} log(s): {len(runs.attempts) - len(unfinished)} "
              f"finished, {len(unfinished)} unfinished" + (f" ({escape(_attempts(unfinished))}: sent as far as "
                                                           "they got)" if unfinished else ""), soft_wrap=True)
    for s in exporters.summaries():
        out.print(f"{escape(s.name)}: {s.runs_created} run(s) created, {s.runs_reused} already there; "
                  f"{s.epochs_written} epoch(s) written, {s.epochs_present} already there", soft_wrap=True)
    problems = runs.conflicts + problems
    if problems:
        for line in problems:
            err.print(f"[red]not sent:[/red] {escape(line)}", soft_wrap=True)
        raise typer.Exit(1)
