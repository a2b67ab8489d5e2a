"""Copies of the training log in TensorBoard and MLflow, live or after the fact.

The CSV log stays the truth: an export is a copy, and a tracker that is unreachable, slow
or failing never delays, fails or loses a CSV row. Importing this package is light: mlflow
and tensorboard are imported by the export's own thread, when first used.

The interface the trainers call::

    exporters = open_exporters(tensorboard="runs/", mlflow="http://127.0.0.1:5000")
    exporters.run_start(run_id, attempt, params={}, tags={"source": str(log)})  # optional
    exporters.epoch(run_id, attempt, row)        # after each row is appended to the CSV
    exporters.run_end(run_id, attempt, rows)     # when the attempt ends, however it ended
    for line in exporters.close(timeout_s=30):   # once, at the end: what could not be sent
        print(line)

- ``open_exporters(tensorboard=None, mlflow=None, experiment="pernode")`` checks the
  destinations at once (raising ``PernodeError``, one line): a folder for TensorBoard
  (created if missing, in an existing folder); for MLflow ``sqlite:///FILE.db``,
  ``http(s)://HOST:PORT``, or a local store (a ``file:`` URI or a path; a path ending in
  ``.db`` is an SQLite store). A missing package is one line saying how to install it
  (``pip install "pernode[mlflow]"``, ``"pernode[tensorboard]"``). Nothing is sent yet, and
  nothing reaches the network: ``open_exporters()`` with neither is a no-op ``Exporters``.
- ``run_start``, ``epoch`` and ``run_end`` copy their arguments onto one bounded queue per
  tracker and return (microseconds); they never raise and never wait. ``row`` is one CSV
  row as a dict (as ``train_run`` builds it, or the log's text cells); ``params`` adds
  settings beyond the log's columns, ``tags`` adds tags (``source``: the log's path). A run
  is opened in the tracker at its first row; ``run_start`` is not needed. ``rows`` of
  ``run_end`` are every row of the attempt: they fill in epochs that did not arrive (None:
  the rows received). Call ``run_end`` for finished, diverged and interrupted attempts
  alike; the last row's ``run_end`` column says which.
- One thread per tracker sends in the background. A failed send is retried with
  exponential backoff (0.5 s doubling to 30 s), the rows staying buffered; a tracker that
  refuses a run's data (a 4xx answer) gives that run up. ``close(timeout_s)`` sends what is
  left until the timeout and returns one line per run (per tracker) that was not sent
  whole, saying what and why; it never raises. ``summaries()`` counts runs created and
  reused and epochs written and already there.
- Resumed runs are not duplicated: MLflow finds the run of the same run id and attempt by
  its tags and sends only what it lacks; TensorBoard has one folder per run id and attempt
  (``DIR/RUN_ID/attempt-N``) and writes only the (tag, step) pairs it does not hold.

Which columns are settings, metrics and tags: ``pernode_cli.export.columns.split_row``.
``pernode export`` (``pernode_cli.export.replay``) sends existing logs.
"""

from __future__ import annotations

from typing import Optional

from pernode_cli.export.columns import split_row
from pernode_cli.export.engine import Exporters, SinkSummary

__all__ = ["Exporters", "SinkSummary", "open_exporters", "split_row"]


def open_exporters(tensorboard: Optional[str] = None, mlflow: Optional[str] = None,
                   experiment: str = "pernode", on_problem=None) -> Exporters:
    """Exporters to a TensorBoard folder and/or an MLflow tracking URI, checked now, sent later
    (``on_problem(tracker, message)``: see ``Exporters``)."""
    from pernode_cli.export.destinations import mlflow_uri, require, tensorboard_folder

    sinks = []
    if tensorboard is not None:
        folder = tensorboard_folder(tensorboard)
        require("tensorboard", "tensorboard")
        from pernode_cli.export.tensorboard_sink import TensorBoardSink

        sinks.append(TensorBoardSink(folder))
    if mlflow is not None:
        uri = mlflow_uri(mlflow)
        require("mlflow", "mlflow")
        if not str(experiment).strip():
            from pernode_cli.errors import PernodeError

            raise PernodeError("`experiment` is empty; give the name of the MLflow experiment.")
        from pernode_cli.export.mlflow_sink import MlflowSink, check_local_store

        if uri.startswith("file:"):
            check_local_store(uri)
        sinks.append(MlflowSink(uri, str(experiment).strip()))
    return Exporters(sinks, on_problem=on_problem)
