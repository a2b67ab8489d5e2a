"""MLflow: one run per run id and attempt, through ``MlflowClient``.

The tracker ``mlflow:URI`` (``--mlflow URI``): ``sqlite:///FILE.db``, ``http(s)://HOST:PORT``,
or a local store (a ``file:`` URI or a path; a path ending in ``.db`` is an SQLite store),
checked before anything is sent.

The run is found by its tags ``pernode.run_id`` and ``pernode.attempt`` (set when it is
created, in the same call), so an attempt exported again, live or after the fact, reuses
its run: parameters and tags it holds are not sent again, and metrics are sent only for
the (key, step) pairs its history lacks. Metrics carry step = epoch and the row's own
``timestamp``. At the attempt's end: its rows as the artifact ``rows.csv`` (the log's own
lines for that attempt), the status (FINISHED; FAILED for a diverged run; KILLED for an
attempt that stopped before its last epoch), and its end time. The run is named readably
(``Dropout r0.3 s0``, ``names.RunNames``). The experiment (``pernode`` unless named) is
created when missing, as a model-training experiment (the tag ``mlflow.experimentKind`` =
``custom_model_development``: MLflow 3 opens an experiment without it in its GenAI view);
beside an SQLite store its artifacts go to the store's folder (``mlruns/`` next to the
``.db`` file).

MLflow's own HTTP retries are turned off and its request timeout shortened (unless the
environment sets them: ``MLFLOW_HTTP_REQUEST_MAX_RETRIES``, ``MLFLOW_HTTP_REQUEST_TIMEOUT``),
since the export engine retries with its own backoff and must be able to stop at close.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

from pernode_cli.export.columns import param_text, row_epoch, split_row
from pernode_cli.errors import PernodeError
from pernode_cli.export.engine import Sink, one_line
from pernode_cli.export.tensorboard_sink import wall_time
from pernode_cli.export.trackers import register_tracker, require
from pernode_cli.paths import real_path

DEFAULT_EXPERIMENT = "pernode"
ENV_DEFAULTS = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "10",
    "MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT": "true",  # no "View run at" lines on stdout
    "MLFLOW_LOGGING_LEVEL": "WARNING",  # no INFO lines (creating tables) on stderr
}
RUN_ID_TAG, ATTEMPT_TAG = "pernode.run_id", "pernode.attempt"
# MLflow 3 shows an experiment in its GenAI view unless this tag says it trains models (the
# values its UI knows: genai_development, custom_model_development).
EXPERIMENT_KIND = {"mlflow.experimentKind": "custom_model_development"}
OUTCOME_TAGS = ("status", "run_end", "pernode.finished", "pernode.epochs")  # updated as the attempt goes on
ARTIFACT = "rows.csv"
BATCH = 1000  # MLflow's limit of metrics per log_batch
STATUS = {"": "KILLED", "nonfinite": "FAILED"}  # run_end -> MLflow status; other ends: FINISHED
UNREACHABLE = (("Connection refused", "connection refused"), ("NewConnectionError", "connection refused"),
               ("timed out", "timed out"), ("Name or service not known", "unknown host"),
               ("Connection aborted", "connection dropped"), ("RemoteDisconnected", "connection dropped"))


def check_local_store(uri: str) -> None:
    """A folder store, checked now (cheap, local): MLflow may refuse it (MLflow 3 keeps its
    folder store in maintenance mode unless ``MLFLOW_ALLOW_FILE_STORE`` is set)."""
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    try:
        MlflowClient(tracking_uri=uri)
    except MlflowException as exc:
        raise PernodeError(f"`mlflow` {uri} cannot be used: {' '.join(str(exc).split())}") from None


def millis(row: dict) -> int:
    return int(round(wall_time(row) * 1000))


@dataclass(eq=False)
class MlflowRun:
    run_uuid: str
    run_id: str
    attempt: int
    reused: bool
    params: dict = field(default_factory=dict)  # what the tracker holds
    tags: dict = field(default_factory=dict)
    steps: dict = field(default_factory=dict)  # metric key -> {step: value} held (fetched once per key)
    want_params: dict = field(default_factory=dict)
    conflicts: list = field(default_factory=list)  # parameters the tracker holds with other values
    differing: int = 0  # metric values the tracker holds with other values for the same step


class MlflowSink(Sink):
    end_words = "its end (status and rows artifact)"

    def __init__(self, uri: str, experiment: str = DEFAULT_EXPERIMENT):
        self.uri, self.experiment = uri, experiment
        self.name = f"MLflow {uri}"
        self.client = self.experiment_id = None

    def start(self) -> None:
        for key, value in ENV_DEFAULTS.items():
            os.environ.setdefault(key, value)
        from mlflow import MlflowClient
        from mlflow.exceptions import MlflowException

        client = MlflowClient(tracking_uri=self.uri)
        found = client.get_experiment_by_name(self.experiment)
        if found is None:
            try:
                client.create_experiment(self.experiment, artifact_location=self.artifact_location(),
                                         tags=EXPERIMENT_KIND)
            except MlflowException as exc:  # created meanwhile by another exporter
                if exc.error_code != "RESOURCE_ALREADY_EXISTS":
                    raise
            found = client.get_experiment_by_name(self.experiment)
        self.client, self.experiment_id = client, found.experiment_id

    def artifact_location(self):
        """Beside an SQLite store, not in the current folder (MLflow's default for a local
        database is ``./mlruns`` of wherever the experiment happens to be created)."""
        if self.uri.lower().startswith("sqlite:///"):
            return (Path(self.uri[len("sqlite:///"):]).resolve().parent / "mlruns").as_uri()
        return None  # a server's or a folder store's own default

    def open_run(self, run_id, attempt, params, tags, first_row, name):
        quoted = str(run_id).replace("'", "\\'")
        hits = self.client.search_runs(
            [self.experiment_id],
            filter_string=f"tags.`{RUN_ID_TAG}` = '{quoted}' and tags.`{ATTEMPT_TAG}` = '{int(attempt)}'",
            order_by=["attributes.start_time ASC"], max_results=1,
        )
        wanted_tags = {**tags, RUN_ID_TAG: str(run_id), ATTEMPT_TAG: str(int(attempt))}
        if "source" in tags:
            wanted_tags.setdefault("mlflow.source.name", tags["source"])
            wanted_tags.setdefault("mlflow.source.type", "LOCAL")
        if hits:
            found = hits[0]
            run = MlflowRun(found.info.run_id, run_id, attempt, True, dict(found.data.params), dict(found.data.tags))
        else:
            created = self.client.create_run(self.experiment_id, start_time=millis(first_row), tags=wanted_tags,
                                             run_name=name or f"{run_id}/attempt-{int(attempt)}")
            run = MlflowRun(created.info.run_id, run_id, attempt, False, {}, dict(wanted_tags))
        run.want_params = {k: param_text(v) for k, v in params.items() if v is not None}
        self._sync(run, wanted_tags)
        return run, run.reused

    def _sync(self, run: MlflowRun, tags: dict) -> None:
        """Send the parameters and tags the tracker lacks. A parameter cannot change; a tag
        it holds is kept, but for the attempt's outcome, which changes as it goes on."""
        from mlflow.entities import Param, RunTag

        params = [Param(k, v) for k, v in run.want_params.items() if k not in run.params]
        run.conflicts = [f"parameter {k} is {run.params[k]!r} in MLflow but {v!r} in the log"
                         for k, v in run.want_params.items() if k in run.params and run.params[k] != v]
        new_tags = [RunTag(k, str(v)) for k, v in tags.items()
                    if k not in run.tags or (k in OUTCOME_TAGS and run.tags[k] != str(v))]
        for i in range(0, max(len(params), len(new_tags)), 100):  # MLflow's limit per batch
            self.client.log_batch(run.run_uuid, params=params[i:i + 100], tags=new_tags[i:i + 100])
        run.params.update({p.key: p.value for p in params})
        run.tags.update({t.key: t.value for t in new_tags})

    def _held(self, run: MlflowRun, key: str) -> dict:
        if key not in run.steps:
            history = self.client.get_metric_history(run.run_uuid, key) if run.reused else []
            run.steps[key] = {m.step: m.value for m in history}
        return run.steps[key]

    def send(self, run: MlflowRun, rows: list) -> tuple[int, int]:
        from mlflow.entities import Metric

        metrics, written, present = [], 0, 0
        for row in rows:
            step, stamp = row_epoch(row), millis(row)
            _, values, _ = split_row(row)
            new = []
            for key, value in values.items():
                held = self._held(run, key)
                if step not in held:
                    new.append(Metric(key, value, stamp, step))
                elif held[step] != value:
                    run.differing += 1  # another log of the same run id and attempt: the tracker's stays
            written, present = written + bool(new), present + (not new)
            metrics += new
        for i in range(0, len(metrics), BATCH):
            self.client.log_batch(run.run_uuid, metrics=metrics[i:i + BATCH])
        for m in metrics:
            run.steps[m.key][m.step] = m.value
        return written, present

    def end(self, run: MlflowRun, rows: list, tags: dict) -> None:
        from pernode_cli.logs import format_header, format_row

        if run.differing:
            return  # these rows are not the ones MLflow holds: its artifact and status stay
        last = rows[-1]
        end = str(last.get("run_end") or "").strip()
        columns = [c for c in last if c != "source"]
        with tempfile.TemporaryDirectory(prefix="pernode-export-") as folder:
            path = Path(folder) / ARTIFACT
            path.write_text(format_header(columns) + "".join(format_row(columns, r) for r in rows), newline="")
            self.client.log_artifact(run.run_uuid, str(path))
        self._sync(run, {**tags, "pernode.finished": "true" if end else "false", "pernode.epochs": str(len(rows))})
        self.client.set_terminated(run.run_uuid, status=STATUS.get(end, "FINISHED"), end_time=millis(last))

    def describe(self, exc: BaseException) -> str:
        text = " ".join(str(exc).split())
        if "API request to" in text and "failed with exception" in text:  # the server did not answer
            reason = next((why for words, why in UNREACHABLE if words in text), "no answer")
            return f"cannot reach {self.uri} ({reason})"
        return one_line(exc)

    def refused(self, exc: BaseException) -> bool:
        text = " ".join(str(exc).split())
        return isinstance(exc, ConnectionRefusedError) or "Connection refused" in text or (
            "NewConnectionError" in text)

    def unsent(self, run) -> list:
        if not isinstance(run, MlflowRun):
            return []
        differing = [f"{run.differing} metric value(s) differ from those MLflow holds for the same epochs (another "
                     "log of the same run id and attempt?); MLflow's were kept"] if run.differing else []
        return list(run.conflicts) + differing

    def permanent(self, exc: BaseException) -> bool:
        try:
            from mlflow.exceptions import MlflowException
        except ImportError:
            return True
        if isinstance(exc, MlflowException):
            status = exc.get_http_status_code()
            return not (status >= 500 or status in (408, 429))
        return not isinstance(exc, (OSError, TimeoutError))


def mlflow_uri(uri: str) -> str:
    """The tracking URI MLflow is given: ``sqlite:///FILE``, ``http(s)://HOST...``, a
    ``file:`` URI or plain path of a local store (a path ending in ``.db`` is an SQLite
    store, MLflow 3's default local store; another path is MLflow's folder store)."""
    text = str(uri).strip()
    if not text:
        raise PernodeError("`mlflow` is empty; give a tracking URI: sqlite:///mlflow.db, http://HOST:PORT or a folder.")
    parsed = urlparse(text)
    scheme = parsed.scheme.lower()
    if scheme in ("http", "https"):
        if not parsed.hostname:
            raise PernodeError(f"`mlflow` {text} names no host; give http://HOST:PORT of a tracking server.")
        return text
    if scheme == "sqlite":
        database = text[len("sqlite:///"):] if text.lower().startswith("sqlite:///") else None
        if not database:
            raise PernodeError(f"`mlflow` {text} is not an SQLite URI; write sqlite:///relative.db or "
                               "sqlite:////absolute.db.")
        _local_parent(Path(database), text, file=True)
        return text
    if scheme == "file":
        path = Path(parsed.path)
    elif len(scheme) > 1:  # a one-letter scheme is a Windows drive
        raise PernodeError(f"`mlflow` {text}: unknown scheme {scheme}:; give sqlite:///FILE.db, http(s)://HOST:PORT, "
                           "a file: URI or a folder.")
    else:
        path = Path(text).expanduser()
    if path.suffix == ".db":
        _local_parent(path, text, file=True)
        return f"sqlite:///{path.resolve()}"
    _local_parent(path, text, file=False)
    return path.resolve().as_uri()


def _local_parent(path: Path, text: str, file: bool) -> None:
    path = real_path(path, "`mlflow` store")  # a loop of links: one line
    if path.exists() and path.is_dir() == file:
        what = "a folder, not a database file" if file else "a file, not a store folder"
        raise PernodeError(f"`mlflow` {text} is {what}.")
    parent = path.resolve().parent
    if not parent.is_dir():
        raise PernodeError(f"Folder {parent} of `mlflow` {text} does not exist; create it first.")


def open_mlflow(destination: str, experiment: str) -> MlflowSink:
    """``mlflow:URI``: the URI (and a local folder store) checked now, nothing sent yet."""
    uri = mlflow_uri(destination)
    require("mlflow")
    if not str(experiment).strip():
        raise PernodeError("`experiment` is empty; give the name of the MLflow experiment.")
    if uri.startswith("file:"):
        check_local_store(uri)
    return MlflowSink(uri, str(experiment).strip())


register_tracker("mlflow", open_mlflow, extra="mlflow",
                 description="an MLflow tracking server or local store: one run per run id and attempt in "
                             "--experiment, metrics at step = epoch, the attempt's rows as an artifact "
                             "(mlflow:URI, or --mlflow URI)")
