"""`pernode export`: existing logs sent after the fact, each attempt as the log holds it.

Rows are read as text cells (the log's own lines, a torn last line left out as every
reader of the log does), grouped by run id and attempt, and handed to the same engine as a
live export: ``epoch`` for each row, then ``run_end`` with all of them. Finished attempts
(a row with ``run_end``) and unfinished ones (interrupted, or still being trained) are
both sent as far as they got; MLflow marks the unfinished ones KILLED and tags them
``pernode.finished = false``, and a later export adds the epochs they gained meanwhile.
A second export of the same logs adds nothing.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from pathlib import Path

from pernode_cli.errors import PernodeError
from pernode_cli.paths import existing_file
from pernode_cli.export.columns import row_epoch, run_key
from pernode_cli.export.engine import Exporters


@dataclass
class LoggedAttempt:
    """One attempt of one run as a log holds it (rows in file order, each epoch once)."""

    run_id: str
    attempt: int
    source: str
    rows: list = field(default_factory=list)
    finished: bool = False
    epochs: dict = field(default_factory=dict, repr=False)  # epoch -> (row, file)


@dataclass
class LoggedRuns:
    attempts: list  # LoggedAttempt, in the order first met
    files: list  # the logs read, each once, in the order named
    notes: list  # rows left out as unusable, in words
    conflicts: list  # epochs two logs hold with different rows (the first read is exported), in words


def _read_text(path: Path) -> tuple[list, list]:
    from pernode_cli.logs import whole_text, read_header

    existing_file(path, "Log")
    try:
        header = read_header(path) or []
        text, _ = whole_text(path, header)
        rows = list(csv.DictReader(io.StringIO(text)))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise PernodeError(f"Cannot read log {path} as CSV ({exc}).") from None
    if not header:
        raise PernodeError(f"Log {path} is empty; give a log written by pernode train or sweep.")
    missing = [c for c in ("run_id", "epoch") if c not in header]
    if missing:
        raise PernodeError(f"Log {path} has no {' or '.join(missing)} column; it is not a training log of pernode.")
    if rows:  # the cells every reader of a log checks (``logs.check_cells``), before anything is sent
        import pandas as pd

        from pernode_cli.logs import check_cells

        check_cells(pd.DataFrame([[r.get(c) for c in header] for r in rows], columns=header, dtype="string"),
                    path, text, header)
    return header, rows


def read_attempts(patterns: list[str]) -> LoggedRuns:
    """Every attempt of every log matching ``patterns`` (paths or globs, each file once)."""
    from pernode_cli.logs import expand

    attempts: dict[tuple, LoggedAttempt] = {}
    paths, notes, conflicts = expand(patterns), [], {}
    for path in paths:
        source = str(path.resolve())
        _, rows = _read_text(path)
        unusable = 0
        for row in rows:
            row = {k: v for k, v in row.items() if k is not None}  # cells beyond the header are not the log's
            run_id, attempt = run_key(row)
            epoch = row_epoch(row)
            if not run_id or epoch is None:
                unusable += 1
                continue
            entry = attempts.setdefault((run_id, attempt), LoggedAttempt(run_id, attempt, source))
            if epoch in entry.epochs:  # the same epoch again (a merged copy of a shard log): sent once
                first, where = entry.epochs[epoch]
                if {k: v for k, v in first.items() if k != "source"} != row:
                    conflicts.setdefault((run_id, attempt, where, path), []).append(epoch)
                continue
            entry.epochs[epoch] = (row, path)
            entry.rows.append(row)
            entry.finished = entry.finished or bool(str(row.get("run_end") or "").strip())
        if unusable:
            notes.append(f"{path}: {unusable} row(s) without a run_id or an integer epoch left out")
    if not attempts:
        raise PernodeError(f"The log(s) {', '.join(map(str, paths))} hold no rows to export.")
    lines = [f"run {run_id} attempt {attempt}: {len(epochs)} epoch(s) in {second} differ from {first}; those of "
             f"{first} were exported" for (run_id, attempt, first, second), epochs in conflicts.items()]
    return LoggedRuns(list(attempts.values()), [str(p) for p in paths], notes, lines)


def send_attempts(runs: LoggedRuns, exporters: Exporters) -> None:
    """Hand every attempt to ``exporters``, epoch by epoch, as a live run would; every attempt is
    announced first, so that the runs' names say what differs among all of them."""
    for a in runs.attempts:
        exporters.announce(a.run_id, a.attempt, a.rows[0])
    for a in runs.attempts:
        rows = sorted(a.rows, key=row_epoch)
        exporters.run_start(a.run_id, a.attempt, tags={"source": a.source})
        for row in rows:
            exporters.epoch(a.run_id, a.attempt, row)
        exporters.run_end(a.run_id, a.attempt, rows)


@dataclass
class Exported:
    """What one export did: the attempts read from ``files`` logs, what each tracker received,
    and what was not sent (``problems``: one line each; empty when every tracker holds it all)."""

    logs: list
    attempts: int
    unfinished: list  # "RUN_ID attempt N" of the attempts sent as far as they got
    trackers: list  # engine.SinkSummary, one per tracker
    problems: list
    notes: list

    def to_dict(self) -> dict:
        from dataclasses import asdict

        return {"logs": list(self.logs), "attempts": self.attempts, "finished": self.attempts - len(self.unfinished),
                "unfinished": list(self.unfinished), "trackers": [asdict(s) for s in self.trackers],
                "not_sent": list(self.problems), "notes": list(self.notes)}


def export_logs(logs, track=(), tensorboard=None, mlflow=None, experiment: str = "pernode",
                timeout: float = 60.0, on_note=None) -> Exported:
    """Send every attempt of ``logs`` (paths or globs) to the trackers (``track`` items
    ``SCHEME:DESTINATION``; ``tensorboard``/``mlflow``: the aliases), retrying a tracker that
    does not answer for ``timeout`` seconds. A second export of the same logs adds nothing.
    ``on_note(line)`` hears of rows left out, before anything is sent."""
    from pernode_cli.checks import check_positive_number
    from pernode_cli.export import open_exporters

    if tensorboard is None and mlflow is None and not track:
        raise PernodeError("Nothing to export to: give `track` SCHEME:DESTINATION (repeatable: tensorboard:DIR, "
                           "mlflow:URI, wandb:PROJECT), or give `tensorboard` (a folder) or `mlflow` (a tracking URI).")
    check_positive_number("timeout", timeout)
    patterns = [str(p) for p in ([logs] if isinstance(logs, (str, Path)) else logs)]
    runs = read_attempts(patterns)
    exporters = open_exporters(track=list(track or ()), tensorboard=tensorboard, mlflow=mlflow, experiment=experiment)
    for note in runs.notes:
        if on_note is not None:
            on_note(note)
    send_attempts(runs, exporters)
    problems = exporters.close(timeout_s=timeout)
    unfinished = [f"{a.run_id} attempt {a.attempt}" for a in runs.attempts if not a.finished]
    return Exported(runs.files, len(runs.attempts), unfinished, exporters.summaries(), runs.conflicts + problems,
                    runs.notes)
