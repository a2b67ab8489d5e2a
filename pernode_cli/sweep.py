"""Resumable, shardable sweeps over a config's grid.

State lives in two files: the CSV log (append-only rows, one per epoch) and a small JSON
file beside it (``<log>.sweep.json``) holding the config fingerprint, the shard, and the
runs that finished. A run counts as finished only once the state file says so, and the
state file is replaced atomically after the run's last row is on disk. So after a kill at
any moment, every finished run has all its rows, and the rows of the run that was cut
short are removed (by an atomic rewrite of the log) when that run starts again.
"""

from __future__ import annotations

import csv
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

from pernode_cli.config import SweepConfig
from pernode_cli.errors import PernodeError
from pernode_cli.logs import TRAIN_COLUMNS, CsvLog, atomic_write, format_header, format_row, read_header
from pernode_cli.train import TrainConfig, make_run_id


def parse_shard(text: Optional[str]) -> tuple[int, int]:
    if text is None:
        return 1, 1
    match = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text)
    if not match or not (1 <= int(match.group(1)) <= int(match.group(2))):
        raise PernodeError(f"--shard must be K/N with 1 <= K <= N (e.g. 2/8); got {text!r}.")
    return int(match.group(1)), int(match.group(2))


@dataclass
class PlannedRun:
    index: int  # position in the whole grid
    run_id: str
    config: TrainConfig
    status: str = "pending"  # pending | done | nonfinite | failed


@dataclass
class SweepState:
    path: Path
    fingerprint: str
    shard: str
    finished: dict = field(default_factory=dict)  # run_id -> "ok" | "nonfinite"
    failed: dict = field(default_factory=dict)  # run_id -> message

    def save(self) -> None:
        payload = {
            "fingerprint": self.fingerprint,
            "shard": self.shard,
            "finished": self.finished,
            "failed": self.failed,
        }
        atomic_write(self.path, json.dumps(payload, indent=1, sort_keys=True) + "\n")


def state_path(log: Path) -> Path:
    return log.with_name(log.name + ".sweep.json")


def open_state(log: Path, config: SweepConfig, shard: tuple[int, int]) -> SweepState:
    """Load the state beside ``log``, refusing a log written for another config or shard."""
    path = state_path(log)
    shard_text = f"{shard[0]}/{shard[1]}"
    if path.exists():
        try:
            data = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise PernodeError(f"Cannot read sweep state {path} ({exc}); use a new --log.") from None
        if data.get("fingerprint") != config.fingerprint():
            raise PernodeError(
                f"{log} holds a sweep of a different config (fingerprint {data.get('fingerprint')}, "
                f"now {config.fingerprint()}): the grid or fixed settings changed. Restore the config "
                "to resume, or pass a new --log to start another sweep."
            )
        if data.get("shard") != shard_text:
            raise PernodeError(
                f"{log} holds shard {data.get('shard')} of this sweep, not {shard_text}; "
                "give every shard its own --log."
            )
        return SweepState(path, data["fingerprint"], shard_text, dict(data.get("finished", {})), dict(data.get("failed", {})))
    if log.exists() and log.stat().st_size > 0:
        header = read_header(log)
        with open(log) as f:
            has_rows = sum(1 for _ in f) > 1
        if header != TRAIN_COLUMNS or has_rows:
            raise PernodeError(
                f"{log} already holds rows but no sweep state ({path.name}); pass a new --log "
                "(the existing file is left as it is)."
            )
    return SweepState(path, config.fingerprint(), shard_text)


def plan(config: SweepConfig, shard: tuple[int, int], state: Optional[SweepState] = None) -> list[PlannedRun]:
    """The runs of this shard (grid position ``i`` with ``i % N == K - 1``), with status."""
    k, n = shard
    runs = []
    for index, rc in enumerate(config.runs()):
        if index % n != k - 1:
            continue
        run = PlannedRun(index, make_run_id(rc.settings()), rc)
        if state is not None:
            if run.run_id in state.finished:
                run.status = "done" if state.finished[run.run_id] == "ok" else "nonfinite"
            elif run.run_id in state.failed:
                run.status = "failed"
        runs.append(run)
    return runs


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
    text = format_header(header) + "".join(
        format_row(header, dict(zip(header, r))) for r in keep
    )
    atomic_write(log, text)
    return len(body) - len(keep)


@dataclass
class SweepReport:
    total: int
    skipped: int
    ran: int
    failures: list = field(default_factory=list)  # (run_id, message)
    stopped_early: bool = False


class SweepEvents:
    """Hooks for progress output; the default does nothing."""

    def sweep_start(self, pending: int, total: int) -> None: ...

    def run_start(self, run: PlannedRun, epochs: int) -> None: ...

    def epoch(self, row: dict) -> None: ...

    def run_end(self, run: PlannedRun, message: str) -> None: ...


def run_sweep(
    config: SweepConfig,
    log: Path,
    shard: tuple[int, int] = (1, 1),
    fail_fast: bool = False,
    events: Optional[SweepEvents] = None,
    train: Optional[Callable] = None,
) -> SweepReport:
    from pernode_cli.train import train_run

    events = events or SweepEvents()
    train = train or train_run
    log = Path(log)
    state = open_state(log, config, shard)
    runs = plan(config, shard, state)
    csv_log = CsvLog(log)
    if not state.path.exists():
        state.save()
    present = logged_run_ids(log)
    pending = [r for r in runs if r.status in ("pending", "failed")]
    report = SweepReport(total=len(runs), skipped=len(runs) - len(pending), ran=0)
    report.failures = [(r.run_id, "non-finite loss") for r in runs if r.status == "nonfinite"]
    events.sweep_start(len(pending), len(runs))
    datasets: dict = {}
    for run in pending:
        if run.run_id in present:
            drop_rows(log, run.run_id)  # rows of an interrupted or failed attempt
        events.run_start(run, run.config.epochs)
        key = (run.config.dataset, run.config.data_dir, run.config.seed)
        try:
            if key not in datasets:
                from pernode_cli.data import load_dataset

                datasets[key] = load_dataset(*key)
            result = train(run.config, csv_log, on_epoch=events.epoch, dataset=datasets[key], run_id=run.run_id)
        except PernodeError:
            raise  # bad input (e.g. a missing data set) concerns every run: stop with exit 2
        except Exception as exc:  # one run's crash must not end the sweep
            message = f"{type(exc).__name__}: {exc}".splitlines()[0]
            state.failed[run.run_id] = message
            state.save()
            report.failures.append((run.run_id, message))
            report.ran += 1
            events.run_end(run, f"failed ({message})")
            if fail_fast:
                report.stopped_early = True
                break
            continue
        state.finished[run.run_id] = "nonfinite" if result.failed else "ok"
        state.failed.pop(run.run_id, None)
        state.save()
        report.ran += 1
        if result.failed:
            report.failures.append((run.run_id, result.message))
            events.run_end(run, result.message)
            if fail_fast:
                report.stopped_early = True
                break
        else:
            best = result.best
            events.run_end(run, f"best val_loss {best['val_loss']:.4f} at epoch {best['epoch']}" if best else "done")
    return report
