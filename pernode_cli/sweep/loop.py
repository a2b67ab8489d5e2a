"""The sweep loop: train every pending run of a shard, record each outcome, go on after failures.

A run counts as finished only once the state file says so, and the state file is replaced
atomically after the run's last row is on disk. So after a kill at any moment every
finished run has all its rows, and the rows of the run that was cut short are removed (by
an atomic rewrite of the log) when that run starts again.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

from pernode_cli.data import load_dataset
from pernode_cli.errors import PernodeError
from pernode_cli.logs import CsvLog, drop_rows, logged_run_ids
from pernode_cli.sweep.config import SweepConfig
from pernode_cli.sweep.plan import PlannedRun, plan
from pernode_cli.sweep.state import SweepState, open_state


@dataclass
class SweepReport:
    skipped: int
    ran: int = 0
    failures: list = field(default_factory=list)  # (run_id, message)
    stopped_early: bool = False


class SweepEvents:
    """Hooks for progress output; the default does nothing."""

    def sweep_start(self, pending: int, total: int) -> None: ...

    def run_start(self, run: PlannedRun, epochs: int) -> None: ...

    def epoch(self, row: dict) -> None: ...

    def run_end(self, run: PlannedRun, message: str) -> None: ...


def dry_run(config: SweepConfig, log, shard: tuple[int, int] = (1, 1)) -> list[PlannedRun]:
    """The runs of the shard with their status; trains nothing and writes nothing."""
    return plan(config, shard, open_state(Path(log), config, shard))


class _DataCache:
    """Each (data set, data_dir, seed) is loaded once per sweep."""

    def __init__(self):
        self.loaded = {}

    def get(self, c):
        key = (c.dataset, c.data_dir, c.seed)
        if key not in self.loaded:
            self.loaded[key] = load_dataset(*key)
        return self.loaded[key]


def _train_one(run: PlannedRun, train, csv_log, state: SweepState, events, data) -> tuple[bool, str]:
    """Train one run and record its outcome; ``(ok, message)``."""
    try:
        result = train(run.config, csv_log, on_epoch=events.epoch, dataset=data.get(run.config), run_id=run.run_id)
    except PernodeError:
        raise  # bad input (e.g. a missing data set) concerns every run: stop the sweep
    except Exception as exc:  # one run's crash must not end the sweep
        message = f"{type(exc).__name__}: {exc}".splitlines()[0]
        state.mark_failed(run.run_id, message)
        return False, f"failed ({message})"
    state.mark_finished(run.run_id, not result.failed)
    if result.failed:
        return False, result.message
    best = result.best
    return True, f"best val_loss {best['val_loss']:.4f} at epoch {best['epoch']}" if best else "done"


def run_sweep(config: SweepConfig, log, shard: tuple[int, int] = (1, 1), fail_fast: bool = False,
              events: Optional[SweepEvents] = None, train: Optional[Callable] = None) -> SweepReport:
    """Train every unfinished run of ``shard`` of ``config``'s grid, appending to ``log``."""
    from pernode_cli.training.run import train_run

    events, train, log = events or SweepEvents(), train or train_run, Path(log)
    state = open_state(log, config, shard)
    runs = plan(config, shard, state)
    csv_log = CsvLog(log)
    if not state.path.exists():
        state.save()
    present = logged_run_ids(log)
    pending = [r for r in runs if not r.finished]
    report = SweepReport(skipped=len(runs) - len(pending))
    report.failures = [(r.run_id, "non-finite loss") for r in runs if r.status == "nonfinite"]
    events.sweep_start(len(pending), len(runs))
    data = _DataCache()
    for run in pending:
        if run.run_id in present:
            drop_rows(log, run.run_id)  # rows of an interrupted or failed attempt
        events.run_start(run, run.config.epochs)
        ok, message = _train_one(run, train, csv_log, state, events, data)
        report.ran += 1
        events.run_end(run, message)
        if not ok:
            report.failures.append((run.run_id, message))
            if fail_fast:
                report.stopped_early = True
                break
    return report
