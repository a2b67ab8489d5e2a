"""The tracker ``record:FILE.jsonl``: what pernode sends, one JSON object a line.

A tracker is this module: a ``Sink`` that pernode's export engine drives from its own thread,
an ``open(destination, experiment)`` that checks the destination at once, and one call to
``register_tracker``. Lines written::

    {"event": "open", "run_id": ..., "attempt": 1, "name": "Dropout r0.3 s0", "experiment": ...,
     "params": {...}, "tags": {...}}
    {"event": "epoch", "run_id": ..., "attempt": 1, "epoch": 1, "metrics": {"val_loss": ...}}
    {"event": "end", "run_id": ..., "attempt": 1, "run_end": "epochs", "epochs": 3}

An epoch or end the file holds already is not written again, so an export repeated adds nothing.
"""

import json
import os
from pathlib import Path

import pernode_cli
from pernode_cli.errors import PernodeError
from pernode_cli.export import Sink
from pernode_cli.export.columns import row_epoch, split_row


class RecordingSink(Sink):
    def __init__(self, path: Path, experiment: str):
        self.path, self.experiment = path, experiment
        self.name = f"record {path}"

    def _write(self, **event) -> None:
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(json.dumps(event, sort_keys=True) + "\n")
            f.flush()
            os.fsync(f.fileno())

    def _held(self, run_id: str, attempt: int) -> list:
        """The events the file holds of this run and attempt."""
        if not self.path.exists():
            return []
        events = [json.loads(line) for line in self.path.read_text(encoding="utf-8").splitlines() if line]
        return [e for e in events if (e["run_id"], e["attempt"]) == (run_id, attempt)]

    def open_run(self, run_id, attempt, params, tags, first_row, name):
        held = self._held(run_id, attempt)
        if not held:
            self._write(event="open", run_id=run_id, attempt=attempt, name=name, experiment=self.experiment,
                        params=params, tags=tags)
        run = {"run_id": run_id, "attempt": attempt, "held": {e["epoch"] for e in held if e["event"] == "epoch"},
               "ends": [(e["run_end"], e["epochs"]) for e in held if e["event"] == "end"]}
        return run, bool(held)

    def send(self, run, rows):
        written = 0
        for row in rows:
            epoch = row_epoch(row)
            if epoch in run["held"]:
                continue
            self._write(event="epoch", run_id=run["run_id"], attempt=run["attempt"], epoch=epoch,
                        metrics=split_row(row)[1])
            run["held"].add(epoch)
            written += 1
        return written, len(rows) - written

    def end(self, run, rows, tags):
        end = (str(rows[-1].get("run_end") or ""), len(rows))
        if end not in run["ends"]:  # this end is recorded already: an export again
            self._write(event="end", run_id=run["run_id"], attempt=run["attempt"], run_end=end[0], epochs=end[1])
            run["ends"].append(end)


def open_recorder(destination: str, experiment: str) -> RecordingSink:
    """``record:FILE.jsonl``: a file in an existing folder, checked now; nothing written yet."""
    path = Path(destination).expanduser()
    if not destination.strip() or path.is_dir():
        raise PernodeError(f"record:{destination}: give a file for the recorded events, e.g. record:runs.jsonl.")
    if not path.resolve().parent.is_dir():
        raise PernodeError(f"record:{destination}: folder {path.resolve().parent} does not exist; create it first.")
    return RecordingSink(path.resolve(), experiment)


pernode_cli.register_tracker("record", open_recorder,
                             description="every run, epoch and end sent, as JSON lines (record:FILE.jsonl)")
