"""Sweeps on Ray: each run is a Ray task; the driver (this process) stays the log's one writer.

Workers train into a row buffer and return the rows; the driver appends them to the log
under its lock, in whole runs, with the same attempt numbers and exactly-once rules as a
local sweep. A worker process that dies is retried by Ray (``max_retries``); only the try
that returns has its rows written, so a retried run's rows are written once. A run that
raises is recorded as failed, as locally. A driver killed and started again resumes from
the log: runs whose rows had not reached it run again.
"""

from __future__ import annotations

import math
import os
from typing import Iterator, Optional

from pernode_cli.checks import check_positive_int, is_gpu_share
from pernode_cli.errors import PernodeError
from pernode_cli.sweeps.loop import DataCache
from pernode_cli.training.environment import backend_chatter_hidden
from pernode_cli.training.records import RunResult

MAX_RETRIES = 3  # worker deaths tolerated per run
ENV_KEYS = ("KERAS_BACKEND", "KERAS_HOME", "SCIKIT_LEARN_DATA", "TF_CPP_MIN_LOG_LEVEL", "PERNODE_BACKEND_LOGS",
            "CUDA_VISIBLE_DEVICES", "XLA_PYTHON_CLIENT_PREALLOCATE", "XLA_PYTHON_CLIENT_MEM_FRACTION")


def import_ray():
    try:
        import ray
    except ImportError:
        raise PernodeError('Sweeping on Ray needs Ray: pip install "pernode[ray]".') from None
    return ray


def worker_env(backend: str) -> dict:
    """What a worker needs to train as this process would: the Keras backend, the caches
    where data sets were downloaded, and pernode's logging choice (passed explicitly)."""
    env = {k: os.environ[k] for k in ENV_KEYS if k in os.environ}
    env["KERAS_BACKEND"] = backend
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    if backend == "jax":  # several runs share a GPU: no process may take it all
        env.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
    return env


class _RowBuffer:
    """The worker's stand-in for the log: rows travel back to the driver."""

    def __init__(self):
        self.rows = []

    def append(self, row: dict) -> None:
        self.rows.append(row)


_DATA = DataCache()  # per worker process: a data set is loaded once, whatever the runs


def train_task(config, run_id: str, attempt: int, data_fingerprint: Optional[str] = None,
               plugins: tuple = (), base: Optional[str] = None) -> dict:
    """One run in a Ray worker; returns its rows and outcome (the driver writes them). The
    worker imports the driver's plugins first, so their variants and data sets are there."""
    from pathlib import Path

    from pernode_cli.plugins import load_plugins
    from pernode_cli.training.environment import import_backend

    load_plugins(plugins, base=Path(base) if base else None)
    import_backend()
    from pernode_cli.training.run import train_run

    buffer = _RowBuffer()
    result = train_run(config, buffer, dataset=_DATA.get(config), run_id=run_id, attempt=attempt,
                       data_fingerprint=data_fingerprint)
    return {"rows": buffer.rows, "failed": result.failed, "message": result.message}


def check_resources(gpus_per_run: Optional[float], cpus_per_run: Optional[int]) -> None:
    """A run's Ray resources (None: the default); raises ``PernodeError`` naming the bad one."""
    if gpus_per_run is not None and not is_gpu_share(gpus_per_run):
        raise PernodeError(f"`gpus_per_run` must be 0, a fraction in (0, 1] or a whole number; got {gpus_per_run}.")
    if cpus_per_run is not None:
        check_positive_int("cpus_per_run", cpus_per_run)


def default_gpus_per_run(cluster: dict) -> float:
    """A quarter of a GPU where the cluster has GPUs (the paper's backbones are small: four
    runs share one device), none otherwise."""
    return 0.25 if cluster.get("GPU", 0) >= 1 else 0.0


class RayRunner:
    """Trains a sweep's runs as Ray tasks, at most as many at once as the resources allow."""

    def __init__(self, address: Optional[str] = None, gpus_per_run: Optional[float] = None,
                 cpus_per_run: Optional[int] = None, backend: Optional[str] = None, num_cpus: Optional[int] = None,
                 plugins=(), base=None):
        check_resources(gpus_per_run, cpus_per_run)
        self.ray = import_ray()
        self.address, self.gpus, self.cpus = address, gpus_per_run, cpus_per_run or 1
        self.backend = backend or os.environ.get("KERAS_BACKEND", "tensorflow")
        self.num_cpus, self.started, self.data, self.flying = num_cpus, False, DataCache(), {}
        self.data_fingerprint = None  # set by the sweep: the data's fingerprint, computed once
        self.plugins, self.base = tuple(plugins), None if base is None else str(base)

    def start(self) -> None:
        """Reach the cluster and check it can hold one run: before the sweep writes anything."""
        self.cluster = self._init()
        self.capacity = self._capacity(self.cluster)

    def _init(self) -> dict:
        ray = self.ray
        if not ray.is_initialized():
            local = self.address in (None, "", "local")
            try:
                with backend_chatter_hidden(fds=(1, 2)):
                    ray.init(address=None if local else self.address, num_cpus=self.num_cpus if local else None,
                             include_dashboard=False, log_to_driver=False, configure_logging=False)
            except (ConnectionError, RuntimeError, ValueError) as exc:
                raise PernodeError(f"Cannot reach the Ray cluster at {self.address} ({exc}).") from None
            self.started = True
        cluster = ray.cluster_resources()
        if self.gpus is None:
            self.gpus = default_gpus_per_run(cluster)
        return cluster

    def _capacity(self, cluster: dict) -> int:
        slots = cluster.get("CPU", 1) / self.cpus
        if self.gpus:
            slots = min(slots, cluster.get("GPU", 0) / self.gpus)
        if slots < 1:
            raise PernodeError(
                f"The Ray cluster has {cluster.get('CPU', 0):g} CPUs and {cluster.get('GPU', 0):g} GPUs: too few for "
                f"one run of `cpus_per_run` {self.cpus} and `gpus_per_run` {self.gpus:g}."
            )
        return int(math.floor(slots))

    def results(self, pending: list, csv_log, events) -> Iterator[tuple[object, object]]:
        """Submit up to capacity runs; as each returns, append its rows and yield its outcome."""
        ray = self.ray
        task = ray.remote(train_task).options(
            num_cpus=self.cpus, num_gpus=self.gpus, max_retries=MAX_RETRIES, retry_exceptions=False,
            runtime_env={"env_vars": worker_env(self.backend)},
        )
        queue, flying, capacity = list(pending), self.flying, self.capacity
        while queue or flying:
            while queue and len(flying) < capacity:
                run, attempt = queue.pop(0)
                flying[task.remote(run.config, run.run_id, attempt, self.data_fingerprint, self.plugins,
                                   self.base)] = run
                events.run_start(run, run.config.epochs)
            events.in_flight(len(flying))
            (ref,), _ = ray.wait(list(flying), num_returns=1)
            run = flying.pop(ref)
            yield run, self._collect(ref, run, csv_log, events)
        events.in_flight(0)

    def _collect(self, ref, run, csv_log, events):
        """The run's RunResult after its rows are in the log, or the exception it raised."""
        try:
            payload = self.ray.get(ref)
        except self.ray.exceptions.RayTaskError as exc:
            cause = getattr(exc, "cause", None) or exc
            if isinstance(cause, PernodeError):
                raise cause from None  # bad input concerns every run: stop, as locally
            return cause
        except self.ray.exceptions.RayError as exc:  # the worker died more than MAX_RETRIES times
            return exc
        for row in payload["rows"]:
            csv_log.append(row)
            events.epoch(row)
        return RunResult(run.run_id, payload["rows"], payload["failed"], payload["message"])

    def close(self) -> None:
        for ref in list(self.flying):  # stopped early (fail-fast, an error): nothing more to wait for
            self.ray.cancel(ref, force=True)
        self.flying.clear()
        if self.started and self.ray.is_initialized():
            self.ray.shutdown()
