"""`train` as a function: one run's settings by keyword, its rows appended to the log, its
record returned (``pernode_cli.train``; the `train` command prints the same record).

Importing this module imports no backend: the settings, the log and the trackers are checked
first, then the backend starts (``starting``: the caller's context manager around that wait).
"""

from __future__ import annotations

import contextlib
import os
from typing import Callable, Optional

from pernode_cli.argchecks import as_items
from pernode_cli.errors import PernodeError
from pernode_cli.schema import SETTING_NAMES
from pernode_cli.training.records import RunResult


def check_settings(settings: dict) -> None:
    """Keywords that name no run setting are refused, naming the settings there are."""
    unknown = [k for k in settings if k not in SETTING_NAMES]
    if unknown:
        raise PernodeError(f"Unknown setting {', '.join(f'`{k}`' for k in unknown)}; the run settings are: "
                           f"{', '.join(SETTING_NAMES)}.")


def run_spec(plugin=(), **settings):
    """The checked ``RunSpec`` of ``settings`` (the defaults of ``schema.RunSettings`` for the
    rest), after loading ``plugin`` modules, whose variants and data sets it may name."""
    from pernode_cli.plugins import load_plugins

    check_settings(settings)
    settings = {k: os.fspath(v) if isinstance(v, os.PathLike) else v for k, v in settings.items()}
    load_plugins(as_items(plugin, "plugin"))
    from pernode_cli.training.config import RunSpec
    from pernode_cli.variants import canonical_variant, run_rate

    if "variant" in settings or "rate" in settings:
        from pernode_cli.schema import RunSettings

        variant = canonical_variant(settings.get("variant", RunSettings.variant))
        settings = dict(settings, variant=variant, rate=run_rate(variant, settings.get("rate", RunSettings.rate)))
    return RunSpec(**settings)


def open_trackers(track=(), tensorboard=None, mlflow=None, experiment="pernode", export_timeout=30.0,
                  on_problem: Optional[Callable] = None):
    """The live copy's trackers, every destination checked now (see ``export.open_exporters``)."""
    from pernode_cli.checks import check_positive_number
    from pernode_cli.export import open_exporters

    check_positive_number("export_timeout", export_timeout)
    return open_exporters(track=track, tensorboard=tensorboard, mlflow=mlflow,
                          experiment=experiment, on_problem=on_problem)


def train(*, log="logs.csv", plugin=(), track=(), tensorboard=None, mlflow=None, experiment="pernode",
          export_timeout: float = 30.0, events=None, on_problem: Optional[Callable] = None,
          starting: Optional[Callable] = None, on_unsent: Optional[Callable] = None, **settings) -> RunResult:
    """Train one run and append every epoch to ``log``; returns its ``RunResult``.

    Args:
        log: the CSV log (created with its header when missing; one row appended per epoch).
        plugin: modules (names or ``.py`` paths) that register variants, data sets or backbones.
        track: ``SCHEME:DESTINATION`` items that get a live copy (``tensorboard:DIR``,
            ``mlflow:URI``, ``wandb:PROJECT``, a registered tracker's scheme); ``tensorboard``
            and ``mlflow``: the same as ``tensorboard:`` and ``mlflow:`` items.
        experiment: MLflow's experiment of the live copy.
        export_timeout: seconds to keep sending the copy at the end; what is left is in the
            result's ``unsent`` (and the log: ``pernode export`` sends it later).
        events: ``start(config, data)`` and ``epoch(row)`` hooks (``training.run.TrainEvents``).
        on_problem: ``on_problem(tracker, message)`` at a tracker's first failed send.
        starting: a context manager factory entered while the backend starts (a status line).
        on_unsent: ``on_unsent(lines)`` when the trackers could not send everything by the end,
            however the run ended (an interrupt included).
        settings: the run settings of ``schema.RunSettings`` by keyword (``dataset``,
            ``variant``, ``rate``, ``units``, ``batch_size``, ``epochs``, ``lr``, ``seed``,
            ``data_dir``, ``max_train_samples``, ``patience``, ``mc_samples``); the rest at their
            defaults.

    A run the log holds complete is refused (``PernodeError``); an unfinished one is trained
    again as its next attempt. A run that fails (diverges, say) returns ``failed`` with its
    message, its rows in the log.
    """
    from pernode_cli.logs import LogLock, check_appendable

    if isinstance(log, os.PathLike):
        log = os.fspath(log)
    config = run_spec(plugin, **settings)
    check_appendable(log, config.settings())  # an older log's layout: refused before the backend starts
    LogLock(log).probe()  # a second writer is refused before the backend's slow start
    exporters = open_trackers(track, tensorboard, mlflow, experiment, export_timeout, on_problem)
    try:
        from pernode_cli.training.environment import import_backend

        with (starting or contextlib.nullcontext)():
            import_backend()
        from pernode_cli.training.run import train_to_log

        result = train_to_log(config, log=log, events=events, exporters=exporters)
    finally:
        unsent = close_trackers(exporters, export_timeout, on_unsent)
    result.unsent = unsent
    return result


def close_trackers(exporters, export_timeout: float, on_unsent: Optional[Callable] = None) -> list:
    """Send what is left until ``export_timeout``; the lines of what could not be sent."""
    lines = list(exporters.close(timeout_s=export_timeout)) if exporters else []
    if lines and on_unsent is not None:
        on_unsent(lines)
    return lines
