"""Copies of the training log in trackers (TensorBoard, MLflow, W&B, or one a package adds),
live or after the fact.

The CSV log stays the truth: an export is a copy, and a tracker that is unreachable, slow
or failing never delays, fails or loses a CSV row. Importing this package is light: mlflow,
tensorboard and wandb are imported by the export's own thread, when first used.

The interface the trainers call::

    exporters = open_exporters(track=["tensorboard:runs/", "mlflow:http://127.0.0.1:5000"])
    exporters.run_start(run_id, attempt, params={}, tags={"source": str(log)})  # optional
    exporters.epoch(run_id, attempt, row)        # after each row is appended to the CSV
    exporters.run_end(run_id, attempt, rows)     # when the attempt ends, however it ended
    for line in exporters.close(timeout_s=30):   # once, at the end: what could not be sent
        print(line)

- ``open_exporters(track=(), tensorboard=None, mlflow=None, experiment="pernode")``: each
  ``track`` item is ``SCHEME:DESTINATION``, split at its first colon, the scheme naming a
  registered tracker (``trackers.register_tracker``; an installed package's entry point of
  group ``pernode.trackers`` is found by its scheme): ``tensorboard:DIR`` (a folder, created
  if missing, in an existing folder), ``mlflow:URI`` (``sqlite:///FILE.db``,
  ``http(s)://HOST:PORT``, or a local store: a ``file:`` URI or a path, a path ending in
  ``.db`` being an SQLite store), ``wandb:[ENTITY/]PROJECT``. ``tensorboard=`` and
  ``mlflow=`` are aliases of ``tensorboard:`` and ``mlflow:``. Every destination is checked
  at once (raising ``PernodeError``, one line: an unknown scheme names the registered ones); a
  missing package is one line saying how to install it (``pip install "pernode[mlflow]"``).
  Nothing is sent yet, and nothing reaches the network: ``open_exporters()`` with none is a
  no-op ``Exporters``.
- ``run_start``, ``epoch`` and ``run_end`` copy their arguments onto one bounded queue per
  tracker and return (microseconds); they never raise and never wait. ``row`` is one CSV
  row as a dict (as ``train_run`` builds it, or the log's text cells); ``params`` adds
  settings beyond the log's columns, ``tags`` adds tags (``source``: the log's path). A run
  is opened in the tracker at its first row; ``run_start`` is not needed. ``rows`` of
  ``run_end`` are every row of the attempt: they fill in epochs that did not arrive (None:
  the rows received). Call ``run_end`` for finished, diverged and interrupted attempts
  alike; the last row's ``run_end`` column says which.
- Runs are named from their settings (``Dropout r0.3 s0``; ``names.RunNames``), the same
  name in every tracker; ``announce(run_id, attempt, row)`` tells of a run to come, so that
  the names say what differs among all of them.
- One thread per tracker sends in the background. A failed send is retried with
  exponential backoff (0.5 s doubling to 30 s), the rows staying buffered; a tracker that
  refuses a run's data (a 4xx answer) gives that run up. ``close(timeout_s)`` sends what is
  left until the timeout and returns one line per run (per tracker) that was not sent
  whole, saying what and why; it never raises. ``summaries()`` counts runs created and
  reused and epochs written and already there.
- Resumed runs are not duplicated: MLflow finds the run of the same run id and attempt by
  its tags and sends only what it lacks; TensorBoard has one folder per run id and attempt
  (``DIR/RUN_ID/attempt-N``) and writes only the (tag, step) pairs it does not hold; W&B's
  run id is made from the run id and attempt and only epochs it lacks are logged.

Which columns are settings, metrics and tags: ``pernode_cli.export.columns.split_row``.
``pernode export`` (``pernode_cli.export.replay``) sends existing logs.
"""

from __future__ import annotations

import os
from typing import Optional

from pernode_cli.argchecks import invalid
from pernode_cli.errors import PernodeError
from pernode_cli.export.columns import split_row
from pernode_cli.export.engine import Exporters, Sink, SinkSummary
from pernode_cli.export.trackers import TRACKERS, check_track, open_tracker, register_tracker, split_track


def _register_built_in() -> None:
    """Every ``*_sink`` module of this package registers its tracker when imported (none imports its
    tracker's package), in the order of their names: a new built-in tracker is one module."""
    import importlib
    import pkgutil

    for module in sorted(m.name for m in pkgutil.iter_modules(__path__) if m.name.endswith("_sink")):
        importlib.import_module(f"{__name__}.{module}")


_register_built_in()

__all__ = ["Exporters", "Sink", "SinkSummary", "TRACKERS", "destinations", "open_exporters", "register_tracker",
           "split_row"]
ALIASES = ("tensorboard", "mlflow")  # open_exporters' keywords that name a tracker's destination


def destinations(track=(), tensorboard: Optional[str] = None, mlflow: Optional[str] = None) -> list:
    """``[(scheme, destination, argument)]`` of ``open_exporters``' arguments, in order: the
    aliases, then ``track``; ``argument`` words the item in messages."""
    out = []
    for name, value in zip(ALIASES, (tensorboard, mlflow)):
        if value is None:
            continue
        if not isinstance(value, (str, os.PathLike)):
            raise invalid(name, "None or a str", value, error=PernodeError)
        out.append((name, os.fspath(value), f"`{name}`"))
    for item in check_track(track):
        scheme, destination = split_track(item)
        out.append((scheme, destination, f"`track` {item}"))
    return out


def open_exporters(track=(), tensorboard: Optional[str] = None, mlflow: Optional[str] = None,
                   experiment: str = "pernode", on_problem=None) -> Exporters:
    """Exporters to every ``track`` item (``SCHEME:DESTINATION``) and the aliases' destinations,
    checked now, sent later (``on_problem(tracker, message)``: see ``Exporters``). Two items
    that reach the same tracker (``--tensorboard runs`` and ``tensorboard:runs``) are one."""
    if not isinstance(experiment, str):
        raise invalid("experiment", "a str", experiment, error=PernodeError)
    if on_problem is not None and not callable(on_problem):
        raise invalid("on_problem", "None or a callable on_problem(tracker, message)", on_problem, error=PernodeError)
    sinks, seen = [], set()
    for scheme, destination, argument in destinations(track, tensorboard, mlflow):
        canonical = TRACKERS.canonical(scheme)
        sink = open_tracker(canonical, destination, experiment, argument)
        if (canonical, sink.name) not in seen:
            seen.add((canonical, sink.name))
            sinks.append(sink)
    return Exporters(sinks, on_problem=on_problem)
