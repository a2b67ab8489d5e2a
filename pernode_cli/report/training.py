"""Rendering of training and sweep results: epoch lines and summary tables."""

from __future__ import annotations

import math

from rich.table import Table


def fmt(value, digits=4):
    if isinstance(value, float):
        return "nan" if math.isnan(value) else f"{value:.{digits}f}"
    return str(value)


def epoch_line(row: dict) -> str:
    line = (
        f"epoch {row['epoch']:>3}/{row['epochs']}  val_loss {fmt(row['val_loss'])}  "
        f"val_acc {fmt(row['val_acc'])}  train_loss {fmt(row['train_loss'])}  "
        f"fit_loss {fmt(row['fit_loss'])}  {row['epoch_seconds']:.2f}s"
    )
    if row.get("mc_val_loss") is not None:
        line += f"  mc_val_loss {fmt(row['mc_val_loss'])} ({row['mc_passes']} passes)"
    return line


def summary_table(config, result) -> Table:
    table = Table(title=f"{config.variant} on {config.dataset} (rate {config.rate}, units {config.units})")
    for col in ("", "epoch", "val_loss", "val_acc", "train_loss", "train_acc", "seconds"):
        table.add_column(col, justify="right")
    cols = ("epoch", "val_loss", "val_acc", "train_loss", "train_acc", "epoch_seconds")
    for label, row in (("best", result.best), ("last", result.rows[-1] if result.rows else None)):
        if row:
            table.add_row(label, *(fmt(row[c]) for c in cols))
    return table


def run_label(run) -> str:
    c = run.config
    return f"{c.variant} rate {c.rate} units {c.units} batch {c.batch_size} seed {c.seed}"


def dry_run_table(runs) -> Table:
    table = Table(title="Runs of this shard")
    for col in ("#", "run_id", "variant", "rate", "units", "batch", "seed", "status"):
        table.add_column(col)
    for r in runs:
        c = r.config
        table.add_row(str(r.index + 1), r.run_id, c.variant, str(c.rate), str(c.units), str(c.batch_size), str(c.seed), r.status)
    return table
