"""`pernode rank`: read logs, rank, render. Imports neither TensorFlow nor Keras."""

from __future__ import annotations

from pernode_cli.errors import PernodeError
from pernode_cli.logio import read_logs
from pernode_cli.rank import rank_frame
from pernode_cli.render import FORMATS, print_tables, render


def run_rank_command(*, logs, top, table_top, metric, dataset, fmt, plots) -> None:
    if fmt not in FORMATS:
        raise PernodeError(f"--format must be one of {', '.join(FORMATS)}; got {fmt!r}.")
    rankings = rank_frame(read_logs(logs), metric=metric, top=top, table_top=table_top, dataset=dataset)
    from rich.console import Console

    console = Console(highlight=False)
    text = render(rankings, fmt)
    if text is None:
        print_tables(rankings, console)
    else:
        print(text)
    if plots:
        from pernode_cli.plots import write_plots

        written = write_plots(rankings, plots)
        Console(stderr=True, highlight=False).print(f"wrote {len(written)} figures to {plots}")
