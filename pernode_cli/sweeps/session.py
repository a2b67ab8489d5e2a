"""`sweep` as a function: every run of a config's grid (``pernode_cli.sweep``), resumable,
shardable, on Ray; the `sweep` command prints the ``SweepReport`` it returns."""

from __future__ import annotations

import os
from typing import Callable, Optional

from pernode_cli.argchecks import as_items
from pernode_cli.sweeps.loop import SweepReport


def load(config, plugin=(), shard=None):
    """``(SweepConfig, (K, N))`` of a config file (or a loaded ``SweepConfig``) and a ``"K/N"``
    shard (None: the whole grid)."""
    import os

    from pernode_cli.argchecks import invalid
    from pernode_cli.errors import PernodeError
    from pernode_cli.sweeps.config import SweepConfig, load_config
    from pernode_cli.sweeps.plan import parse_shard
    if not isinstance(config, (SweepConfig, str, os.PathLike)):
        raise invalid("config", "the path of a sweep config (TOML)", config, error=PernodeError)
    if not isinstance(config, SweepConfig):
        config = load_config(os.fspath(config), plugins=as_items(plugin, "plugin"))
    if isinstance(shard, (tuple, list)):
        if len(shard) != 2:
            raise invalid("shard", "'K/N' or a pair (K, N)", shard, error=PernodeError)
        shard = f"{shard[0]}/{shard[1]}"
    return config, parse_shard(shard)


def dry_run(config, *, log=None, shard=None, plugin=()):
    """The runs of the shard and which the log holds finished (``sweeps.plan.PlanTable``); trains
    and writes nothing."""
    from pernode_cli.sweeps import loop
    from pernode_cli.sweeps.config import default_log

    sweep_config, shard_kn = load(config, plugin, shard)
    return loop.dry_run(sweep_config, os.fspath(log) if log else default_log(sweep_config.path), shard_kn)


def sweep(config, *, log=None, shard=None, fail_fast: bool = False, ray=None, gpus_per_run=None, cpus_per_run=None,
          plugin=(), track=(), tensorboard=None, mlflow=None, experiment=None, export_timeout: float = 30.0,
          events=None, on_problem: Optional[Callable] = None, on_unsent: Optional[Callable] = None) -> SweepReport:
    """Train every unfinished run of ``config``'s grid (a TOML file), appending to ``log``.

    Args:
        config: the sweep config (a TOML file of data set, grid and fixed settings, or its
            loaded ``sweeps.config.SweepConfig``).
        log: its CSV log (default: named after the config, ``digits.toml`` -> ``digits.csv``).
        shard: ``"K/N"``: only slice K of N of the grid.
        fail_fast: stop at the first failed run.
        ray: None: train here; ``"local"`` starts a local Ray instance, ``"auto"``,
            ``ray://HOST:PORT`` or a ``ray start`` address joins a cluster.
        gpus_per_run, cpus_per_run: Ray's resources per run (default: the config's, else 0.25
            GPU where the cluster has GPUs, and 1 CPU).
        plugin: modules that register variants, data sets or backbones (beside the config's).
        track, tensorboard, mlflow, experiment: the live copy (see ``training.session.train``);
            None/empty: the config's ``fixed`` keys of the same names.
        export_timeout: seconds to keep sending the copy at the end.
        events: progress hooks (``sweeps.loop.SweepEvents``).
        on_problem, on_unsent: see ``training.session.train``.

    Returns the ``SweepReport``: runs trained and already finished, their ids, the failures.
    """
    from pernode_cli.logs import LogLock
    from pernode_cli.sweeps import loop
    from pernode_cli.sweeps.config import default_log
    from pernode_cli.training.session import close_trackers, open_trackers

    if ray is not None or gpus_per_run is not None or cpus_per_run is not None:
        from pernode_cli.sweeps.ray_runner import check_resources

        check_resources(gpus_per_run, cpus_per_run)
    sweep_config, shard_kn = load(config, plugin, shard)
    log = os.fspath(log) if log else default_log(sweep_config.path)
    LogLock(log).probe()  # a second writer is refused at once
    fixed = sweep_config.fixed
    runner = None
    if ray is not None:
        from pernode_cli.sweeps.ray_runner import RayRunner

        runner = RayRunner(address=ray, gpus_per_run=fixed["gpus_per_run"] if gpus_per_run is None else gpus_per_run,
                           cpus_per_run=fixed["cpus_per_run"] if cpus_per_run is None else cpus_per_run,
                           plugins=[*as_items(plugin, "plugin"), *sweep_config.plugins], base=sweep_config.path.parent)
    live = live_destinations(fixed, track, tensorboard, mlflow, experiment)
    exporters = open_trackers(**live, export_timeout=export_timeout, on_problem=on_problem)
    try:
        report = loop.run_sweep(sweep_config, log, shard_kn, fail_fast=fail_fast, events=events, runner=runner,
                                exporters=exporters)
    finally:
        unsent = close_trackers(exporters, export_timeout, on_unsent)
    report.unsent = unsent
    return report


def live_destinations(fixed: dict, track=(), tensorboard=None, mlflow=None, experiment=None) -> dict:
    """The live copy's destinations: those given, else the config's ``fixed`` keys (``track``
    given replaces the config's ``track``)."""

    return {"track": list(as_items(track, "track") or fixed.get("track") or ()),
            "tensorboard": tensorboard or fixed.get("tensorboard"), "mlflow": mlflow or fixed.get("mlflow"),
            "experiment": experiment or fixed.get("experiment") or "pernode"}


def plan_dict(table) -> dict:
    """A dry run's table as plain data: the runs of the shard, each with its settings and status."""
    from pernode_cli.schema import plain

    runs = [{"index": int(i) + 1, "run_id": run_id, **{k: plain(v[n]) for k, v in table.columns.items()},
             "status": table.status[n]} for n, (i, run_id) in enumerate(zip(table.index, table.run_id))]
    return {"runs": runs, "finished": table.finished, "to_run": len(table) - table.finished}
