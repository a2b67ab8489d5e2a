"""Rendering of training and sweep results: epoch lines and summary tables."""

from __future__ import annotations

from rich.table import Table

from pernode_cli.rendering.numbers import fixed
from pernode_cli.rendering.numbers import measured as fmt


def epoch_line(row: dict) -> str:
    line = (
        f"epoch {row['epoch']:>3}/{row['epochs']}  val_loss {fmt(row['val_loss'])}  "
        f"val_acc {fmt(row['val_acc'])}  train_loss {fmt(row['train_loss'])}  "
        f"fit_loss {fmt(row['fit_loss'])}  {fixed(row['epoch_seconds'], 2)}s"
    )
    if row.get("mc_val_loss") is not None:
        line += f"  mc_val_loss {fmt(row['mc_val_loss'])} ({row['mc_passes']} passes)"
    return line


def summary_table(config, result) -> Table:
    rate = "no rate" if config.rate is None else f"rate {config.rate}"
    table = Table(title=f"{config.variant} on {config.dataset} ({rate}, units {config.units})")
    for col in ("", "epoch", "val_loss", "val_acc", "train_loss", "train_acc", "seconds"):
        table.add_column(col, justify="right")
    cols = ("epoch", "val_loss", "val_acc", "train_loss", "train_acc", "epoch_seconds")
    for label, row in (("best", result.best), ("last", result.rows[-1] if result.rows else None)):
        if row:
            table.add_row(label, *(fmt(row[c]) for c in cols))
    return table


def run_label(run) -> str:
    c = run.config
    rate = "no rate" if c.rate is None else f"rate {c.rate}"
    return f"{c.variant} {rate} units {c.units} batch {c.batch_size} seed {c.seed}"


DRY_RUN_COLUMNS = (("#", None), ("run_id", None), ("variant", "variant"), ("rate", "rate"), ("units", "units"),
                   ("batch", "batch_size"), ("seed", "seed"), ("status", None))
RICH_ROWS = 200  # larger plans are printed as plain aligned text: Rich lays out a table cell by cell


def _dry_run_columns(table) -> list:
    cols = table.columns
    return [[str(i + 1) for i in table.index], list(table.run_id), *[["every" if v is None else str(v) for v in
                                                                       cols.get(k, ())] for _, k in
                                                                      DRY_RUN_COLUMNS[2:7]], list(table.status)]


def dry_run_table(table) -> Table:
    """A Rich table of a plan (``sweep.plan.PlanTable``)."""
    out = Table(title="Runs of this shard")
    for head, _ in DRY_RUN_COLUMNS:
        out.add_column(head)
    for row in zip(*_dry_run_columns(table)):
        out.add_row(*row)
    return out


def dry_run_text(table) -> str:
    """The same plan as plain aligned text, fast for any size."""
    columns = _dry_run_columns(table)
    heads = [h for h, _ in DRY_RUN_COLUMNS]
    widths = [max([len(h)] + [len(v) for v in col]) for h, col in zip(heads, columns)]
    line = "  ".join("{:<%d}" % w for w in widths)
    rows = [line.format(*heads), line.format(*("-" * w for w in widths))]
    rows += [line.format(*row) for row in zip(*columns)]
    return "\n".join(rows) + "\n"
