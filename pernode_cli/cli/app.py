"""The Typer app and its one exception boundary."""

from __future__ import annotations

import contextlib
import logging
import re
import signal
from typing import Annotated, Callable, Optional

import typer
from typer.core import TyperArgument, TyperGroup, TyperOption

from pernode_cli import __version__
from pernode_cli.errors import Interrupted, PernodeError

_ARGUMENT = re.compile(r"`([A-Za-z_][A-Za-z0-9_]*)`")


_display_type = TyperOption.display_type_rich
_GENERIC = re.compile(r"^<(str|int|float|list\[\w+\]|path|text|integer)>$")


def _flag_type(self, ctx):
    """What ``--help`` shows an option takes: nothing for a flag (--quiet, --dry-run, --help),
    the choices as ``<a|b>``, and otherwise a placeholder naming the value (``--data-dir DIR``,
    the option's name in capitals where none is declared), never a type such as ``<str>``."""
    if getattr(self, "is_flag", False) and not getattr(self, "count", False):
        return None
    shown = _display_type(self, ctx)
    if shown and _GENERIC.match(shown):
        return max(self.opts, key=len).lstrip("-").replace("-", "_").upper()
    return shown


def _argument_type(self, ctx):
    """An argument's placeholder is its name (``LOG...``): no type column beside it."""
    return None


TyperOption.display_type_rich = _flag_type
TyperArgument.display_type_rich = _argument_type


def error_line(message: str) -> None:
    from rich.console import Console
    from rich.markup import escape

    Console(stderr=True, highlight=False).print(f"[red]error:[/red] {escape(message)}", soft_wrap=True)


def as_options(message: str, command) -> str:
    """Word a library message for the command line: a backticked argument name that is one
    of the command's options becomes that option (`data_dir` -> --data-dir)."""
    options = {}
    for param in command.params if command is not None else []:
        if param.param_type_name == "option":
            options[param.name] = max(param.opts, key=len)
            for other in getattr(param, "secondary_opts", ()):  # --maximize/--minimize: `minimize` too
                options.setdefault(other.lstrip("-").replace("-", "_"), other)
        else:
            options[param.name] = param.name.upper()

    def word(match):
        return options.get(match.group(1), match.group(0))

    return _ARGUMENT.sub(word, message)


class _NoticeHandler(logging.Handler):
    """The library's one-line notices (a log mended, a stale lock taken over) on stderr."""

    def emit(self, record: logging.LogRecord) -> None:
        from rich.console import Console
        from rich.markup import escape

        Console(stderr=True, highlight=False).print(f"[yellow]note:[/yellow] {escape(record.getMessage())}",
                                                    soft_wrap=True)


def _show_notices() -> None:
    logger = logging.getLogger("pernode")
    if not any(isinstance(h, _NoticeHandler) for h in logger.handlers):
        logger.addHandler(_NoticeHandler())
        logger.setLevel(logging.INFO)
        logger.propagate = False


# Options whose value may be left out, and what they then mean: ``--ray`` alone is a local
# Ray instance. A following word is the value unless it is an option or a config file.
OPTIONAL_VALUES = {"--ray": "local"}


def fill_optional_values(args: list[str]) -> list[str]:
    out = []
    for i, arg in enumerate(args):
        out.append(arg)
        following = args[i + 1] if i + 1 < len(args) else None
        if arg in OPTIONAL_VALUES and (following is None or following.startswith("-") or following.endswith(".toml")):
            out.append(OPTIONAL_VALUES[arg])
    return out


@contextlib.contextmanager
def library_warnings():
    """No library's raw warning reaches the user: Python warnings raised while a command runs
    (NumPy's overflow, a backend's deprecation) are held, and a numeric one becomes one note in
    pernode's words. ``PERNODE_BACKEND_LOGS=1`` shows them all as they were."""
    import os
    import warnings

    if os.environ.get("PERNODE_BACKEND_LOGS") == "1":
        yield
        return
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            yield
        finally:
            numeric = sorted({str(w.message).split(" encountered")[0] for w in caught
                              if issubclass(w.category, RuntimeWarning) and "encountered" in str(w.message)})
            if numeric:
                logging.getLogger("pernode").info(
                    f"a computation met {' and '.join(numeric)} (values too large or undefined); the numbers it "
                    "touched are shown as n/a (null in JSON)")


class PernodeGroup(TyperGroup):
    """Library errors (``PernodeError``) from any command: one red line and the error's exit
    code (2 for bad input, 1 for a run that started and failed, 130/143 when interrupted)."""

    def parse_args(self, ctx, args):
        return super().parse_args(ctx, fill_optional_values(list(args)))

    def invoke(self, ctx):
        _show_notices()
        try:
            with library_warnings():
                return super().invoke(ctx)
        except typer.TyperException as exc:  # a command's options: wrong type or choice, unknown option
            sub = getattr(exc, "ctx", None)
            where = sub.command_path if sub is not None else "pernode"
            error_line(f"{exc.format_message()} (see '{where} --help')".replace("Value error, ", ""))
            raise typer.Exit(getattr(exc, "exit_code", 2)) from None
        except Interrupted as exc:
            from rich.console import Console

            Console(stderr=True, highlight=False).print(str(exc), soft_wrap=True, markup=False)
            raise typer.Exit(exc.exit_code) from None
        except PernodeError as exc:
            command = self.get_command(ctx, ctx.invoked_subcommand) if ctx.invoked_subcommand else None
            error_line(as_options(str(exc), command))
            raise typer.Exit(exc.exit_code) from None


class _Terminated(BaseException):
    """SIGTERM, raised in the main thread like Ctrl-C's KeyboardInterrupt."""


class Signals:
    """The Ctrl-C / SIGTERM that arrived inside ``interruptible`` (``received``, first first)."""

    def __init__(self):
        self.received: list = []

    def __call__(self) -> bool:
        return bool(self.received)

    def ending(self) -> tuple[str, int]:
        return ("interrupted", 130) if self.received[0] == signal.SIGINT else ("terminated", 143)


@contextlib.contextmanager
def interruptible(saved: Callable[[], str]):
    """Ctrl-C (exit 130) and SIGTERM (exit 143) end the command with one line saying what
    is saved (``saved()``); context managers inside (progress bars) restore the terminal.

    Whatever the signal interrupted (a C extension's import turns it into an ImportError,
    say), the command ends the same way once a signal has arrived. The ``Signals`` object
    yielded tells work that can stop cleanly (``timeit``'s rounds) that a signal came.
    """
    signals = Signals()

    def on_signal(signum, frame):
        from pernode_cli.logs import defer_interrupt

        signals.received.append(signum)

        def raise_it():
            raise KeyboardInterrupt() if signum == signal.SIGINT else _Terminated()

        if not defer_interrupt(raise_it):  # a row being written is finished first
            raise_it()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield signals
    except BaseException:
        if not signals.received:
            raise
        word, code = signals.ending()
        raise Interrupted(f"{word}: {saved()}", code) from None
    finally:
        for sig, handler in previous.items():
            # Once the command is ending on a signal, later ones (a second Ctrl-C, a signal
            # the interpreter still holds) change nothing: the command ends as it said.
            signal.signal(sig, signal.SIG_IGN if signals.received else handler)


def saved_in_log(log) -> Callable[[], str]:
    """What an interrupted `train` or `sweep` leaves: its log's finished rows, and how to go on."""

    def describe() -> str:
        from pernode_cli.logs import runs_in_log

        runs = runs_in_log(log)
        rows, done = sum(r.rows for r in runs.values()), sum(bool(r.end) for r in runs.values())
        return (f"{log} holds {rows} epoch row(s) of {len(runs)} run(s), {done} finished; "
                "run the same command again to resume")

    return describe


app = typer.Typer(
    name="pernode",
    cls=PernodeGroup,
    help="Benchmark stochastic regularizers (PerNodeDrop and its baselines) and rank them.",
    no_args_is_help=True,
    add_completion=True,  # --install-completion / --show-completion for bash, zsh, fish and PowerShell
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version_callback(value: bool) -> None:
    if value:
        typer.echo(f"pernode {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    version: Annotated[
        Optional[bool],
        typer.Option("--version", callback=_version_callback, is_eager=True, help="Print the version and exit."),
    ] = None,
) -> None:
    """Benchmark stochastic regularizers (PerNodeDrop and its baselines) and rank them.

    Backend start-up messages (TensorFlow's CUDA probing) are hidden; set
    PERNODE_BACKEND_LOGS=1 to see them.
    """


QuietOpt = Annotated[bool, typer.Option("--quiet", help="Print nothing but errors.")]
TensorBoardOpt = Annotated[Optional[str], typer.Option(
    help="Also copy every epoch live to this TensorBoard folder (one run per run id and attempt); the same as "
    "--track tensorboard:DIR.", show_default=False, metavar="DIR")]
MlflowOpt = Annotated[Optional[str], typer.Option(
    help="Also copy every epoch live to this MLflow tracking URI (sqlite:///mlflow.db, http(s)://HOST:PORT); the "
    "same as --track mlflow:URI.", show_default=False, metavar="URI")]
TrackOpt = Annotated[Optional[list[str]], typer.Option(
    "--track", help="A tracker that gets a copy of every epoch, as SCHEME:DESTINATION; repeatable: tensorboard:DIR, "
    "mlflow:URI, wandb:PROJECT (or wandb:ENTITY/PROJECT), or the scheme of an installed tracker (pernode list "
    "trackers).", show_default=False, metavar="SCHEME:DESTINATION")]
ExperimentOpt = Annotated[str, typer.Option(help="MLflow experiment of the live copy.", metavar="NAME")]
ExportTimeoutOpt = Annotated[float, typer.Option(
    help="Seconds to keep sending the live copy at the end; what is left is said (run pernode export later).",
    metavar="SECONDS")]


def export_command(log, tensorboard=None, mlflow=None, experiment="pernode", track=()) -> str:
    """The `pernode export` command that sends ``log`` to the same trackers, as it is typed: every
    destination (the aliases as given, each ``track`` item as ``--track``) and the experiment."""
    import shlex

    parts = ["pernode", "export", str(log)]
    if tensorboard is not None:
        parts += ["--tensorboard", str(tensorboard)]
    if mlflow is not None:
        parts += ["--mlflow", str(mlflow)]
    for item in track or ():
        parts += ["--track", str(item)]
    if str(experiment).strip() != "pernode":
        parts += ["--experiment", str(experiment).strip()]
    return shlex.join(parts)


def problem_printer(command: str) -> Callable[[str, str], None]:
    """``on_problem`` of the live copy: a tracker's first failed send, said at once, with the
    complete command that sends the rest."""

    def on_problem(tracker: str, message: str) -> None:
        from rich.console import Console
        from rich.markup import escape

        Console(stderr=True, highlight=False).print(
            f"[yellow]export:[/yellow] {escape(tracker)}: {escape(message)}; training goes on and the rows are "
            f"retried in the background (what is not sent by the end: {escape(command)})", soft_wrap=True)

    return on_problem


def unsent_printer(log, command: str) -> Callable[[list], None]:
    """``on_unsent`` of the live copy: one line per run that could not be sent, then the command
    that sends it later. The CSV is the truth and the command's result: an export that failed
    changes no exit code of `train` or `sweep` (`pernode export`, whose result is the copy, exits 1)."""

    def on_unsent(lines: list) -> None:
        from rich.console import Console
        from rich.markup import escape

        err = Console(stderr=True, highlight=False)
        for line in lines:
            err.print(f"[yellow]export:[/yellow] {escape(line)}", soft_wrap=True)
        err.print(f"[yellow]export:[/yellow] {escape(str(log))} holds every row; to send the rest later, run: "
                  f"{escape(command)}", soft_wrap=True)

    return on_unsent


PluginOpt = Annotated[Optional[list[str]], typer.Option(
    "--plugin", help="A module (name or .py path) that registers variants, data sets or backbones; repeatable. "
    "Installed packages' pernode.plugins entry points load without it.", show_default=False)]
