"""Every read and write of CSV logs.

Writing: append-only logs that grow by whole lines, each flushed and fsynced; the header
is checked on open. Reading: logs merged into one pandas frame, one clear error per
unusable file. Columns come from the record that declares them (``EpochRow``,
``TimingRecord``).
"""

from __future__ import annotations

import csv
import glob
import io
import os
from pathlib import Path

from pernode_cli import SCHEMA_VERSION
from pernode_cli.errors import PernodeError
from pernode_cli.training.records import TRAIN_COLUMNS


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
                raise PernodeError(f"Cannot read log {self.path} ({exc}); give another `log`.") from None
            if header != self.columns:
                raise PernodeError(
                    f"Log {self.path} has a different header than pernode's schema "
                    f"{SCHEMA_VERSION} log; give a new `log` file (the existing one is left as it is)."
                )
            self._drop_torn_tail()
        else:
            parent = self.path.parent
            if not parent.exists():
                raise PernodeError(f"Folder {parent} of the log {self.path.name} does not exist; create it first.")
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


def logged_run_ids(log: Path) -> set[str]:
    if not log.exists():
        return set()
    with open(log, newline="") as f:
        reader = csv.reader(f)
        next(reader, None)
        return {row[0] for row in reader if row}


def drop_rows(log: Path, run_id: str) -> int:
    """Remove every row of ``run_id`` by rewriting the log to a temporary file and renaming it."""
    with open(log, newline="") as f:
        rows = list(csv.reader(f))
    header, body = rows[0], rows[1:]
    keep = [r for r in body if r and r[0] != run_id]
    text = format_header(header) + "".join(format_row(header, dict(zip(header, r))) for r in keep)
    atomic_write(log, text)
    return len(body) - len(keep)


def has_rows(log: Path) -> bool:
    with open(log) as f:
        return sum(1 for _ in f) > 1


def expand(patterns: list[str]) -> list[Path]:
    paths: list[Path] = []
    for pattern in patterns:
        matches = sorted(glob.glob(pattern)) if any(c in pattern for c in "*?[") else [pattern]
        if not matches:
            raise PernodeError(f"No log matches {pattern!r}.")
        paths.extend(Path(m) for m in matches)
    return paths


def read_logs(patterns: list[str]):
    """Every log matching ``patterns`` (files or globs) as one pandas frame."""
    import pandas as pd

    frames = []
    for path in expand(patterns):
        if not path.is_file():
            raise PernodeError(f"Log {path} does not exist or is not a file.")
        try:
            frame = pd.read_csv(path)
        except pd.errors.EmptyDataError:
            raise PernodeError(f"Log {path} is empty; give a log written by pernode train or sweep.") from None
        except (pd.errors.ParserError, UnicodeDecodeError, OSError) as exc:
            raise PernodeError(f"Cannot read log {path} as CSV ({str(exc).splitlines()[0]}).") from None
        if frame.empty:
            raise PernodeError(f"Log {path} has a header but no rows.")
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)
