"""`pernode timeit`: epoch time of each variant on the local device (paper Table IV).
Needs Keras, not TensorFlow."""

from __future__ import annotations

import inspect
from typing import Literal, Optional

from rich.console import Console

from pernode_cli.cli.app import PluginOpt, app, interruptible
from pernode_cli.cli.options import command, extra, library_values, parameters
from pernode_cli.rendering.timing import FORMATS


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


def timeit(*, log: Optional[str] = None, format: str = "table", plugin=None, quiet: bool = False, **settings) -> None:
    """Time each variant's training epochs on the local device, interleaved (paper Table IV)."""
    from pernode_cli.plugins import load_plugins
    from pernode_cli.training.config import TimeitConfig
    from pernode_cli.training.environment import import_backend

    load_plugins(plugin or ())  # a plugin's variants are timed beside Dropout
    config = TimeitConfig(**library_values(TimeitConfig, settings))
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
    from pernode_cli.rendering.timing import print_table, print_warnings, render

    print_warnings(records, Console(stderr=True, highlight=False))
    text = render(records, format)
    if text is None:
        print_table(records, Console(highlight=False))
    else:
        print(text)


def _register() -> None:
    from pernode_cli.training.config import TimeitConfig

    params = parameters(TimeitConfig) + [
        extra("log", Optional[str], None, "Append one row per variant to this CSV file.", show_default=False),
        extra("format", Literal[FORMATS], "table", "How to print the table."),
        inspect.Parameter("plugin", inspect.Parameter.KEYWORD_ONLY, default=None, annotation=PluginOpt),
        extra("quiet", bool, False, "No progress on stderr (warnings are still printed).", flag="--quiet"),
    ]
    command(app, "timeit", params, timeit)


_register()
