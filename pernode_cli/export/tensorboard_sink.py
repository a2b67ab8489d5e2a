"""TensorBoard event files without TensorFlow, on every Keras backend.

Written with the ``tensorboard`` package's own pieces that do not need TensorFlow: the
record writer (``tensorboard.summary.writer.record_writer.RecordWriter``), the scalar and
hparams plugins' summary protos (``scalar_pb``, ``hparams_pb``) and the stub record reader.
(TensorBoard's ``EventFileWriter`` and ``EventFileLoader`` import TensorFlow whenever it is
installed, through ``tensorboard.compat.tf``; these do not.)

The tracker ``tensorboard:DIR`` (``--tensorboard DIR``): a folder, created if missing inside
an existing folder. Layout: ``DIR/RUN_ID/attempt-N/`` is one TensorBoard run and one hparams
session per run id and attempt, holding every metric column at step = epoch (TensorBoard
stores scalars as float32) and the settings as hyperparameters (numbers, text and booleans;
a whole-number setting is the number itself, seed 0 not "0.0"). The session's trial is the
run's readable name (``Dropout r0.3 s0``, ``names.RunNames``): the HParams dashboard's
Trial ID. Before writing, the run's folder is read:
what it holds already is not written again, so exporting the same epochs twice adds
nothing. Events carry the rows' own ``timestamp`` as their wall time.
"""

from __future__ import annotations

import os
import socket
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from pernode_cli.errors import PernodeError
from pernode_cli.export.columns import row_epoch, split_row
from pernode_cli.export.engine import Sink
from pernode_cli.export.trackers import register_tracker, require
from pernode_cli.paths import real_path, safe_name

HPARAMS_TAG = "_hparams_/session_start_info"
_files_made = 0


def wall_time(row: dict) -> float:
    """The row's own time (its ``timestamp``), so that a re-export writes the same events."""
    try:
        return datetime.fromisoformat(str(row.get("timestamp")).strip()).timestamp()
    except (TypeError, ValueError):
        return time.time()


def run_folder(root: Path, run_id: str, attempt: int) -> Path:
    return Path(root) / safe_name(run_id) / f"attempt-{int(attempt)}"


def event_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.glob("*tfevents*") if p.is_file()) if folder.is_dir() else []


def read_events(path: Path):
    """The events of one file in order, up to a torn last record (TensorBoard's stub reader)."""
    from tensorboard.compat.proto import event_pb2
    from tensorboard.compat.tensorflow_stub import errors, pywrap_tensorflow

    reader = pywrap_tensorflow.PyRecordReader_New(str(path))
    while True:
        try:
            reader.GetNext()
        except errors.OutOfRangeError:
            return
        except errors.DataLossError:  # a record cut short by a killed writer: what follows is unreadable
            return
        yield event_pb2.Event.FromString(reader.record())


@dataclass(eq=False)
class TensorBoardRun:
    folder: Path
    trial: str
    start: float
    hparams: dict = field(default_factory=dict)
    present: set = field(default_factory=set)  # (tag, step) the folder holds
    file_time: int = 0  # the newest event file's time stamp: a new file must sort after it
    writer: object = None
    handle: object = None


class TensorBoardSink(Sink):
    def __init__(self, folder):
        self.root = Path(folder)
        self.name = f"TensorBoard {folder}"
        self.open_files: list = []

    def start(self) -> None:
        from tensorboard.plugins.hparams import summary_v2  # noqa: F401  (fails here, once, if missing)

        self.root.mkdir(parents=True, exist_ok=True)

    def open_run(self, run_id, attempt, params, tags, first_row, name):
        folder = run_folder(self.root, run_id, attempt)
        hparams = {k: v for k, v in params.items() if isinstance(v, (bool, int, float, str))}
        run = TensorBoardRun(folder=folder, trial=name or f"{run_id}/attempt-{attempt}", start=wall_time(first_row),
                             hparams=hparams)
        for path in event_files(folder):
            try:
                run.file_time = max(run.file_time, int(path.name.split("tfevents.")[1].split(".")[0]))
            except (IndexError, ValueError):
                pass
            for event in read_events(path):
                for value in event.summary.value:
                    run.present.add((value.tag, event.step))
        return run, bool(run.present)

    def _writer(self, run: TensorBoardRun):
        global _files_made
        from tensorboard.compat.proto import event_pb2
        from tensorboard.summary.writer.record_writer import RecordWriter

        run.folder.mkdir(parents=True, exist_ok=True)
        _files_made += 1
        stamp = max(int(time.time()), run.file_time + 1)
        run.file_time = stamp
        name = f"events.out.tfevents.{stamp:010d}.{safe_name(socket.gethostname())}.{os.getpid()}.{_files_made}.pernode"
        run.handle = open(run.folder / name, "wb")
        run.writer = RecordWriter(run.handle)
        self.open_files.append(run)
        run.writer.write(event_pb2.Event(wall_time=time.time(), file_version="brain.Event:2").SerializeToString())
        return run.writer

    def send(self, run: TensorBoardRun, rows: list) -> tuple[int, int]:
        from tensorboard.compat.proto import event_pb2
        from tensorboard.plugins.hparams.summary_v2 import hparams_pb
        from tensorboard.plugins.scalar.summary_v2 import scalar_pb

        events, written, present = [], 0, 0
        if (HPARAMS_TAG, 0) not in run.present and run.hparams:
            summary = hparams_pb(run.hparams, trial_id=run.trial, start_time_secs=run.start)
            events.append(event_pb2.Event(wall_time=run.start, step=0, summary=summary))
        new = []
        for row in rows:
            step, when = row_epoch(row), wall_time(row)
            _, metrics, _ = split_row(row)
            values = [(tag, v) for tag, v in metrics.items() if (tag, step) not in run.present]
            if not values:
                present += 1
                continue
            written += 1
            for tag, v in values:
                events.append(event_pb2.Event(wall_time=when, step=step, summary=scalar_pb(tag, v)))
                new.append((tag, step))
        if events:
            writer = run.writer or self._writer(run)
            for event in events:
                writer.write(event.SerializeToString())
            writer.flush()
            run.present.update(new)
            if events[0].summary.value[0].tag == HPARAMS_TAG:
                run.present.add((HPARAMS_TAG, 0))
        return written, present

    def end(self, run: TensorBoardRun, rows: list, tags: dict) -> None:
        self._close(run)

    def _close(self, run: TensorBoardRun) -> None:
        if run.writer is not None:
            run.writer.flush()
            run.handle.close()
            run.writer = run.handle = None
        if run in self.open_files:
            self.open_files.remove(run)

    def close(self) -> None:
        for run in list(self.open_files):  # runs that never ended (an interrupted sweep)
            self._close(run)

    def permanent(self, exc: BaseException) -> bool:
        return not isinstance(exc, OSError)  # a full or unwritable disk may recover


def tensorboard_folder(folder) -> Path:
    """A folder for TensorBoard runs: created if missing, inside an existing folder."""
    if not str(folder).strip():
        raise PernodeError("`tensorboard` is empty; give a folder for the TensorBoard runs.")
    path = real_path(Path(str(folder)).expanduser(), "`tensorboard` folder")  # a loop of links: one line
    if path.exists() and not path.is_dir():
        raise PernodeError(f"`tensorboard` {path} is a file; give a folder for the TensorBoard runs.")
    if not path.exists() and not path.parent.is_dir():
        raise PernodeError(f"Folder {path.parent} of `tensorboard` {path.name} does not exist; create it first.")
    return path


def open_tensorboard(destination: str, experiment: str) -> TensorBoardSink:
    """``tensorboard:DIR``: the folder checked now, nothing written yet (``experiment``: unused)."""
    folder = tensorboard_folder(destination)
    require("tensorboard")
    return TensorBoardSink(folder)


register_tracker("tensorboard", open_tensorboard, extra="tensorboard",
                 description="TensorBoard event files in DIR/RUN_ID/attempt-N: every metric at step = epoch, the "
                             "settings as HParams (tensorboard:DIR, or --tensorboard DIR)")
