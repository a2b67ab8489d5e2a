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
from pernode_cli.cli import list as _list  # noqa: E402,F401
from pernode_cli.cli import plan as _plan  # noqa: E402,F401
from pernode_cli.cli import rank as _rank  # noqa: E402,F401
from pernode_cli.cli import report as _report  # noqa: E402,F401
from pernode_cli.cli import sweep as _sweep  # noqa: E402,F401
from pernode_cli.cli import timeit as _timeit  # noqa: E402,F401
from pernode_cli.cli import train as _train  # noqa: E402,F401


def main() -> None:
    """Console entry point: option-parsing errors become one line and exit code 2 too; a
    standard output that could not be written ends the command with one line and exit 1."""
    import signal

    from pernode_cli.cli.app import _Terminated
    from pernode_cli.cli.streams import finish, guard_streams

    def terminated(signum, frame):  # until a command installs its own handling (and after)
        raise _Terminated()

    signal.signal(signal.SIGTERM, terminated)
    out, _ = guard_streams()
    args = sys.argv[1:] or ["--help"]
    try:
        code = app(args=args, prog_name="pernode", standalone_mode=False) or 0
    except typer.TyperException as exc:  # wrong type, unknown option, missing argument
        ctx = getattr(exc, "ctx", None)
        where = ctx.command_path if ctx is not None else "pernode"
        error_line(f"{exc.format_message()} (see '{where} --help')")
        code = exc.exit_code
    except typer.Abort:
        error_line("aborted")
        code = 1
    except KeyboardInterrupt:  # a Ctrl-C outside any command's own handling (option parsing, say)
        error_line("interrupted")
        code = 130
    except _Terminated:
        error_line("terminated")
        code = 143
    problem = finish(out)
    if problem is not None and code == 0:
        if not out.broken_pipe:  # a reader that stopped reading (`| head`) chose to: no line for that
            error_line(f"standard output could not be written ({problem}); everything the command saves (logs, "
                       "timing logs, reports) is written, only what it shows is missing")
        code = 1
    sys.exit(code)


__all__ = ["app", "main"]
