"""The `pernode` command line: one module per command (parse options -> call the library ->
render), progress displays, and the one place that turns library errors into one red line
and exit code 2.

Heavy modules (TensorFlow, Keras, pandas) are imported inside the commands that need
them, so `pernode --help` stays fast and light.
"""

from __future__ import annotations

import sys

import typer

from pernode_cli.cli.app import app, error_line

# Each module registers its command on ``app``.
from pernode_cli.cli import export as _export  # noqa: E402,F401
from pernode_cli.cli import rank as _rank  # noqa: E402,F401
from pernode_cli.cli import report as _report  # noqa: E402,F401
from pernode_cli.cli import sweep as _sweep  # noqa: E402,F401
from pernode_cli.cli import timeit as _timeit  # noqa: E402,F401
from pernode_cli.cli import train as _train  # noqa: E402,F401


def main() -> None:
    """Console entry point: option-parsing errors become one line and exit code 2 too."""
    args = sys.argv[1:] or ["--help"]
    try:
        code = app(args=args, prog_name="pernode", standalone_mode=False)
    except typer.TyperException as exc:  # wrong type, unknown option, missing argument
        ctx = getattr(exc, "ctx", None)
        where = ctx.command_path if ctx is not None else "pernode"
        error_line(f"{exc.format_message()} (see '{where} --help')")
        sys.exit(exc.exit_code)
    except typer.Abort:
        error_line("aborted")
        sys.exit(1)
    sys.exit(code or 0)


__all__ = ["app", "main"]
