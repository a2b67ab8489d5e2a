"""`pernode timeit`: epoch time of each variant on the local device (paper Table IV).
Needs Keras, not TensorFlow."""

from __future__ import annotations

from typing import Annotated, Literal, Optional

import typer
from rich.console import Console

from pernode_cli.cli.app import DataDirOpt, PluginOpt, app, interruptible
from pernode_cli.report.timing import FORMATS


class _RoundProgress:
    """A progress bar over rounds with the estimated time left, and one line per epoch."""

    def __init__(self, console: Console):
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

        self.console = console
        self.progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                 TextColumn("{task.fields[left]}"), console=console, transient=True)
        self.task = None

    def __enter__(self):
        self.progress.start()
        return self

    def __exit__(self, *exc):
        self.progress.stop()

    def round_start(self, index: int, total: int) -> None:
        if self.task is None:
            self.task = self.progress.add_task("rounds", total=total, left="warm-up")

    def epoch(self, variant: str, index: int, seconds: float) -> None:
        self.console.print(f"  round {index}: {variant} {seconds:.3f} s")

    def round_end(self, index: int, total: int, seconds_left: Optional[float]) -> None:
        left = "warm-up" if seconds_left is None else f"about {seconds_left / 60:.1f} min left"
        self.progress.update(self.task, advance=1, left=left)


@app.command()
def timeit(
    dataset: Annotated[str, typer.Option(help="digits, cifar10, speech_commands, rcv1 or an .npz path (shapes of its backbone).")] = "cifar10",
    variants: Annotated[str, typer.Option(help="'all' or a comma-separated list of variants.")] = "all",
    rate: Annotated[float, typer.Option(help="Drop rate / noise strength in [0, 1).")] = 0.5,
    units: Annotated[int, typer.Option(help="Width of the regularization module.")] = 128,
    batch_size: Annotated[int, typer.Option(help="Batch size.")] = 128,
    epochs: Annotated[int, typer.Option(help="Rounds of one epoch per variant, warm-up included.")] = 6,
    warmup: Annotated[int, typer.Option(help="First rounds (compilation) excluded from the statistics.")] = 1,
    steps_per_epoch: Annotated[Optional[int], typer.Option(help="Steps per epoch (default: the data set's training size / batch size).")] = None,
    data: Annotated[Literal["synthetic", "real"], typer.Option(help="synthetic: random tensors of the data set's shapes; real: the loaders.")] = "synthetic",
    data_dir: DataDirOpt = None,
    sampler: Annotated[Optional[str], typer.Option(help="PerNode sampler to time (default auto: the fastest exact one).")] = None,
    max_minutes: Annotated[Optional[float], typer.Option(help="Stop after the round that passes this many minutes; report what was timed.")] = None,
    log: Annotated[Optional[str], typer.Option(help="Append one row per variant to this CSV file.")] = None,
    format: Annotated[Literal[FORMATS], typer.Option("--format", help="How to print the table.")] = "table",
    plugin: PluginOpt = None,
    quiet: Annotated[bool, typer.Option("--quiet", help="No progress on stderr (warnings are still printed).")] = False,
) -> None:
    """Time each variant's training epochs on the local device, interleaved (paper Table IV)."""
    from pernode_cli.plugins import load_plugins
    from pernode_cli.training.config import TimeitConfig
    from pernode_cli.training.environment import import_backend

    load_plugins(plugin or ())  # a plugin's variants are timed beside Dropout
    config = TimeitConfig(dataset=dataset, variants=variants, rate=rate, units=units, batch_size=batch_size,
                          epochs=epochs, warmup=warmup, steps_per_epoch=steps_per_epoch, data=data,
                          data_dir=data_dir, sampler=sampler, max_minutes=max_minutes)
    config.validate()  # bad input is refused before the backend's slow start
    if log:
        from pernode_cli.logs import LogLock

        LogLock(log).probe()  # an unusable log or a second writer too
    done: dict = {}

    def saved() -> str:
        if not done.get("records"):
            return "no round was timed after the warm-up" + (f"; {log} holds only whole rows" if log else "")
        n = done["records"][0].rounds - config.warmup
        return (f"kept the {n} timed round(s) that finished (shown above" + (f", appended to {log}" if log else "")
                + ")")

    with interruptible(saved) as signals:
        with _RoundProgress(Console(stderr=True, quiet=quiet, highlight=False)) as events:
            import_backend()
            from pernode_cli.training.timeit import run_timeit

            done["records"] = records = run_timeit(config, log=log, events=events, stopped=signals)
        if records:
            _show(records, format)
        if signals.received:  # the rounds that finished are logged and shown; end as interrupted
            raise KeyboardInterrupt()


def _show(records, format: str) -> None:
    from pernode_cli.report.timing import print_table, print_warnings, render

    print_warnings(records, Console(stderr=True, highlight=False))
    text = render(records, format)
    if text is None:
        print_table(records, Console(highlight=False))
    else:
        print(text)
