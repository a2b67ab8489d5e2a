"""One epoch clock for `train`, `sweep` and `timeit`: device-synced at both ends of every
epoch on every backend, so `epoch_seconds` means the same in every log."""

import json
from unittest import mock

import pandas as pd
from typer.testing import CliRunner

from pernode_cli.cli import app
from pernode_cli.training import environment

runner = CliRunner()
TINY = ["--max-train-samples", "64", "--units", "4", "--batch-size", "32"]


def _counting():
    real = environment.sync_device
    return mock.patch.object(environment, "sync_device", side_effect=real)


def test_train_sweep_and_timeit_all_sync_the_device(tmp_path):
    with _counting() as sync:
        assert runner.invoke(app, ["train", "--epochs", "2", "--log", str(tmp_path / "t.csv"), "--quiet",
                                   *TINY]).exit_code == 0
    assert sync.call_count == 2 * 2  # begin and end of each epoch
    assert pd.read_csv(tmp_path / "t.csv")["epoch_seconds"].gt(0).all()

    cfg = tmp_path / "c.toml"
    cfg.write_text('dataset = "digits"\n[grid]\nvariants = ["Dense"]\nrates = [0.1]\nunits = [4]\nbatch_sizes = [32]\n'
                   "[fixed]\nepochs = 2\nmax_train_samples = 64\n")
    with _counting() as sync:
        assert runner.invoke(app, ["sweep", str(cfg), "--log", str(tmp_path / "s.csv"), "--quiet"]).exit_code == 0
    assert sync.call_count == 2 * 2

    with _counting() as sync:
        result = runner.invoke(app, ["timeit", "--dataset", "digits", "--variants", "Dense", "--epochs", "2",
                                     "--steps-per-epoch", "1", "--batch-size", "8", "--units", "4", "--format", "json",
                                     "--quiet"])
    assert result.exit_code == 0, result.output
    assert sync.call_count == 2 * 2
    assert json.loads(result.stdout)[0]["mean_s"] > 0
