"""Command tests: each command parses its options and passes exactly these keywords to the
library (patched here); library errors become one line naming the option, exit code 2."""

import json
from dataclasses import fields
from pathlib import Path
from unittest import mock

import pytest
from typer.testing import CliRunner

from pernode_cli.cli import app
from pernode_cli.errors import PernodeError
from pernode_cli.schema import RunSettings, TimingRecord
from pernode_cli.sweeps.loop import SweepReport
from pernode_cli.training.config import RunSpec as TrainConfig
from pernode_cli.training.records import RunResult
from pernode_cli.training.config import TimeitConfig

runner = CliRunner()
SMOKE = Path(__file__).resolve().parents[1] / "sample_configs" / "smoke.toml"


SETTINGS = {"variant": "Dropout", "rate": 0.3, "units": 16, "seed": 4, "dataset": "digits"}


def test_train_passes_the_settings_and_log_to_the_library():
    done = RunResult("r-1", settings=SETTINGS)
    with mock.patch("pernode_cli.training.session.train", return_value=done) as train:
        result = runner.invoke(app, ["train", "--variant", "dropout", "--rate", "0.3", "--units", "16", "--seed", "4",
                                     "--patience", "2", "--mc-samples", "3", "--log", "x.csv", "--quiet"])
    assert result.exit_code == 0, result.output
    defaults = {f.name: f.default for f in fields(RunSettings)}
    expected = dict(defaults, variant="dropout", rate=0.3, units=16, seed=4, patience=2, mc_samples=3)
    kwargs = train.call_args.kwargs
    assert {k: kwargs[k] for k in defaults} == expected
    assert (kwargs["log"], kwargs["plugin"], kwargs["track"], kwargs["tensorboard"], kwargs["mlflow"],
            kwargs["experiment"], kwargs["export_timeout"]) == ("x.csv", (), [], None, None, "pernode", 30.0)


def test_train_prints_its_record_as_json():
    done = RunResult("r-1", settings=SETTINGS, log="/abs/x.csv", rows=[{"epoch": 1, "val_loss": float("nan")}])
    with mock.patch("pernode_cli.training.session.train", return_value=done):
        result = runner.invoke(app, ["train", "--log", "x.csv", "--format", "json"])
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout)
    assert record["command"] == "train" and record["run_id"] == "r-1" and record["log"] == "/abs/x.csv"
    assert record["rows_written"] == 1 and record["rows"] == [{"epoch": 1, "val_loss": None}]


def test_the_library_trains_the_checked_config_into_the_log(tmp_path):
    from pernode_cli.training import session

    log = str(tmp_path / "x.csv")
    with mock.patch("pernode_cli.training.run.train_to_log", return_value=RunResult("r-1")) as train:
        session.train(variant="dropout", rate=0.3, units=16, seed=4, patience=2, mc_samples=3, log=log)
    expected = TrainConfig(variant="Dropout", rate=0.3, units=16, seed=4, patience=2, mc_samples=3)
    train.assert_called_once_with(expected, log=log, events=None, exporters=mock.ANY)
    assert not train.call_args.kwargs["exporters"]  # no live export asked: no tracker
    with pytest.raises(PernodeError, match="Unknown setting `rates`; the run settings are: dataset, variant"):
        session.train(rates=0.3, log=log)


def test_train_run_failure_exits_1():
    failed = RunResult("r-1", failed=True, message="non-finite loss at epoch 1; run stopped", settings=SETTINGS)
    with mock.patch("pernode_cli.training.session.train", return_value=failed):
        result = runner.invoke(app, ["train", "--log", "x.csv", "--quiet"])
    assert result.exit_code == 1 and "non-finite loss" in result.output


def test_library_error_names_the_option():
    error = PernodeError("`data_dir` nowhere does not exist; check `max_train_samples` and `fixed.lr`.")
    with mock.patch("pernode_cli.training.session.train", side_effect=error):
        result = runner.invoke(app, ["train", "--log", "x.csv"])
    assert result.exit_code == 2
    assert result.output.strip() == (
        "error: --data-dir nowhere does not exist; check --max-train-samples and `fixed.lr`."
    )


def test_sweep_passes_config_log_shard_and_flags():
    report = SweepReport(skipped=1, ran=1)
    with mock.patch("pernode_cli.sweeps.session.sweep", return_value=report) as run:
        result = runner.invoke(app, ["sweep", str(SMOKE), "--log", "s.csv", "--shard", "2/3", "--fail-fast", "--quiet"])
    assert result.exit_code == 0, result.output
    (config,), kwargs = run.call_args
    assert config.path == SMOKE
    assert {k: v for k, v in kwargs.items() if k not in ("events", "on_problem", "on_unsent")} == {
        "log": "s.csv", "shard": (2, 3), "fail_fast": True, "ray": None, "gpus_per_run": None, "cpus_per_run": None,
        "plugin": (), "export_timeout": 30.0, "track": [], "tensorboard": None, "mlflow": None,
        "experiment": "pernode"}


def test_the_sweep_library_runs_the_loop():
    from pernode_cli.sweeps import session

    report = SweepReport(skipped=1, ran=1)
    with mock.patch("pernode_cli.sweeps.loop.run_sweep", return_value=report) as run:
        assert session.sweep(str(SMOKE), log="s.csv", shard="2/3", fail_fast=True) is report
    (config, log, shard), kwargs = run.call_args
    assert config.path == SMOKE and log == "s.csv" and shard == (2, 3)
    assert kwargs == {"fail_fast": True, "events": None, "runner": None, "exporters": mock.ANY}
    assert not kwargs["exporters"]


def test_sweep_failures_exit_1():
    report = SweepReport(skipped=0, ran=1, failures=[("r-1", "failed (RuntimeError: boom)")])
    with mock.patch("pernode_cli.sweeps.loop.run_sweep", return_value=report):
        result = runner.invoke(app, ["sweep", str(SMOKE), "--log", "s.csv"])
    assert result.exit_code == 1 and "RuntimeError: boom" in result.output


def test_sweep_dry_run_calls_only_the_plan():
    import numpy as np

    from pernode_cli.sweeps.plan import PlanTable

    empty = PlanTable(index=np.zeros(0, int), run_id=[], columns={}, status=[])
    with mock.patch("pernode_cli.sweeps.loop.dry_run", return_value=empty) as dry, \
            mock.patch("pernode_cli.sweeps.loop.run_sweep") as run:
        result = runner.invoke(app, ["sweep", str(SMOKE), "--log", "s.csv", "--dry-run"])
    assert result.exit_code == 0, result.output
    dry.assert_called_once_with(mock.ANY, "s.csv", (1, 1))
    run.assert_not_called()


def test_rank_reads_then_ranks_with_the_options():
    with mock.patch("pernode_cli.logs.read_logs", return_value="frame") as read, \
            mock.patch("pernode_cli.stats.rows.named_columns", return_value="named") as named, \
            mock.patch("pernode_cli.stats.ranking.rank_logs", return_value="result") as rank, \
            mock.patch("pernode_cli.rendering.ranking.render", return_value="rendered"):
        result = runner.invoke(app, ["rank", "a.csv", "b*.csv", "--top", "4", "--table-top", "2", "--metric", "val_acc",
                                     "--dataset", "cifar10", "--format", "json", "--design", "configs", "--select",
                                     "last", "--seeds", "blocks", "--control", "Dropout", "--across-datasets",
                                     "--variants", "Dropout,Dense", "--rope", "0.01", "--target", "val_acc>=0.9",
                                     "--method-column", "algo", "--block-columns", "fold, seed"])
    assert result.exit_code == 0, result.output
    read.assert_called_once_with(["a.csv", "b*.csv"])
    named.assert_called_once_with("frame", "algo", None)
    rank.assert_called_once_with("named", design="configs", metric="val_acc", maximize=None, select="last",
                                 select_on=None, seeds="blocks", control="Dropout", variants="Dropout,Dense",
                                 dataset="cifar10", across="datasets", per_dataset="mean", alpha=0.05,
                                 zero_method="wilcox", rope=0.01, target="val_acc>=0.9", top=4, table_top=2,
                                 block_columns=("fold", "seed"))
    assert result.output.strip() == "rendered"


def test_timeit_passes_the_config_and_log():
    record = TimingRecord(dataset="digits", variant="Dropout", mean_s=1.0, median_s=1.0, min_s=1.0, max_s=1.0, n=1)
    with mock.patch("pernode_cli.training.timeit.run_timeit", return_value=[record]) as run:
        result = runner.invoke(app, ["timeit", "--dataset", "digits", "--variants", "dropout,dense", "--epochs", "3",
                                     "--warmup", "2", "--sampler", "chunked", "--log", "t.csv", "--format", "json"])
    assert result.exit_code == 0, result.output
    expected = TimeitConfig(dataset="digits", variants="dropout,dense", epochs=3, warmup=2,
                            sampler="chunked").validate()
    assert expected.variants == ["Dropout", "Dense"]
    run.assert_called_once_with(expected, log="t.csv", events=mock.ANY, stopped=mock.ANY)


@pytest.mark.parametrize("command", [["rank", "x.csv"], ["timeit"]])
def test_format_is_checked_before_any_work(command):
    result = runner.invoke(app, [*command, "--format", "xml"])
    assert result.exit_code == 2 and "Invalid value for '--format'" in result.output
