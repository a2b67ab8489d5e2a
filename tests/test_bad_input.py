"""Bad input, case by case: one line on stderr, exit code 2, no traceback, and every file
that existed before is byte-identical afterwards (and no file is added)."""

import hashlib
import os
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from pernode_cli.cli import app
from pernode_cli.logs import CsvLog, LogLock
from pernode_cli.schema import TRAIN_COLUMNS
from tests.logs_factory import log_rows, write_log

runner = CliRunner()
FAST = ["--max-train-samples", "64", "--units", "4", "--batch-size", "32", "--epochs", "1"]
GRID = 'dataset = "digits"\n[grid]\nvariants = ["Dropout", "Dense"]\nrates = [0.1]\nunits = [4]\n[fixed]\nepochs = 1\n'


def _snapshot(root: Path) -> dict:
    return {p.relative_to(root): hashlib.sha256(p.read_bytes()).hexdigest() for p in root.rglob("*") if p.is_file()}


def _log(tmp, name="l.csv"):
    path = tmp / name
    log = CsvLog(path)
    log.append({"run_id": "keep-me", "epoch": 1, "schema_version": 3})
    log.close()
    return name


def _npz(tmp, name, **arrays):
    rng = np.random.default_rng(0)
    base = dict(x_train=rng.normal(size=(20, 6)), y_train=rng.integers(0, 3, 20),
                x_val=rng.normal(size=(5, 6)), y_val=rng.integers(0, 3, 5))
    np.savez(tmp / name, **{**base, **arrays})
    return name


def _pilot(tmp):
    write_log(tmp / "p.csv", log_rows(seeds=(0, 1)))
    return "p.csv"


def _toml(tmp, text, name="c.toml"):
    (tmp / name).write_text(text)
    return name


def _cifar_corrupt(tmp):
    (tmp / "cifar").mkdir()
    (tmp / "cifar" / "data_batch_1").write_bytes(b"not a pickle")
    return "cifar"


def _rcv1_corrupt(tmp):
    (tmp / "RCV1").mkdir()
    for name in ("samples_py3.pkl", "sample_id_py3.pkl", "sample_topics_py3.pkl", "topics_names_py3.pkl"):
        (tmp / "RCV1" / name).write_bytes(b"\x80\x04garbage")
    return "."


def _state_of_other_config(tmp):
    _toml(tmp, GRID)
    (tmp / "s.csv.sweep.json").write_text('{"fingerprint": "0000", "shard": "1/1", "finished": {}, "failed": {}}\n')
    return "c.toml"


def _long_field_log(tmp):
    (tmp / "s.csv").write_text(
        ",".join(TRAIN_COLUMNS) + "\n" + "x" * 200_000 + ",1" + "," * (len(TRAIN_COLUMNS) - 2) + "\n"
    )
    return _toml(tmp, GRID)


CASES = [
    # train: options and values
    ("train-variant", lambda t: None, ["train", "--variant", "Zoneout"], "Unknown variant 'Zoneout'"),
    ("train-dataset", lambda t: None, ["train", "--dataset", "mnist"], "Unknown data set 'mnist'"),
    ("train-rate-high", lambda t: None, ["train", "--rate", "1.0"], "--rate must be in [0, 1)"),
    ("train-rate-low", lambda t: None, ["train", "--rate", "-0.2"], "--rate must be in [0, 1)"),
    ("train-units", lambda t: None, ["train", "--units", "0"], "--units must be a positive integer"),
    ("train-batch", lambda t: None, ["train", "--batch-size", "-4"], "--batch-size must be a positive integer"),
    ("train-epochs", lambda t: None, ["train", "--epochs", "0"], "--epochs must be a positive integer"),
    ("train-lr-zero", lambda t: None, ["train", "--lr", "0"], "--lr must be a positive number"),
    ("train-lr-nan", lambda t: None, ["train", "--lr", "nan"], "--lr must be a positive number"),
    ("train-seed-big", lambda t: None, ["train", "--seed", "5000000000"], "--seed must be below 2^32"),
    ("train-units-huge", lambda t: None, ["train", "--units", "1000000", "--batch-size", "1000000"],
     "more than this machine's"),
    ("train-units-unbounded", lambda t: None, ["train", "--units", "1000000000000"], "--units must be at most"),
    ("train-mc", lambda t: None, ["train", "--mc-samples", "-1"], "--mc-samples must be 0 (off)"),
    ("train-subset", lambda t: None, ["train", "--max-train-samples", "0"], "--max-train-samples must be a positive"),
    ("train-patience", lambda t: None, ["train", "--patience", "-1"], "--patience must be 0 (off)"),
    # train: files
    ("train-npz-missing", lambda t: None, ["train", "--dataset", "missing.npz"], "does not exist"),
    ("train-data-dir", lambda t: None, ["train", "--dataset", "cifar10", "--data-dir", "nowhere"],
     "--data-dir nowhere does not exist"),
    ("train-npz-garbage", lambda t: (t / "bad.npz").write_bytes(b"garbage"), ["train", "--dataset", "bad.npz"],
     "Cannot read"),
    ("train-npz-keys", lambda t: np.savez(t / "k.npz", x_train=np.ones((4, 3))), ["train", "--dataset", "k.npz"],
     "lacks y_train"),
    ("train-npz-small-images", lambda t: _npz(t, "s.npz", x_train=np.ones((20, 3, 3)), x_val=np.ones((5, 3, 3))),
     ["train", "--dataset", "s.npz"], "too small for the CNN"),
    ("train-npz-huge-labels", lambda t: _npz(t, "h.npz", y_train=np.full(20, 10**9)), ["train", "--dataset", "h.npz"],
     "labels reach"),
    ("train-npz-nan", lambda t: _npz(t, "n.npz", x_val=np.full((5, 6), np.nan)), ["train", "--dataset", "n.npz"],
     "NaN or infinite"),
    ("train-cifar-corrupt", _cifar_corrupt, ["train", "--dataset", "cifar10", "--data-dir", "cifar"], "corrupt"),
    ("train-rcv1-corrupt", _rcv1_corrupt, ["train", "--dataset", "rcv1", "--data-dir", "."],
     "RCV1 not available or unreadable"),
    ("train-log-empty-name", lambda t: None, ["train", "--log", ""], "The log path is empty"),
    ("train-log-folder", lambda t: (t / "d").mkdir(), ["train", "--log", "d"], "is a folder"),
    ("train-log-no-parent", lambda t: None, ["train", "--log", "no/such/l.csv"], "does not exist; create it first"),
    ("train-log-header", lambda t: (t / "o.csv").write_text("a,b\n1,2\n"), ["train", "--log", "o.csv"],
     "different header"),
    ("train-log-of-sweep", lambda t: [_log(t, "s.csv"), (t / "s.csv.sweep.json").write_text("{}")],
     ["train", "--log", "s.csv"], "belongs to a sweep"),
    # sweep: config keys, each with its line
    ("sweep-rate", lambda t: _toml(t, GRID.replace("[0.1]", "[1.5]")), ["sweep", "c.toml"], "line 4: grid.rates"),
    ("sweep-lr-nan", lambda t: _toml(t, GRID + "lr = nan\n"), ["sweep", "c.toml"],
     "line 8: fixed.lr: expected a finite positive"),
    ("sweep-lr-inf", lambda t: _toml(t, GRID + "lr = inf\n"), ["sweep", "c.toml"],
     "fixed.lr: expected a finite positive"),
    ("sweep-seed-big", lambda t: _toml(t, GRID.replace("[fixed]", "seeds = [4294967296]\n[fixed]")),
     ["sweep", "c.toml"], "grid.seeds: expected a list of integers in [0, 2^32)"),
    ("sweep-units-huge", lambda t: _toml(t, GRID.replace("units = [4]", "units = [1000000]\nbatch_sizes = [1000000]")),
     ["sweep", "c.toml"], "more than this machine's"),
    ("sweep-dataset-path", lambda t: _toml(t, GRID.replace('"digits"', '"missing.npz"')), ["sweep", "c.toml"],
     "line 1: dataset: Data file missing.npz does not exist"),
    ("sweep-data-dir", lambda t: _toml(t, 'data_dir = "nowhere"\n' + GRID), ["sweep", "c.toml"],
     "data_dir: nowhere does not exist"),
    ("sweep-unknown-key", lambda t: _toml(t, GRID + "epocs = 3\n"), ["sweep", "c.toml"], "fixed.epocs: unknown key"),
    ("sweep-toml", lambda t: _toml(t, "dataset = \n"), ["sweep", "c.toml"], "not valid TOML"),
    ("sweep-missing-config", lambda t: None, ["sweep", "none.toml"], "Config none.toml does not exist"),
    ("sweep-shard", lambda t: _toml(t, GRID), ["sweep", "c.toml", "--shard", "5/4"], "--shard must be K/N"),
    ("sweep-log-folder", lambda t: [_toml(t, GRID), (t / "d").mkdir()], ["sweep", "c.toml", "--log", "d"],
     "is a folder"),
    ("sweep-foreign-log", lambda t: [_toml(t, GRID), _log(t, "s.csv")], ["sweep", "c.toml", "--log", "s.csv"],
     "holds rows of other runs"),
    ("sweep-other-config", _state_of_other_config, ["sweep", "c.toml", "--log", "s.csv"], "different config"),
    ("sweep-long-field", _long_field_log, ["sweep", "c.toml", "--log", "s.csv"], "holds rows of other runs"),
    ("sweep-dry-run-lr-nan", lambda t: _toml(t, GRID + "lr = nan\n"), ["sweep", "c.toml", "--dry-run"], "fixed.lr"),
    ("sweep-gpus", lambda t: _toml(t, GRID), ["sweep", "c.toml", "--ray", "--gpus-per-run", "-1"],
     "--gpus-per-run must be 0, a fraction in (0, 1] or a whole number"),
    ("sweep-cpus", lambda t: _toml(t, GRID), ["sweep", "c.toml", "--ray", "--cpus-per-run", "0"],
     "--cpus-per-run must be a positive"),
    ("sweep-fixed-gpus", lambda t: _toml(t, GRID + "gpus_per_run = 1.5\n"), ["sweep", "c.toml"],
     "fixed.gpus_per_run: expected"),
    # rank
    ("rank-missing", lambda t: None, ["rank", "none.csv"], "does not exist"),
    ("rank-format", lambda t: _log(t), ["rank", "l.csv", "--format", "xml"], "Invalid value for '--format'"),
    ("rank-empty", lambda t: (t / "e.csv").write_text(""), ["rank", "e.csv"], "is empty"),
    ("rank-block-column", _pilot, ["rank", "p.csv", "--block-columns", "nosuch"], "--block-columns: no column nosuch"),
    # plan and the report's planner: arguments are bad input before any data set is planned
    ("plan-delta-nan", _pilot, ["plan", "p.csv", "--delta", "nan"], "--delta. Expected a finite float >= 0"),
    ("plan-delta-negative", _pilot, ["plan", "p.csv", "--delta", "-0.05"], "--delta. Expected a finite float >= 0"),
    ("plan-power", _pilot, ["plan", "p.csv", "--delta", "0.05", "--power", "1"], "--power. Expected a float in (0, 1)"),
    ("plan-shifted-control", _pilot,
     ["plan", "p.csv", "--delta", "0.05", "--control", "dropout", "--shifted", "Dropout"],
     "--shifted is the --control (Dropout)"),
    ("report-delta", _pilot, ["report", "p.csv", "--out", "r", "--delta", "-1"],
     "--delta. Expected a finite float >= 0"),
    ("report-block-column", _pilot, ["report", "p.csv", "--out", "r", "--block-columns", "nosuch"],
     "--block-columns: no column nosuch"),
    ("train-export-timeout", lambda t: None, ["train", "--tensorboard", "tb", "--export-timeout", "inf"],
     "--export-timeout must be a positive number"),
    ("sweep-export-timeout", lambda t: _toml(t, GRID), ["sweep", "c.toml", "--export-timeout", "-1"],
     "--export-timeout must be a positive number"),
    ("export-timeout-huge", _pilot, ["export", "p.csv", "--tensorboard", "tb", "--timeout", "1e300"],
     "--timeout must be at most"),
    # paths that are not what they must be
    ("report-out-root", _pilot, ["report", "p.csv", "--out", "/"], "is the root of the file system"),
    ("rank-plots-root", _pilot, ["rank", "p.csv", "--plots", "/"], "is the root of the file system"),
    ("report-out-foreign-manifest",
     lambda t: [_pilot(t), (t / "m").mkdir(), (t / "m" / ".pernode-output").write_text("")],
     ["report", "p.csv", "--out", "m"], "(.pernode-output, which lists no output of `report`)"),
    ("sweep-config-fifo", lambda t: os.mkfifo(t / "f.toml"), ["sweep", "f.toml", "--dry-run"],
     "Config f.toml is not a regular file (a FIFO"),
    ("train-npz-folder", lambda t: (t / "d.npz").mkdir(), ["train", "--dataset", "d.npz"],
     "Data file d.npz is a folder"),
    # timeit
    ("timeit-warmup", lambda t: None, ["timeit", "--dataset", "digits", "--epochs", "2", "--warmup", "2"],
     "--warmup must be in [0, --epochs)"),
    ("timeit-log-folder", lambda t: (t / "d").mkdir(), ["timeit", "--dataset", "digits", "--log", "d"], "is a folder"),
    ("timeit-max-minutes", lambda t: None, ["timeit", "--dataset", "digits", "--max-minutes", "-1"],
     "--max-minutes must be a positive"),
]


@pytest.mark.parametrize("setup, args, message", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input(tmp_path, monkeypatch, setup, args, message):
    monkeypatch.chdir(tmp_path)
    setup(tmp_path)
    before = _snapshot(tmp_path)
    result = runner.invoke(app, args if args[0] != "train" or "--log" in args else [*args, "--log", "l.csv"])
    assert result.exit_code == 2, result.output
    assert message in result.output, result.output
    assert "Traceback" not in result.output and len(result.output.strip().splitlines()) == 1, result.output
    assert _snapshot(tmp_path) == before


def test_a_second_writer_is_refused_naming_the_holder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _log(tmp_path)
    with LogLock(tmp_path / "l.csv"):
        before = _snapshot(tmp_path)
        result = runner.invoke(app, ["train", "--log", "l.csv", *FAST])
        assert _snapshot(tmp_path) == before
    assert result.exit_code == 2 and f"pid {os.getpid()}" in result.output
    assert "is being written by another process" in result.output


def test_train_refuses_a_run_the_log_holds_complete(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert runner.invoke(app, ["train", "--log", "l.csv", "--quiet", *FAST]).exit_code == 0
    before = _snapshot(tmp_path)
    result = runner.invoke(app, ["train", "--log", "l.csv", "--quiet", *FAST])
    assert result.exit_code == 2 and "already holds run" in result.output and "--seed" in result.output
    assert _snapshot(tmp_path) == before


def test_ray_missing_is_one_line(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _toml(tmp_path, GRID)
    monkeypatch.setitem(__import__("sys").modules, "ray", None)  # as where Ray is not installed
    before = _snapshot(tmp_path)
    result = runner.invoke(app, ["sweep", "c.toml", "--ray"])
    assert result.exit_code == 2 and 'pip install "pernode[ray]"' in result.output
    assert len(result.output.strip().splitlines()) == 1 and _snapshot(tmp_path) == before


def test_case_count():
    assert len(CASES) >= 40
