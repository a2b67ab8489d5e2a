"""The sweep loop: train every pending run of a shard, record each outcome, go on after failures.

The log is the one source of truth: a run is finished when the log holds its attempt's
last row (``run_end`` set). A run cut short by a kill keeps its rows, marked as an
unfinished attempt, and runs again as the next attempt. The state file beside the log
(config fingerprint, shard, failure messages) is a cache checked against the log.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator, Optional

from pernode_cli.data import check_dataset_name, data_fingerprint, load_dataset
from pernode_cli.errors import PernodeError
from pernode_cli.logs import CsvLog, LogLock, check_log_path, notices, runs_in_log
from pernode_cli.data import DATASETS
from pernode_cli.sizing import check_fits
from pernode_cli.sources import run_sources
from pernode_cli.sweeps.config import SweepConfig
from pernode_cli.sweeps.plan import PlannedRun, PlanTable, plan_table, planned_runs
from pernode_cli.sweeps.state import SweepState, check_log_belongs, check_same_data, check_same_sources, open_state


@dataclass
class SweepReport:
    """What one sweep call did: runs trained (``ran``, their ids ``trained``) and already finished
    (``skipped``) among the shard's ``run_ids``, the failures, and what the trackers could not send."""

    skipped: int
    ran: int = 0
    failures: list = field(default_factory=list)  # (run_id, message)
    stopped_early: bool = False
    log: str = ""
    shard: tuple = (1, 1)
    run_ids: list = field(default_factory=list)  # every run of the shard, in the grid's order
    trained: list = field(default_factory=list)  # the run ids trained by this call, in order
    unsent: list = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"log": self.log, "shard": f"{self.shard[0]}/{self.shard[1]}", "runs": len(self.run_ids),
                "ran": self.ran, "skipped": self.skipped, "run_ids": list(self.run_ids), "trained": list(self.trained),
                "failures": [{"run_id": r, "message": m} for r, m in self.failures],
                "stopped_early": self.stopped_early, "unsent": list(self.unsent)}


class SweepEvents:
    """Hooks for progress output; the default does nothing."""

    def sweep_start(self, pending: int, total: int) -> None: ...

    def run_start(self, run: PlannedRun, epochs: int) -> None: ...

    def epoch(self, row: dict) -> None: ...

    def run_end(self, run: PlannedRun, message: str) -> None: ...

    def in_flight(self, count: int) -> None:
        """Runs training at once (parallel runners)."""


def dry_run(config: SweepConfig, log, shard: tuple[int, int] = (1, 1)) -> PlanTable:
    """The runs of the shard with their status in the log, as a table; trains nothing, writes nothing."""
    log = check_log_path(log)
    state = open_state(log, config, shard)
    in_log = runs_in_log(log)
    runs = plan_table(config, shard, in_log, state.failed)
    check_log_belongs(log, set(runs.run_id), in_log)
    _check_data(config)
    check_same_data(config, state, in_log, data_fingerprint(config.dataset, config.data_dir))
    _same_sources(config, state, in_log, runs)
    return runs


def _check_data(config: SweepConfig) -> None:
    """The data set and its folder exist: checked before a sweep writes anything."""
    check_dataset_name(config.dataset)
    if config.data_dir is not None and not Path(config.data_dir).exists():
        raise PernodeError(f"{config.path}: data_dir {config.data_dir} does not exist.")


def _backbone(config: SweepConfig, loaded=None) -> str:
    spec = DATASETS.get(config.dataset)
    return spec.backbone if spec is not None else (loaded.backbone if loaded is not None else "mlp")


def sweep_sources(variants, dataset: str, backbone: str) -> dict:
    """``{"variants": {name: source}, "dataset": source, "backbone": source}`` of a sweep."""
    from pernode_cli.backbones import BACKBONES, backbone_source
    from pernode_cli.data import dataset_source
    from pernode_cli.variants import get_variant, variant_source

    entry = BACKBONES.get(backbone)
    return {"variants": {v: variant_source(get_variant(v)) for v in variants}, "dataset": dataset_source(dataset),
            "backbone": backbone_source(entry) if entry is not None else ""}


def _same_sources(config: SweepConfig, state: SweepState, in_log: dict, table: PlanTable, loaded=None) -> dict:
    """Where the sweep's variants, data set and backbone come from now, refused when the
    sweep's state or its log rows say they came from other code."""
    now = sweep_sources(config.grid["variants"], config.dataset, _backbone(config, loaded))
    per_variant = {v: run_sources(s, now["dataset"], now["backbone"]) for v, s in now["variants"].items()}
    expected = {run_id: per_variant[v] for run_id, v in zip(table.run_id, table.columns["variant"])}
    check_same_sources(config, state, in_log, now, expected)
    return now


def _check_plugin_parts(config: SweepConfig, loaded) -> None:
    from pernode_cli.backbones import get_backbone
    from pernode_cli.variants import get_variant

    if not get_backbone(loaded.backbone).source and not any(get_variant(v).source for v in config.grid["variants"]):
        return  # pernode's own parts: nothing to build here
    from pernode_cli.training.environment import import_backend

    import_backend()
    from pernode_cli.models import check_plugin_parts

    check_plugin_parts(config.grid["variants"], loaded.backbone, loaded.input_shape, config.grid["rates"][0])


def _same_data(config: SweepConfig, state: SweepState, in_log: dict) -> str:
    """The data's fingerprint now, refused when the sweep's state or log rows hold another."""
    now = data_fingerprint(config.dataset, config.data_dir)
    check_same_data(config, state, in_log, now)
    return now


class DataCache:
    """Each (data set, data_dir, seed) is loaded once per sweep."""

    def __init__(self):
        self.loaded = {}

    def get(self, c):
        key = (c.dataset, c.data_dir, c.seed)
        if key not in self.loaded:
            self.loaded[key] = load_dataset(*key)
        return self.loaded[key]


class LocalRunner:
    """Runs one after another in this process, each appending its rows as it trains."""

    def __init__(self, train: Optional[Callable] = None):
        self.train, self.data = train, DataCache()
        self.data_fingerprint = None  # set by the sweep: the data's fingerprint, computed once

    def results(self, pending: list, csv_log, events) -> Iterator[tuple[PlannedRun, object]]:
        """``(run, RunResult or the exception it raised)`` for each ``(run, attempt)``.

        The backend is imported only when there is a run to train: resuming a finished
        sweep, or refusing a bad one, never waits for it."""
        if not pending:
            return
        from pernode_cli.training.environment import import_backend

        import_backend()
        from pernode_cli.training.run import train_run

        train = self.train or train_run
        for run, attempt in pending:
            events.run_start(run, run.config.epochs)
            try:
                yield run, train(run.config, csv_log, on_epoch=events.epoch, dataset=self.data.get(run.config),
                                 run_id=run.run_id, attempt=attempt, data_fingerprint=self.data_fingerprint)
            except PernodeError:
                raise  # bad input (e.g. a missing data set) concerns every run: stop the sweep
            except Exception as exc:  # one run's crash must not end the sweep
                yield run, exc

    def start(self) -> None:
        pass

    def close(self) -> None:
        pass


def record_outcome(run: PlannedRun, outcome, state: SweepState) -> tuple[bool, str]:
    """Record a run's result (or exception) in the state cache; ``(ok, message)``."""
    if isinstance(outcome, BaseException):
        message = f"{type(outcome).__name__}: {outcome}".splitlines()[0]
        state.mark_failed(run.run_id, message)
        return False, f"failed ({message})"
    state.mark_finished(run.run_id, not outcome.failed)
    if outcome.failed:
        return False, outcome.message
    best = outcome.best
    return True, f"best val_loss {best['val_loss']:.4f} at epoch {best['epoch']}" if best else "done"


def _open(config: SweepConfig, log: Path, shard, data: DataCache, runner):
    """Lock the log, check it and the data, then open it: a start that fails writes nothing."""
    state = open_state(log, config, shard)
    lock = LogLock(log).acquire()
    try:
        in_log = runs_in_log(log)
        table = plan_table(config, shard, in_log, state.failed)
        runs = planned_runs(config, table)
        check_log_belongs(log, {r.run_id for r in runs}, in_log)
        _check_data(config)
        state.data_fingerprint = runner.data_fingerprint = _same_data(config, state, in_log)
        loaded = None
        if runs:  # a data set that does not load, or a model that cannot fit, stops the sweep here
            loaded = data.get(runs[0].config)
            if config.dataset not in DATASETS:  # an .npz: sized once loaded (``RunSpec`` sized the others)
                for units, batch in {(r.config.units, r.config.batch_size) for r in runs}:
                    check_fits(loaded.input_shape, loaded.backbone, units, batch, loaded.n_outputs)
        state.sources = _same_sources(config, state, in_log, table, loaded)
        if runs:  # a plugin's module or backbone that cannot be built: refused before the log is made
            _check_plugin_parts(config, loaded)
        runner.start()  # an unreachable cluster or too few resources: before anything is written
        csv_log = CsvLog(log, lock=lock)
        for run in runs:  # an older log's layout holds the runs it can: refused before any training
            csv_log.accepts(run.config.settings())
    except BaseException:
        lock.release(wrote_nothing=True)
        raise
    return state, in_log, runs, csv_log


def _reconcile(state: SweepState, runs: list[PlannedRun], log: Path) -> None:
    """The log decides what finished; the state file is a cache refreshed from it."""
    lost = [r.run_id for r in runs if r.run_id in state.finished and not r.finished]
    if lost:
        notices.info(f"{len(lost)} run(s) recorded as finished are not complete in {log}; running them again")
    state.finished = {r.run_id: "ok" if r.status == "done" else "nonfinite" for r in runs if r.finished}
    state.save()


class ExportingEvents(SweepEvents):
    """A sweep's events that also copy every row, once it is in the log, to the trackers
    (``pernode_cli.export``): with Ray too, since the driver appends the rows it receives."""

    def __init__(self, inner: SweepEvents, exporters, log):
        self.inner, self.exporters, self.log = inner, exporters, str(log)

    def sweep_start(self, pending: int, total: int) -> None:
        self.inner.sweep_start(pending, total)

    def run_start(self, run, epochs: int) -> None:
        self.inner.run_start(run, epochs)

    def epoch(self, row: dict) -> None:
        self.exporters.epoch(row["run_id"], int(row.get("attempt") or 1), row)
        self.inner.epoch(row)

    def run_end(self, run, message: str) -> None:
        self.inner.run_end(run, message)

    def in_flight(self, count: int) -> None:
        self.inner.in_flight(count)


def run_sweep(config: SweepConfig, log, shard: tuple[int, int] = (1, 1), fail_fast: bool = False,
              events: Optional[SweepEvents] = None, train: Optional[Callable] = None, runner=None,
              exporters=None) -> SweepReport:
    """Train every unfinished run of ``shard`` of ``config``'s grid, appending to ``log``.

    ``runner`` trains the runs (``LocalRunner`` by default, ``RayRunner`` on Ray); this
    process stays the log's one writer either way. ``exporters`` get a copy of every row once
    it is in the log, and each attempt's end; the caller closes them.
    """
    events, log = events or SweepEvents(), check_log_path(log)
    if exporters:
        events = ExportingEvents(events, exporters, log)
    runner = runner or LocalRunner(train)
    try:
        state, in_log, runs, csv_log = _open(config, log, shard, runner.data, runner)
    except BaseException:
        runner.close()
        raise
    try:
        _reconcile(state, runs, log)
        pending = [r for r in runs if not r.finished]
        report = SweepReport(skipped=len(runs) - len(pending), log=str(log), shard=tuple(shard),
                             run_ids=[r.run_id for r in runs])
        report.failures = [(r.run_id, "non-finite loss") for r in runs if r.status == "nonfinite"]
        events.sweep_start(len(pending), len(runs))
        attempts = [(r, in_log[r.run_id].attempts + 1 if r.run_id in in_log else 1) for r in pending]
        attempt_of = {r.run_id: a for r, a in attempts}
        for run, outcome in runner.results(attempts, csv_log, events):
            ok, message = record_outcome(run, outcome, state)
            if exporters:
                exporters.run_end(run.run_id, attempt_of[run.run_id],
                                  None if isinstance(outcome, BaseException) else outcome.rows)
            report.ran += 1
            report.trained.append(run.run_id)
            events.run_end(run, message)
            if not ok:
                report.failures.append((run.run_id, message))
                if fail_fast:
                    report.stopped_early = True
                    break
        return report
    finally:
        runner.close()
        csv_log.close()
