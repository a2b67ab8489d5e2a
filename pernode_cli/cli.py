"""The `pernode` command line. Commands parse options and call library functions.

Heavy modules (TensorFlow, Keras, pandas) are imported inside the commands that need
them, so `pernode --help` stays fast and light.
"""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from pernode_cli import __version__
from pernode_cli.errors import PernodeError

app = typer.Typer(
    name="pernode",
    help="Benchmark stochastic regularizers (PerNodeDrop and its baselines) and rank them.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _fail(message: str) -> None:
    from rich.console import Console

    Console(stderr=True, highlight=False).print(f"[red]error:[/red] {message}", soft_wrap=True)
    raise typer.Exit(2)


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
    """Benchmark stochastic regularizers (PerNodeDrop and its baselines) and rank them."""


def main() -> None:
    try:
        app()
    except PernodeError as exc:  # raised outside a command body (e.g. in a callback)
        try:
            _fail(str(exc))
        except typer.Exit as stop:
            raise SystemExit(stop.exit_code) from None


if __name__ == "__main__":
    main()
