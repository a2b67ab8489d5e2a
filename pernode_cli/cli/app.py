"""The Typer app and its one exception boundary."""

from __future__ import annotations

import re
from typing import Annotated, Optional

import typer
from typer.core import TyperGroup

from pernode_cli import __version__
from pernode_cli.errors import PernodeError

_ARGUMENT = re.compile(r"`([A-Za-z_][A-Za-z0-9_]*)`")


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
        else:
            options[param.name] = param.name.upper()

    def word(match):
        return options.get(match.group(1), match.group(0))

    return _ARGUMENT.sub(word, message)


class PernodeGroup(TyperGroup):
    """Library errors (``PernodeError``) from any command: one red line, exit code 2."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except PernodeError as exc:
            command = self.get_command(ctx, ctx.invoked_subcommand) if ctx.invoked_subcommand else None
            error_line(as_options(str(exc), command))
            raise typer.Exit(2) from None


app = typer.Typer(
    name="pernode",
    cls=PernodeGroup,
    help="Benchmark stochastic regularizers (PerNodeDrop and its baselines) and rank them.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
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


DatasetOpt = Annotated[
    str, typer.Option(help="digits (embedded), cifar10, speech_commands, rcv1, or a path to an .npz file.")
]
DataDirOpt = Annotated[
    Optional[str], typer.Option(help="Folder (or archive) holding an already downloaded copy of the data set.")
]
QuietOpt = Annotated[bool, typer.Option("--quiet", help="Print nothing but errors.")]
