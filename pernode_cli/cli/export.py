"""`pernode export`: send existing logs to trackers (``--track SCHEME:DESTINATION``: TensorBoard,
MLflow, W&B, or an installed tracker's scheme). Imports neither TensorFlow nor Keras."""

from __future__ import annotations

from typing import Annotated, Literal, Optional

import typer

from pernode_cli.cli.app import QuietOpt, TrackOpt, app, interruptible

UNFINISHED_SHOWN = 5


def _attempts(names: list) -> str:
    more = len(names) - UNFINISHED_SHOWN
    return ", ".join(names[:UNFINISHED_SHOWN]) + (f" and {more} more" if more > 0 else "")


@app.command()
def export(
    logs: Annotated[list[str], typer.Argument(help="CSV logs or globs written by train or sweep.", metavar="LOG...")],
    track: TrackOpt = None,
    tensorboard: Annotated[Optional[str], typer.Option(
        help="Folder of TensorBoard runs, one per run id and attempt (DIR/RUN_ID/attempt-N); the same as --track "
        "tensorboard:DIR.", metavar="DIR", show_default=False)] = None,
    mlflow: Annotated[Optional[str], typer.Option(
        help="MLflow tracking URI: sqlite:///mlflow.db, http(s)://HOST:PORT, or a local store (file: URI or path); "
        "the same as --track mlflow:URI.", metavar="URI", show_default=False)] = None,
    experiment: Annotated[str, typer.Option(help="MLflow experiment the runs go to (created if missing).",
                                            metavar="NAME")] = "pernode",
    timeout: Annotated[float, typer.Option(help="Seconds to keep retrying a tracker that does not answer.",
                                           metavar="SECONDS")] = 60.0,
    format: Annotated[Literal["text", "json"], typer.Option(
        help="text: a summary per tracker; json: what was sent where and what was not, as one JSON document on "
        "stdout.")] = "text",
    quiet: QuietOpt = False,
) -> None:
    """Send logs to trackers (TensorBoard, MLflow, W&B, ...) after the fact; a second export adds nothing."""
    import json

    from rich.console import Console
    from rich.markup import escape

    from pernode_cli.export.replay import export_logs

    out, err = Console(quiet=quiet or format == "json", highlight=False), Console(stderr=True, highlight=False)

    def on_note(note: str) -> None:
        err.print(f"[yellow]note:[/yellow] {escape(note)}", soft_wrap=True)

    saved = "the trackers hold what was sent so far; run the same export again to send the rest"
    with interruptible(lambda: saved):
        done = export_logs(list(logs), track=list(track or ()), tensorboard=tensorboard, mlflow=mlflow,
                           experiment=experiment, timeout=timeout, on_note=on_note)
    if format == "json":
        typer.echo(json.dumps({"command": "export", **done.to_dict()}, indent=2))
    unfinished = done.unfinished
    out.print(f"{done.attempts} attempt(s) from {len(done.logs)} log(s): {done.attempts - len(unfinished)} "
              f"finished, {len(unfinished)} unfinished" + (f" ({escape(_attempts(unfinished))}: sent as far as "
                                                           "they got)" if unfinished else ""), soft_wrap=True)
    for s in done.trackers:
        out.print(f"{escape(s.name)}: {s.runs_created} run(s) created, {s.runs_reused} already there; "
                  f"{s.epochs_written} epoch(s) written, {s.epochs_present} already there", soft_wrap=True)
    if done.problems:
        for line in done.problems:
            err.print(f"[red]not sent:[/red] {escape(line)}", soft_wrap=True)
        raise typer.Exit(1)
