"""Append-only CSV logs: one flushed, fsynced line per write, header checked on open."""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path

from pernode_cli.errors import PernodeError

SCHEMA_VERSION = 2

TRAIN_COLUMNS = [
    "run_id",
    "timestamp",
    "dataset",
    "variant",
    "rate",
    "units",
    "batch_size",
    "seed",
    "epoch",
    "val_loss",
    "val_acc",
    "train_loss",
    "train_acc",
    "fit_loss",
    "fit_acc",
    "val_ece",
    "val_brier",
    "mc_samples",
    "mc_passes",
    "mc_val_loss",
    "mc_val_acc",
    "mc_val_ece",
    "epoch_seconds",
    "status",
    "lr",
    "epochs",
    "patience",
    "max_train_samples",
    "sampler",
    "backend",
    "backend_version",
    "device",
    "machine",
    "pernode_version",
    "schema_version",
]


def format_row(columns, row: dict) -> str:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerow(["" if row.get(c) is None else row.get(c) for c in columns])
    return buf.getvalue()


def format_header(columns) -> str:
    return format_row(columns, dict(zip(columns, columns)))


def read_header(path: Path) -> list[str] | None:
    with open(path, newline="") as f:
        first = f.readline()
    if not first:
        return None
    return next(csv.reader([first]))


def atomic_write(path: Path, text: str) -> None:
    """Write ``text`` to a temporary file beside ``path`` and rename it over ``path``."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with open(tmp, "w", newline="") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


class CsvLog:
    """A CSV log that only ever grows by whole lines.

    Opening checks that an existing file has the expected header (and never truncates
    it). A torn last line, left by a kill in the middle of a write, is not a record: it is
    dropped by an atomic rewrite before new rows are appended.
    """

    def __init__(self, path, columns=TRAIN_COLUMNS):
        self.path = Path(path)
        self.columns = list(columns)
        if self.path.is_dir():
            raise PernodeError(f"Log path {self.path} is a folder; give a file name such as logs.csv.")
        if self.path.exists() and self.path.stat().st_size > 0:
            try:
                header = read_header(self.path)
            except (OSError, UnicodeDecodeError, csv.Error) as exc:
                raise PernodeError(f"Cannot read log {self.path} ({exc}); pass another --log.") from None
            if header != self.columns:
                raise PernodeError(
                    f"Log {self.path} has a different header than pernode's schema "
                    f"{SCHEMA_VERSION} log; pass a new --log file (the existing one is left as it is)."
                )
            self._drop_torn_tail()
        else:
            parent = self.path.parent
            if not parent.exists():
                raise PernodeError(f"Folder {parent} of --log does not exist; create it first.")
            atomic_write(self.path, format_header(self.columns))

    def _drop_torn_tail(self) -> None:
        data = self.path.read_bytes()
        if data.endswith(b"\n"):
            return
        keep = data[: data.rfind(b"\n") + 1]
        atomic_write(self.path, keep.decode())

    def append(self, row: dict) -> None:
        line = format_row(self.columns, row).encode()
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND)
        try:
            os.write(fd, line)  # one write of a whole line: readers never see half a row
            os.fsync(fd)
        finally:
            os.close(fd)
