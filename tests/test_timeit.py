import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import keras
import pytest
from typer.testing import CliRunner

from pernode_cli.cli import app
from pernode_cli.errors import PernodeError
from pernode_cli.variants import parse_variants

runner = CliRunner()
ROOT = Path(__file__).resolve().parents[1]


def test_parse_variants():
    assert len(parse_variants("all")) == 12
    assert parse_variants("dropout, pernodegaussian_f") == ["Dropout", "PerNodeGaussian_Fixed"]
    with pytest.raises(PernodeError, match="Unknown variant"):
        parse_variants("Dropout,Nope")


def test_timeit_cli_json_and_log(tmp_path):
    log = tmp_path / "t.csv"
    result = runner.invoke(app, ["timeit", "--dataset", "digits",
                                 "--variants", "Dropout,PerNodeBernoulli,PerNodeGaussian",
                                 "--epochs", "3", "--warmup", "1", "--steps-per-epoch", "2", "--batch-size", "16",
                                 "--units", "8", "--format", "json", "--quiet", "--log", str(log)])
    assert result.exit_code == 0, result.output
    records = json.loads(result.stdout)
    assert [r["variant"] for r in records] == ["Dropout", "PerNodeBernoulli", "PerNodeGaussian"]
    for r in records:
        assert {"dataset", "variant", "mean_s", "std_s", "median_s", "n", "ratio_to_dropout", "device", "backend",
                "sampler"} <= set(r)
        assert r["n"] == 2 and len(r["warmup_s"]) == 1 and r["mean_s"] > 0
        assert r["ratio_to_dropout"] == pytest.approx(r["mean_s"] / records[0]["mean_s"])
    # auto's choice for the Bernoulli stir depends on the backend (TensorFlow: always chunked).
    from pernode_cli.layers import fused

    bernoulli = {"fused"} if fused.available() else (
        {"chunked"} if keras.backend.backend() == "tensorflow" else {"chunked", "reference"})
    assert (records[0]["sampler"] == "" and records[1]["sampler"] in bernoulli
            and records[2]["sampler"] == "local_reparam")
    assert records[0]["device"] == "CPU"
    assert len(pd.read_csv(log)) == 3


def test_timeit_table(tmp_path):
    result = runner.invoke(app, ["timeit", "--dataset", "digits", "--variants", "Dropout,PerNodeBernoulli_F",
                                 "--epochs", "2", "--steps-per-epoch", "1", "--batch-size", "8", "--units", "4"])
    assert result.exit_code == 0, result.output
    assert "device: CPU" in result.output and "jit_compile" in result.output
    assert "PerNodeBernoulli_Fixed: fixed" in result.output and "x Dropout" in result.output


@pytest.mark.parametrize(
    "args, message",
    [
        (["--dataset", "imagenet"], "Unknown data set 'imagenet'"),
        (["--epochs", "2", "--warmup", "2"], "--warmup must be in [0, --epochs)"),
        (["--format", "xml"], "Invalid value for '--format'"),
        (["--variants", "Dropout,Zoneout"], "Unknown variant 'Zoneout'"),
        (["--data", "fake"], "Invalid value for '--data': 'fake' is not one of 'synthetic', 'real'"),
        (["--rate", "1.5"], "--rate must be in [0, 1)"),
        (["--steps-per-epoch", "0"], "--steps-per-epoch must be a positive integer"),
        (["--max-minutes", "0"], "--max-minutes must be a positive number"),
        (["--variants", "PerNodeBernoulli", "--sampler", "local_reparam", "--epochs", "2", "--steps-per-epoch", "1"],
         "cannot run PerNodeBernoulli"),
    ],
)
def test_timeit_bad_input(args, message):
    result = runner.invoke(app, ["timeit", "--dataset", "digits", *args])
    assert result.exit_code == 2, result.output
    assert message in result.output and "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1


@pytest.mark.skipif(importlib.util.find_spec("jax") is None, reason="jax is not installed")
def test_timeit_runs_under_jax_without_tensorflow():
    # Block TensorFlow entirely, as on a GPU box that has only JAX.
    code = (
        "import sys\n"
        "sys.modules['tensorflow'] = None\n"
        "from pernode_cli.cli import main\n"
        "sys.argv = ['pernode', 'timeit', '--dataset', 'digits',"
        " '--variants', 'Dropout,PerNodeBernoulli,PerNodePartialGaussian',"
        " '--epochs', '2', '--steps-per-epoch', '2', '--batch-size', '8', '--units', '4',"
        " '--format', 'json', '--quiet']\n"
        "main()\n"
    )
    env = dict(os.environ, KERAS_BACKEND="jax", PYTHONPATH=str(ROOT))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    records = json.loads(out.stdout)
    assert {r["backend"] for r in records} == {"jax"}
    assert [r["sampler"] for r in records] in (["", "chunked", "partial_reparam"], ["", "fused", "fused"])


def test_timeit_real_data_uses_the_loader():
    result = runner.invoke(app, ["timeit", "--dataset", "digits", "--data", "real", "--variants", "Dropout,Dense",
                                 "--epochs", "2", "--steps-per-epoch", "3", "--batch-size", "32", "--units", "4",
                                 "--format", "json", "--quiet"])
    assert result.exit_code == 0, result.output
    records = json.loads(result.stdout)
    assert {r["data"] for r in records} == {"real"} and records[0]["steps_per_epoch"] == 3
    default = runner.invoke(app, ["timeit", "--dataset", "digits", "--data", "real", "--variants", "Dropout",
                                  "--epochs", "2", "--batch-size", "512", "--units", "4", "--format", "json",
                                  "--quiet"])
    # Without --steps-per-epoch an epoch is the whole training split: ceil(1437 / 512) = 3 steps.
    assert json.loads(default.stdout)[0]["steps_per_epoch"] == 3


@pytest.mark.slow
def test_rounds_interleave_and_max_minutes_stops_early():
    args = ["timeit", "--dataset", "digits", "--variants", "Dropout,Dense,PerNodeGaussian", "--epochs", "4",
            "--steps-per-epoch", "1", "--batch-size", "8", "--units", "4", "--format", "json", "--quiet"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    records = json.loads(result.stdout)
    offsets = [r["epoch_offsets_s"] for r in records]
    assert all(len(o) == 3 for o in offsets) and {r["rounds"] for r in records} == {4}
    # Every variant's epoch of round i starts before any variant's epoch of round i + 1.
    for i in range(2):
        assert max(o[i] for o in offsets) < min(o[i + 1] for o in offsets)
    for r in records:
        assert r["ratio_ci_low"] is None or r["ratio_ci_low"] <= r["ratio_to_dropout"] <= r["ratio_ci_high"]
    stopped = runner.invoke(app, [*args, "--max-minutes", "0.0001", "--epochs", "9"])
    assert stopped.exit_code == 0, stopped.output
    for r in json.loads(stopped.stdout):
        assert r["rounds"] == 2 and r["n"] == 1 and r["std_s"] is None
