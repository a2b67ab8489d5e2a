import csv
import math

import keras
import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from pernode_cli.cli import app
from pernode_cli.logs import CsvLog
from pernode_cli.schema import TRAIN_COLUMNS
from pernode_cli.training.config import RunSpec as TrainConfig
from pernode_cli.training.run import train_run
from pernode_cli.variants import VARIANTS

runner = CliRunner()
FAST = ["--max-train-samples", "120", "--units", "8", "--batch-size", "32"]


def _read(path):
    return pd.read_csv(path)


def test_train_cli_writes_one_row_per_epoch(tmp_path):
    log = tmp_path / "log.csv"
    result = runner.invoke(app, ["train", "--epochs", "2", "--log", str(log), *FAST])
    assert result.exit_code == 0, result.output
    df = _read(log)
    assert list(df.columns) == TRAIN_COLUMNS
    assert df["epoch"].tolist() == [1, 2]
    assert (df["status"] == "ok").all() and df["run_id"].nunique() == 1
    assert df["variant"].iloc[0] == "PerNodeGaussian" and df["dataset"].iloc[0] == "digits"
    assert df["sampler"].iloc[0] != "" and df["backend"].iloc[0] == keras.backend.backend()
    assert df["device"].iloc[0] == "CPU"
    assert "epoch   2/2" in result.output and "best" in result.output
    # A second run appends below the first: nothing already written is lost.
    before = log.read_text()
    assert runner.invoke(app, ["train", "--epochs", "1", "--variant", "Dropout", "--log", str(log),
                               *FAST]).exit_code == 0
    assert log.read_text().startswith(before)
    assert len(_read(log)) == 3


@pytest.mark.parametrize("variant", VARIANTS)
def test_every_variant_trains_on_digits(tmp_path, variant):
    config = TrainConfig(variant=variant, epochs=1, units=8, batch_size=64, max_train_samples=96, seed=1)
    result = train_run(config, CsvLog(tmp_path / "l.csv"))
    assert not result.failed
    row = result.rows[0]
    assert math.isfinite(row["val_loss"]) and math.isfinite(row["train_loss"])
    assert 0 <= row["val_acc"] <= 1


@pytest.mark.slow
def test_same_seed_same_numbers(tmp_path):
    config = dict(variant="PerNodeBernoulli", epochs=2, units=8, batch_size=32, max_train_samples=96, seed=3)
    a = train_run(TrainConfig(**config), CsvLog(tmp_path / "a.csv"))
    b = train_run(TrainConfig(**config), CsvLog(tmp_path / "b.csv"))
    c = train_run(TrainConfig(**{**config, "seed": 4}), CsvLog(tmp_path / "c.csv"))
    keys = ["val_loss", "train_loss", "fit_loss", "val_acc"]
    assert [[r[k] for k in keys] for r in a.rows] == [[r[k] for k in keys] for r in b.rows]
    assert a.rows[-1]["val_loss"] != c.rows[-1]["val_loss"]


def test_epoch_end_train_loss_is_inference_mode(tmp_path):
    # With a strong dynamic regularizer the running fit loss (noisy, mid-update) differs
    # from the epoch-end loss of the updated model in inference mode.
    # A step size that moves the model within its one epoch makes the two clearly apart.
    config = TrainConfig(variant="PerNodeBernoulli", rate=0.8, epochs=1, units=8, batch_size=32, max_train_samples=96,
                         lr=1e-2)
    row = train_run(config, CsvLog(tmp_path / "l.csv")).rows[0]
    assert row["fit_loss"] != pytest.approx(row["train_loss"], rel=1e-3)


def test_npz_dataset_and_patience(tmp_path):
    rng = np.random.default_rng(0)
    centers = rng.normal(size=(3, 10)) * 3
    labels = rng.integers(0, 3, 150)
    x = centers[labels] + rng.normal(size=(150, 10))
    path = tmp_path / "blobs.npz"
    np.savez(path, x_train=x[:120], y_train=labels[:120], x_val=x[120:], y_val=labels[120:])
    log = tmp_path / "l.csv"
    result = runner.invoke(app, ["train", "--dataset", str(path), "--variant", "dropconnect", "--epochs", "30",
                                 "--patience", "1", "--lr", "0.05", "--units", "8", "--log", str(log), "--quiet"])
    assert result.exit_code == 0, result.output
    assert result.output == ""
    df = _read(log)
    assert df["dataset"].iloc[0] == "blobs" and df["variant"].iloc[0] == "DropConnect"
    assert len(df) < 30  # stopped early: val_loss did not improve for 1 epoch
    assert df["val_loss"].iloc[-1] >= df["val_loss"].iloc[:-1].min()


def test_multilabel_npz(tmp_path):
    rng = np.random.default_rng(1)
    x = rng.normal(size=(60, 12))
    y = (x[:, :4] > 0).astype(int)
    path = tmp_path / "multi.npz"
    np.savez(path, x_train=x[:48], y_train=y[:48], x_val=x[48:], y_val=y[48:])
    log = tmp_path / "l.csv"
    assert runner.invoke(app, ["train", "--dataset", str(path), "--epochs", "1", "--units", "8",
                               "--log", str(log)]).exit_code == 0
    assert _read(log)["val_loss"].iloc[0] < 1.0  # binary CE per label, not categorical CE


def test_nonfinite_loss_is_recorded_and_exits_nonzero(tmp_path):
    log = tmp_path / "l.csv"
    result = runner.invoke(app, ["train", "--epochs", "3", "--lr", "1e9", "--log", str(log), *FAST])
    assert result.exit_code == 1
    df = _read(log)
    assert df["status"].iloc[-1] == "nonfinite" and len(df) < 3
    assert "non-finite loss" in result.output


def test_log_tail_mended_never_dropped(tmp_path):
    log_path = tmp_path / "l.csv"
    log = CsvLog(log_path)
    log.append({"run_id": "r1", "epoch": 1, "schema_version": 3})
    log.close()
    whole = log_path.read_bytes()
    log_path.write_bytes(whole[:-1])  # a complete row that lost its newline
    CsvLog(log_path).close()
    assert log_path.read_bytes() == whole
    with open(log_path, "a") as f:
        f.write("r1,2026-01-01,dig")  # a kill in the middle of a write
    CsvLog(log_path).close()
    rows = list(csv.reader(open(log_path)))
    assert len(rows) == 2 and rows[1][0] == "r1"
    (aside,) = tmp_path.glob("l.csv.torn-*")
    assert aside.read_text() == "r1,2026-01-01,dig"


def test_subset_is_seeded_and_stratified():
    from pernode_cli.training.run import prepare_data

    a = prepare_data(TrainConfig(max_train_samples=100, seed=1))
    b = prepare_data(TrainConfig(max_train_samples=100, seed=1))
    c = prepare_data(TrainConfig(max_train_samples=100, seed=2))
    np.testing.assert_array_equal(a.x_train, b.x_train)
    assert not np.array_equal(a.x_train, c.x_train)
    counts = a.y_train.sum(axis=0)
    assert a.x_train.shape[0] == 100 and counts.min() >= 9 and counts.max() <= 11  # 10 classes, ~10 each
