"""Exports to TensorBoard and MLflow against the real components: TensorBoard's own event
reader, a real `mlflow server` (SQLite backend on 127.0.0.1) killed in the middle of a
sweep and started again, MLflow's client reading the runs back. The CSV log is the truth:
every number in a tracker must equal the log's, and no export may duplicate a run or a step.
"""

import csv
import hashlib
import math
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
import warnings
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from pernode_cli.cli import app
from pernode_cli.errors import PernodeError
from pernode_cli.export import Exporters, open_exporters, split_row
from pernode_cli.export import engine
from pernode_cli.export.columns import (
    ENVIRONMENT_COLUMNS,
    IDENTITY_COLUMNS,
    METRIC_COLUMNS,
    OUTCOME_COLUMNS,
    PARAM_COLUMNS,
    SETTING_COLUMNS,
    param_text,
    row_epoch,
)
from pernode_cli.export.mlflow_sink import mlflow_uri
from pernode_cli.export.tensorboard_sink import tensorboard_folder
from pernode_cli.logs import CsvLog
from pernode_cli.schema import TRAIN_COLUMNS, EpochRow
from tests.helpers import HEAVY_MODULES

runner = CliRunner()
MACHINE = "Linux x86_64, 2 CPUs, Python 3.11.7"
# (variant, seed, attempt, epochs, finished): a finished run, an interrupted attempt and
# its finished retry, and an attempt still training.
RUNS = [("Dropout", 0, 1, 3, True), ("PerNodeBernoulli", 0, 1, 2, False), ("PerNodeBernoulli", 0, 2, 3, True),
        ("GaussianDropout", 1, 1, 1, False)]


def build_rows(runs=RUNS, seed: int = 0) -> list:
    """Rows as `train_run` builds them (``asdict(EpochRow(...))``), with realistic values."""
    rng = np.random.default_rng(seed)
    rows, clock = [], 1_796_000_000
    for variant, run_seed, attempt, epochs, finished in runs:
        run_id = f"{variant}-{hashlib.sha1(f'{variant}{run_seed}'.encode()).hexdigest()[:10]}"
        loss = 2.3
        for epoch in range(1, epochs + 1):
            loss *= float(rng.uniform(0.85, 0.99))
            clock += int(rng.integers(2, 9))
            end = ("epochs" if epoch == epochs else "") if finished else ""
            rows.append(asdict(EpochRow(
                run_id=run_id, timestamp=time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(clock)),
                dataset="digits", variant=variant, rate=0.1, realised_rate=0.100006103515625 if "PerNode" in variant
                else 0.1, units=4, batch_size=32, seed=run_seed, epoch=epoch, attempt=attempt,
                val_loss=loss, val_acc=float(rng.uniform(0.1, 0.9)), train_loss=loss * 0.98,
                train_acc=float(rng.uniform(0.1, 0.9)), fit_loss=loss * 1.01, fit_acc=float(rng.uniform(0.1, 0.9)),
                val_ece=float(rng.uniform(0, 0.1)), val_brier=float(rng.uniform(0.5, 0.9)), mc_samples=0,
                epoch_seconds=round(float(rng.uniform(0.05, 3.0)), 4), status="ok", run_end=end, lr=0.001,
                epochs=3, max_train_samples=64, train_samples=64, sampler="chunked" if "PerNode" in variant else "",
                backend="tensorflow", backend_version="2.21.0", device="CPU", machine=MACHINE,
            )))
    return rows


def write_log(path: Path, runs=RUNS, seed: int = 0) -> Path:
    """A log as `train_run` writes it: its rows appended by CsvLog."""
    log = CsvLog(path)
    for row in build_rows(runs, seed):
        log.append(row)
    log.close()
    return path


def log_attempts(path: Path) -> dict:
    """``{(run_id, attempt): (raw lines, text rows)}`` straight from the file."""
    lines = path.read_text().splitlines(keepends=True)
    header = next(csv.reader([lines[0]]))
    out = {}
    for line in lines[1:]:
        row = dict(zip(header, next(csv.reader([line]))))
        entry = out.setdefault((row["run_id"], int(row["attempt"])), ([], []))
        entry[0].append(line)
        entry[1].append(row)
    return out


def finite_metrics(row: dict) -> dict:
    out = {}
    for c in METRIC_COLUMNS:
        if row.get(c, "") != "" and math.isfinite(float(row[c])):
            out[c] = float(row[c])
    return out


def invoke(*args):
    result = runner.invoke(app, [str(a) for a in args])
    return result, result.output


# -- the column classification


def test_columns_are_classified_once_and_text_rows_equal_typed_rows(tmp_path):
    groups = [IDENTITY_COLUMNS, SETTING_COLUMNS, ENVIRONMENT_COLUMNS, OUTCOME_COLUMNS, METRIC_COLUMNS]
    assert sorted(c for g in groups for c in g) == sorted(TRAIN_COLUMNS)  # every column, once
    assert {"val_loss", "val_acc", "train_loss", "fit_loss", "epoch_seconds", "mc_val_loss"} <= set(METRIC_COLUMNS)
    log = write_log(tmp_path / "log.csv", RUNS[:1])
    (lines, rows), = log_attempts(log).values()
    typed = build_rows(RUNS[:1])[0]  # the same row before the CSV: Python values
    assert split_row(rows[0]) == split_row(typed)
    params, metrics, tags = split_row(rows[0])
    assert {k: param_text(v) for k, v in params.items()} == {c: rows[0][c] for c in PARAM_COLUMNS if rows[0][c]}
    assert metrics == finite_metrics(rows[0]) and "mc_val_loss" not in metrics  # empty cells are not sent
    assert tags["machine"] == MACHINE and tags["status"] == "ok" and "run_end" not in tags
    extra = split_row({**rows[0], "val_loss": "nan", "my_score": "0.25", "my_note": "fast", "source": "x.csv"})[1:]
    assert "val_loss" not in extra[0] and extra[0]["my_score"] == 0.25
    assert extra[1]["my_note"] == "fast" and extra[1]["source"] == "x.csv"


# -- the engine, with a tracker we control


class Recorder(engine.Sink):
    """A tracker that records what it gets; it can block, fail for a while, or refuse a run."""

    name = "recorder"

    def __init__(self, gate=None, fail=0, refuse=(), flaky=(), error=TimeoutError):
        self.gate, self.fail, self.refuse, self.flaky = gate, fail, set(refuse), set(flaky)
        self.error = error  # what a failed send raises: a slow tracker, or one nobody listens for
        self.sent, self.ended, self.calls = [], [], 0

    def open_run(self, run_id, attempt, params, tags, first_row, name):
        if run_id in self.refuse:
            raise ValueError("the tracker refuses this run")
        return (run_id, attempt), False

    def send(self, handle, rows):
        if self.gate is not None:
            self.gate.wait()
        self.calls += 1
        if self.calls <= self.fail or handle[0] in self.flaky:
            raise self.error("tracker unreachable")
        self.sent += [(handle, row_epoch(r)) for r in rows]
        return len(rows), 0

    def end(self, handle, rows, tags):
        self.ended.append((handle, [row_epoch(r) for r in rows]))


def _feed(ex, runs=3, epochs=5, end=True, rows_at_end=True):
    for r in range(runs):
        rows = [{"run_id": f"R{r}", "attempt": 1, "epoch": e, "val_loss": 1.0 / e} for e in range(1, epochs + 1)]
        for row in rows:
            ex.epoch(f"R{r}", 1, row)
        if end:
            ex.run_end(f"R{r}", 1, rows if rows_at_end else None)


@pytest.fixture
def fast_backoff(monkeypatch):
    monkeypatch.setattr(engine, "BACKOFF_FIRST_S", 0.01)


def test_calls_return_while_the_tracker_is_blocked_and_everything_arrives_once_in_order():
    gate = threading.Event()
    sink = Recorder(gate=gate)
    ex = Exporters([sink])
    _feed(ex)
    assert not gate.is_set() and sink.sent == []  # every call returned while the tracker was stuck
    gate.set()
    assert ex.close(timeout_s=10) == []
    assert sink.sent == [((f"R{r}", 1), e) for r in range(3) for e in range(1, 6)]
    assert sorted(sink.ended) == [((f"R{r}", 1), [1, 2, 3, 4, 5]) for r in range(3)]


def test_backoff_doubles_from_half_a_second_to_its_cap():
    assert [engine.backoff(n) for n in (1, 2, 3, 7, 8, 20)] == [0.5, 1.0, 2.0, 30.0, 30.0, 30.0]


def test_failed_sends_are_retried_with_backoff_and_sent_once(fast_backoff):
    sink = Recorder(fail=4)
    ex = Exporters([sink])
    _feed(ex)
    assert ex.close(timeout_s=10) == []
    assert sorted(sink.sent) == [((f"R{r}", 1), e) for r in range(3) for e in range(1, 6)]
    assert sink.calls > 4 and len(sink.ended) == 3


def test_a_full_queue_costs_events_not_time_and_run_end_fills_them_in_in_order():
    gate = threading.Event()
    sink = Recorder(gate=gate)
    ex = Exporters([sink], queue_size=4)
    rows = [{"run_id": "R", "attempt": 1, "epoch": e, "val_loss": 1.0 / e} for e in range(1, 11)]
    for row in rows:
        ex.epoch("R", 1, row)
    gate.set()
    worker = ex._workers[0]
    deadline = time.monotonic() + 10
    while not worker.queue.empty() and time.monotonic() < deadline:
        time.sleep(0.01)
    ex.run_end("R", 1, rows)
    assert ex.close(timeout_s=10) == []
    assert sink.sent == [(("R", 1), e) for e in range(1, 11)]  # whole, and in epoch order


def test_events_lost_to_a_full_queue_are_reported_when_run_end_has_no_rows():
    gate = threading.Event()
    sink = Recorder(gate=gate)
    ex = Exporters([sink], queue_size=4)
    for e in range(1, 11):
        ex.epoch("R", 1, {"run_id": "R", "attempt": 1, "epoch": e, "val_loss": 1.0})
    gate.set()
    time.sleep(0.2)
    ex.run_end("R", 1)
    (line,) = ex.close(timeout_s=10)
    lost = 10 - len(sink.sent)
    assert lost > 0 and line == f"recorder: run R attempt 1: {lost} of 10 epoch(s) not sent (the export queue was full)"


def test_a_refused_run_is_one_line_and_the_others_go_on(fast_backoff):
    sink = Recorder(refuse={"R1"})
    ex = Exporters([sink])
    _feed(ex)
    (line,) = ex.close(timeout_s=10)
    assert line.startswith("recorder: run R1 attempt 1: all 5 epoch(s) and its end not sent (refused: ValueError")
    assert sorted({h for h, _ in sink.sent}) == [("R0", 1), ("R2", 1)]


def test_a_run_that_keeps_failing_does_not_hold_the_others_up(fast_backoff):
    sink = Recorder(flaky={"R0"})
    ex = Exporters([sink])
    _feed(ex)
    (line,) = ex.close(timeout_s=1)
    assert line.startswith("recorder: run R0 attempt 1: all 5 epoch(s) and its end not sent (gave up after 1 s")
    assert sorted({h for h, _ in sink.sent}) == [("R1", 1), ("R2", 1)] and len(sink.ended) == 2


def test_close_gives_up_at_its_timeout_with_one_line_per_run(fast_backoff):
    ex = Exporters([Recorder(fail=10**9)])
    _feed(ex, end=False)
    ex.run_end("R0", 1)
    lines = ex.close(timeout_s=0.3)
    assert len(lines) == 3
    assert lines[0] == ("recorder: run R0 attempt 1: all 5 epoch(s) and its end not sent (gave up after 0.3 s: "
                        "TimeoutError: tracker unreachable)")
    assert lines[1].startswith("recorder: run R1 attempt 1: all 5 epoch(s) not sent (gave up")
    stuck = Exporters([Recorder(gate=threading.Event())])  # a tracker that never answers
    _feed(stuck, runs=1)
    assert len(stuck.close(timeout_s=0.2)) == 1


def test_a_refused_connection_is_said_at_once_and_not_waited_on_at_the_end(fast_backoff):
    told = []
    ex = Exporters([Recorder(fail=10**9, error=ConnectionRefusedError)], on_problem=lambda *a: told.append(a))
    _feed(ex)
    started = time.monotonic()
    lines = ex.close(timeout_s=600)
    assert time.monotonic() - started < 60  # a grace of engine.REFUSED_GRACE_S, not the 600 s
    assert len(lines) == 3 and all("ConnectionRefusedError: tracker unreachable" in x for x in lines)
    assert told == [("recorder", "ConnectionRefusedError: tracker unreachable")]  # once, at the first failure
    back = Recorder(fail=1, error=ConnectionRefusedError)  # back within the grace: everything is sent
    ex = Exporters([back])
    _feed(ex)
    assert ex.close(timeout_s=600) == [] and len(back.ended) == 3


def test_the_interface_never_raises():
    ex = Exporters([Recorder()])
    ex.epoch("R", "not a number", {"epoch": 1})
    ex.epoch(None, 1, object())
    ex.run_start("R", 1, params=object(), tags=None)
    ex.run_end("R", 1, rows=[object()])
    assert ex.close(timeout_s=5) == []
    ex.epoch("R", 1, {"epoch": 2})  # after close: ignored
    assert ex.close() == []
    none = open_exporters()
    none.epoch("R", 1, {"epoch": 1})
    assert not none and none.close() == []


# -- destinations, extras and bad input


def test_destinations_are_checked_before_anything_is_sent(tmp_path):
    assert mlflow_uri("http://127.0.0.1:5000") == "http://127.0.0.1:5000"
    assert mlflow_uri(f"sqlite:///{tmp_path}/m.db") == f"sqlite:///{tmp_path}/m.db"
    assert mlflow_uri(str(tmp_path / "m.db")) == f"sqlite:///{tmp_path / 'm.db'}"
    assert mlflow_uri(str(tmp_path / "mlruns")) == (tmp_path / "mlruns").as_uri()
    assert mlflow_uri((tmp_path / "mlruns").as_uri()) == (tmp_path / "mlruns").as_uri()
    for bad, words in [("ftp://host/x", "unknown scheme"), ("http://", "names no host"),
                       ("sqlite://x", "not an SQLite"), (f"sqlite:///{tmp_path}/no/m.db", "does not exist"),
                       ("", "is empty")]:
        with pytest.raises(PernodeError, match=words) as err:
            mlflow_uri(bad)
        assert "`mlflow`" in str(err.value)
    (tmp_path / "file").write_text("x")
    with pytest.raises(PernodeError, match="is a file"):
        tensorboard_folder(tmp_path / "file")
    with pytest.raises(PernodeError, match="does not exist"):
        tensorboard_folder(tmp_path / "no" / "tb")


def test_bad_input_is_one_line_and_exit_2(tmp_path):
    log = write_log(tmp_path / "log.csv", RUNS[:1])
    for args, words in [
        (["export", str(log)], "give --tensorboard (a folder) or --mlflow"),
        (["export", str(log), "--mlflow", "ftp://x"], "--mlflow ftp://x: unknown scheme"),
        (["export", str(tmp_path / "none.csv"), "--tensorboard", str(tmp_path / "tb")], "does not exist"),
        (["export", str(log), "--tensorboard", str(tmp_path / "tb"), "--timeout", "0"], "--timeout"),
    ]:
        result, output = invoke(*args)
        assert result.exit_code == 2, output
        assert words in output and len(output.strip().splitlines()) == 1 and "Traceback" not in output
    (tmp_path / "other.csv").write_text("a,b\n1,2\n")
    result, output = invoke("export", str(tmp_path / "other.csv"), "--tensorboard", str(tmp_path / "tb"))
    assert result.exit_code == 2 and "not a training log" in output


@pytest.mark.parametrize("module, flag", [("mlflow", "--mlflow"), ("tensorboard", "--tensorboard")])
def test_without_the_extra_the_flag_says_how_to_install(tmp_path, monkeypatch, module, flag):
    monkeypatch.setitem(sys.modules, module, None)  # what an absent package looks like to import
    log = write_log(tmp_path / "log.csv", RUNS[:1])
    target = f"sqlite:///{tmp_path}/m.db" if module == "mlflow" else str(tmp_path / "tb")
    with pytest.raises(PernodeError, match=re.escape(f'pip install "pernode[{module}]"')):
        open_exporters(**{module: target})
    result, output = invoke("export", str(log), flag, target)
    assert result.exit_code == 2 and len(output.strip().splitlines()) == 1
    assert f'Exporting with {flag} needs {module}: pip install "pernode[{module}]".' in " ".join(output.split())


def test_an_unreachable_tracker_is_one_line_per_run_exit_1_and_export_imports_no_backend(tmp_path):
    log = write_log(tmp_path / "log.csv")
    before = log.read_bytes()
    url = f"http://127.0.0.1:{_free_port()}"  # nothing listens there
    args = ["export", str(log), "--mlflow", url, "--timeout", "1", "--tensorboard", str(tmp_path / "tb")]
    code = ("import sys\nfrom typer.testing import CliRunner\nfrom pernode_cli.cli import app\n"
            f"r = CliRunner().invoke(app, {args!r})\nprint(r.output)\nprint('exit', r.exit_code)\n"
            f"print('heavy', [m for m in {HEAVY_MODULES!r} if m in sys.modules])\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "exit 1" in out and "heavy []" in out and "Traceback" not in out
    lines = [line for line in out.splitlines() if line.startswith("not sent:")]
    assert len(lines) == len(RUNS)  # one per run attempt; TensorBoard took them all
    for line, (run_id, attempt) in zip(lines, log_attempts(log)):
        epochs = len(log_attempts(log)[run_id, attempt][1])
        prefix = (f"not sent: MLflow {url}: run {run_id} attempt {attempt}: all {epochs} epoch(s) and its end "
                  "(status and rows artifact) not sent (")
        assert line.startswith(prefix)
        # Refused, or mlflow still being imported when the second was up: either is said.
        assert line[len(prefix):] in (f"gave up after 1 s: cannot reach {url} (connection refused))",
                                      "gave up after 1 s, before any answer from the tracker)")
    assert log.read_bytes() == before and len(list((tmp_path / "tb").glob("*/*"))) == len(RUNS)


def test_two_logs_that_disagree_on_an_epoch_are_reported_not_merged(tmp_path):
    one = write_log(tmp_path / "one.csv", RUNS[:1], seed=0)
    other = write_log(tmp_path / "other.csv", RUNS[:1], seed=1)  # the same run id and attempt, trained again
    copy = tmp_path / "copy.csv"
    copy.write_bytes(one.read_bytes())  # an identical copy (a merged shard log) is no conflict
    result, output = invoke("export", str(one), str(copy), "--tensorboard", str(tmp_path / "a"))
    assert result.exit_code == 0, output
    result, output = invoke("export", str(one), str(other), "--tensorboard", str(tmp_path / "b"))
    assert result.exit_code == 1
    (line,) = [x for x in output.splitlines() if x.startswith("not sent:")]
    (run_id, _), = log_attempts(one)
    assert f"run {run_id} attempt 1: 3 epoch(s) in {other} differ from {one}" in " ".join(output.split())


def test_importing_the_export_package_imports_no_tracker_and_no_backend():
    code = ("import sys, pernode_cli.export, pernode_cli.stats.target\n"
            "print(','.join(m for m in ('mlflow', 'tensorboard', 'tensorflow', 'keras', 'pandas')"
            " if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


# -- TensorBoard, read back with its own reader




def _tensorboard_holds(read, folder: Path, rows: list):
    from tensorboard.plugins.hparams import plugin_data_pb2
    from tensorboard.util import tensor_util

    acc = read(folder)
    tags = set(acc.Tags()["tensors"]) - {"_hparams_/session_start_info"}
    want = {}
    for row in rows:
        for tag, value in finite_metrics(row).items():
            want.setdefault(tag, []).append((int(row["epoch"]), np.float32(value)))  # TensorBoard keeps float32
    assert tags == set(want)
    for tag, points in want.items():
        got = [(e.step, tensor_util.make_ndarray(e.tensor_proto).item()) for e in acc.Tensors(tag)]
        assert got == [(s, float(v)) for s, v in points], tag  # each step once, equal to the CSV
    content = acc.PluginTagToContent("hparams")["_hparams_/session_start_info"]
    hparams = plugin_data_pb2.HParamsPluginData.FromString(content).session_start_info.hparams
    settings = {c: rows[0][c] for c in PARAM_COLUMNS if rows[0][c] != ""}
    assert set(hparams) == set(settings)
    for name, cell in settings.items():
        value = hparams[name]
        got = value.string_value if value.HasField("string_value") else value.number_value
        assert got == (cell if value.HasField("string_value") else float(cell)), name


def _files(folder: Path) -> dict:
    return {p: p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_tensorboard_export_reads_back_equal_and_a_second_export_adds_nothing(tmp_path, tensorboard_reader):
    log = write_log(tmp_path / "log.csv")
    before = log.read_bytes()
    tb = tmp_path / "tb"
    result, output = invoke("export", str(log), "--tensorboard", str(tb))
    assert result.exit_code == 0, output
    assert "4 attempt(s) from 1 log(s): 2 finished, 2 unfinished" in output
    assert re.search(r"PerNodeBernoulli-\w+ attempt 1, GaussianDropout-\w+ attempt 1: sent as far as they got",
                     " ".join(output.split()))
    attempts = log_attempts(log)
    assert {p.relative_to(tb).as_posix() for p in tb.glob("*/*")} == {f"{r}/attempt-{a}" for r, a in attempts}
    for (run_id, attempt), (_, rows) in attempts.items():
        _tensorboard_holds(tensorboard_reader, tb / run_id / f"attempt-{attempt}", rows)
    files = _files(tb)
    result, output = invoke("export", str(log), "--tensorboard", str(tb))
    assert result.exit_code == 0, output
    assert f"TensorBoard {tb}: 0 run(s) created, 4 already there; 0 epoch(s) written, 9 already there" in " ".join(
        output.split())
    assert _files(tb) == files and log.read_bytes() == before  # nothing added, the log untouched


def test_a_live_tensorboard_export_cut_short_is_completed_by_pernode_export(tmp_path, tensorboard_reader):
    log = write_log(tmp_path / "log.csv", RUNS[:1])
    (key, (_, rows)), = log_attempts(log).items()
    ex = open_exporters(tensorboard=str(tmp_path / "tb"))
    ex.run_start(*key, tags={"source": str(log)})
    for row in rows[:2]:  # the trainer is killed after its second epoch: no run_end
        ex.epoch(*key, row)
    assert ex.close(timeout_s=10) == []
    folder = tmp_path / "tb" / key[0] / "attempt-1"
    assert len(_files(folder)) == 1
    result, output = invoke("export", str(log), "--tensorboard", str(tmp_path / "tb"))
    assert result.exit_code == 0 and "0 run(s) created, 1 already there; 1 epoch(s) written, 2 already there" in \
        " ".join(output.split())
    _tensorboard_holds(tensorboard_reader, folder, rows)  # every epoch once, in order
    assert len(_files(folder)) == 2


# -- a real MLflow tracking server


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class MlflowServer:
    """`mlflow server` on 127.0.0.1 with an SQLite store, in its own process group."""

    def __init__(self, folder: Path, name: str):
        self.folder, self.port, self.process = folder, _free_port(), None
        self.url, self.log = f"http://127.0.0.1:{self.port}", folder / f"{name}.log"

    def launch(self) -> "MlflowServer":
        args = [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", f"sqlite:///{self.folder}/mlflow.db",
                "--artifacts-destination", str(self.folder / "artifacts"), "--host", "127.0.0.1",
                "--port", str(self.port), "--workers", "1"]
        with open(self.log, "ab") as out:
            # Without MLflow's job runner (eight more processes, for GenAI jobs): tracking only.
            env = dict(os.environ, MLFLOW_LOGGING_LEVEL="WARNING", MLFLOW_SERVER_ENABLE_JOB_EXECUTION="false")
            self.process = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, start_new_session=True, env=env)
        return self

    def wait(self, timeout: float = 300) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(self.log.read_text()[-2000:])
            try:
                with urllib.request.urlopen(f"{self.url}/health", timeout=2) as r:
                    if r.status == 200:
                        return
            except OSError:
                time.sleep(0.2)
        raise AssertionError(f"mlflow server did not answer within {timeout} s")

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)  # the server and its worker: a crash, not a shutdown
            self.process.wait(timeout=30)


class Relay:
    """A TCP relay on a fixed port of 127.0.0.1 to a target port: stopped, nothing listens
    there (a refused connection, as when a server is down); started again, the same address
    reaches whatever server it is pointed at."""

    def __init__(self):
        self.port, self.listener, self.links = _free_port(), None, []
        self.url = f"http://127.0.0.1:{self.port}"

    def start(self, target: int) -> "Relay":
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", self.port))
        self.listener.listen(64)
        threading.Thread(target=self._accept, args=(self.listener, target), daemon=True).start()
        return self

    def _accept(self, listener, target: int) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(("127.0.0.1", target))
            except OSError:
                client.close()
                continue
            self.links += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(a, b) -> None:
        try:
            while data := a.recv(65536):
                b.sendall(data)
        except OSError:
            pass
        finally:
            for x in (a, b):
                try:
                    x.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def stop(self) -> None:
        if self.listener is not None:
            self.listener.close()
            self.listener = None
        for x in self.links:
            try:
                x.close()
            except OSError:
                pass
        self.links = []


@pytest.fixture(scope="module")
def mlflow_servers(tmp_path_factory):
    """Two servers on one SQLite store and one artifact folder, started together: the second
    stands for the first one started again after its crash (a restart would double the
    test's time on a small machine)."""
    from mlflow import MlflowClient

    folder = tmp_path_factory.mktemp("mlflow")
    with warnings.catch_warnings():  # MLflow's own SQLAlchemy deprecation notice
        warnings.simplefilter("ignore", DeprecationWarning)
        MlflowClient(f"sqlite:///{folder}/mlflow.db").search_experiments()  # the tables, before two servers race
    first, second = MlflowServer(folder, "first").launch(), MlflowServer(folder, "second").launch()
    try:
        first.wait()
        second.wait()
        yield first, second
    finally:
        first.kill()
        second.kill()


def _tracker_runs(client, experiment: str = "pernode") -> dict:
    experiment = client.get_experiment_by_name(experiment)
    runs = client.search_runs([experiment.experiment_id], max_results=1000) if experiment else []
    out = {}
    for r in runs:
        out.setdefault((r.data.tags["pernode.run_id"], int(r.data.tags["pernode.attempt"])), []).append(r)
    return out


def _assert_tracker_equals_log(client, log: Path, tmp_path: Path, experiment: str = "pernode") -> None:
    attempts = log_attempts(log)
    header = log.read_text().splitlines(keepends=True)[0]
    runs = _tracker_runs(client, experiment)
    assert set(runs) == set(attempts)
    for key, (lines, rows) in attempts.items():
        (run,) = runs[key]  # one MLflow run per run id and attempt: no duplicate
        assert run.data.params == {c: rows[0][c] for c in PARAM_COLUMNS if rows[0][c] != ""}
        for c in ("backend", "backend_version", "device", "machine", "pernode_version"):
            assert run.data.tags[c] == rows[0][c]
        assert run.data.tags["source"] == str(log.resolve())
        finished = bool(rows[-1]["run_end"])
        assert run.info.status == ("FINISHED" if finished else "KILLED")
        assert run.data.tags["pernode.finished"] == ("true" if finished else "false")
        for c in METRIC_COLUMNS:
            want = [(int(r["epoch"]), finite_metrics(r)[c]) for r in rows if c in finite_metrics(r)]
            got = sorted((m.step, m.value) for m in client.get_metric_history(run.info.run_id, c))
            assert got == want, (key, c)  # step = epoch, each once, the CSV's float64
        path = client.download_artifacts(run.info.run_id, "rows.csv", str(tmp_path))
        assert Path(path).read_text() == header + "".join(lines)  # the log's own lines


SWEEP = ('dataset = "digits"\n[grid]\nvariants = ["Dropout", "Dense"]\nrates = [0.1, 0.3]\nunits = [4]\n'
         'batch_sizes = [32]\n[fixed]\nepochs = 3\nmax_train_samples = 64\n')


@pytest.mark.slow
def test_a_sweep_exports_live_to_mlflow_survives_an_outage_and_export_refills(tmp_path, mlflow_servers):
    from mlflow import MlflowClient

    mlflow_server, restarted = mlflow_servers
    (tmp_path / "c.toml").write_text(SWEEP)
    log = tmp_path / "c.csv"
    relay = Relay().start(mlflow_server.port)  # the sweep's tracker address
    client = MlflowClient(mlflow_server.url)
    # A real sweep exporting live; once its first run has reached the server whole, the server dies
    # and nothing listens at its address any more.
    killed = threading.Event()

    def kill_after_the_first_run():
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and not killed.is_set():
            runs = [r for rs in _tracker_runs(client, "outage").values() for r in rs]
            if any(client.get_run(r.info.run_id).info.status == "FINISHED" for r in runs):
                relay.stop()
                mlflow_server.kill()
                killed.set()
            time.sleep(0.3)

    watcher = threading.Thread(target=kill_after_the_first_run, daemon=True)
    watcher.start()
    started = time.monotonic()
    result, err = invoke("sweep", tmp_path / "c.toml", "--log", log, "--mlflow", relay.url,
                         "--experiment", "outage", "--export-timeout", "600", "--quiet")
    took = time.monotonic() - started
    watched = killed.is_set()
    killed.set()
    watcher.join()
    assert watched, f"the server outlived the sweep: {err}"
    assert result.exit_code == 0, err  # the tracker failed: the sweep did not (its result is the log)
    assert took < 300, took  # a refused connection is not waited on for the 600 s of --export-timeout
    frame = pd.read_csv(log)
    # Dropout at 2 rates, Dense once (it takes no rate), 3 epochs each: the CSV whole
    assert len(frame) == 3 * 3 and not frame.duplicated(["run_id", "attempt", "epoch"]).any()
    text = " ".join(err.split())
    assert text.count("training goes on and the rows are retried") == 1, err  # said once, at the first failure
    hint = re.search(r"to send the rest later, run: (pernode export [^\n]*)", err)
    assert hint is not None, err
    command = " ".join(hint.group(1).split())
    assert command == f"pernode export {log} --mlflow {relay.url} --experiment outage", command
    # The tracker is back at the same address: the command as printed, in a real process, fills it in.
    relay.start(restarted.port)
    from mlflow.tracking._tracking_service import utils as tracking_utils

    getattr(tracking_utils, "_artifact_repos_cache", {}).clear()
    done = subprocess.run([sys.executable, "-m", "pernode_cli", *shlex.split(command)[1:]], capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    relay.stop()
    client = MlflowClient(restarted.url)
    _assert_tracker_equals_log(client, log, tmp_path / "outage", "outage")
    # A second export adds nothing.
    result, output = invoke("export", str(log), "--mlflow", restarted.url, "--experiment", "outage")
    assert result.exit_code == 0, output
    assert "0 run(s) created, 3 already there; 0 epoch(s) written, 9 already there" in " ".join(output.split())
    # Another log of the same runs, trained again: what MLflow holds is kept, and said.
    log = write_log(tmp_path / "log.csv")
    result, output = invoke("export", str(log), "--mlflow", restarted.url, "--experiment", "again", "--timeout", "60")
    assert result.exit_code == 0, output
    (tmp_path / "other").mkdir()
    other = write_log(tmp_path / "other" / "log.csv", seed=5)
    result, output = invoke("export", str(other), "--mlflow", restarted.url, "--experiment", "again")
    assert result.exit_code == 1
    lines = [x for x in " ".join(output.split()).split("not sent: ")[1:]]
    assert len(lines) == 4 and all("metric value(s) differ from those MLflow holds" in x for x in lines)
    _assert_tracker_equals_log(client, log, tmp_path / "second", "again")  # no duplicate, the first log's numbers


@pytest.mark.slow
def test_train_exports_live_to_tensorboard_equal_to_its_log(tmp_path, tensorboard_reader):
    result, output = invoke("train", "--max-train-samples", "64", "--units", "4", "--batch-size", "32", "--epochs", "3",
                            "--log", tmp_path / "t.csv", "--tensorboard", tmp_path / "tb", "--quiet")
    assert result.exit_code == 0, output
    (key, (_, rows)), = log_attempts(tmp_path / "t.csv").items()
    _tensorboard_holds(tensorboard_reader, tmp_path / "tb" / key[0] / f"attempt-{key[1]}", rows)
