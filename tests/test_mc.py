import json

import keras
import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from pernode_cli.cli import app
from pernode_cli.layers import MaskEnsemble, PerNodeDense
from pernode_cli.logs import CsvLog
from pernode_cli.training.mc import MCPredictor
from pernode_cli.training.config import RunSpec as TrainConfig
from pernode_cli.training.run import train_run

runner = CliRunner()


def test_deterministic_variant_mc_equals_plain_evaluation(tmp_path):
    config = TrainConfig(variant="PerNodeGaussian_Fixed", epochs=1, units=8, batch_size=32, max_train_samples=96,
                         mc_samples=1)
    row = train_run(config, CsvLog(tmp_path / "l.csv")).rows[0]
    assert row["mc_passes"] == 1
    assert row["mc_val_loss"] == pytest.approx(row["val_loss"], rel=1e-4)
    assert row["mc_val_acc"] == pytest.approx(row["val_acc"])
    assert row["mc_val_ece"] == pytest.approx(row["val_ece"], abs=1e-6)
    # T passes of a deterministic variant are one pass, and the log says so.
    config = config.replace(mc_samples=5)
    row = train_run(config, CsvLog(tmp_path / "m.csv")).rows[0]
    assert row["mc_samples"] == 5 and row["mc_passes"] == 1


def test_dynamic_mc_varies_and_its_mean_converges_for_a_linear_model():
    d_in, units, rate = 6, 3, 0.5
    inputs = keras.Input((d_in,))
    layer = PerNodeDense(units, rate, stir="bernoulli", seed=0)
    model = keras.Model(inputs, layer(inputs))
    x = np.random.default_rng(0).normal(size=(4, d_in)).astype("float32")
    det = model.predict(x, verbose=0)
    mc = MCPredictor(model)
    passes = mc.predict_passes(x, 400, batch_size=4)
    assert passes.shape == (400, 4, units)
    assert not np.allclose(passes[0], passes[1])  # the noise is on
    w = keras.ops.convert_to_numpy(layer.kernel)
    # Linear model: E[pass] = deterministic output; Var = rate/(1-rate) sum_i x^2 W^2.
    sd = np.sqrt(rate / (1 - rate) * (x**2) @ (w**2))
    err = {t: np.abs(passes[:t].mean(axis=0) - det) for t in (4, 400)}
    assert np.all(err[400] <= 5 * sd / np.sqrt(400))
    assert err[400].mean() < err[4].mean()


def test_mask_ensemble_mc_visits_every_mask():
    inputs = keras.Input((8,))
    ens = MaskEnsemble(0.5, n=4, seed=1)
    model = keras.Model(inputs, ens(inputs))
    x = np.ones((1, 8), "float32")
    passes = MCPredictor(model).predict_passes(x, 4, batch_size=1)[:, 0, :]
    masks = keras.ops.convert_to_numpy(ens.masks)
    np.testing.assert_array_equal(np.sort(passes, axis=0), np.sort(masks, axis=0))
    np.testing.assert_allclose(passes.mean(axis=0), model.predict(x, verbose=0)[0])
    assert int(keras.ops.convert_to_numpy(ens.member_offset)) == 0  # restored for training


def test_train_cli_logs_calibration_and_mc(tmp_path):
    log = tmp_path / "l.csv"
    result = runner.invoke(app, ["train", "--variant", "Dropout", "--epochs", "1", "--mc-samples", "3", "--units", "8",
                                 "--max-train-samples", "96", "--log", str(log)])
    assert result.exit_code == 0, result.output
    row = pd.read_csv(log).iloc[0]
    assert row["mc_samples"] == 3 and row["mc_passes"] == 3
    for col in ("val_ece", "val_brier", "mc_val_loss", "mc_val_acc", "mc_val_ece"):
        assert np.isfinite(row[col])
    assert 0 <= row["val_ece"] <= 1 and 0 <= row["val_brier"] <= 2
    bad = runner.invoke(app, ["train", "--mc-samples", "-1", "--log", str(tmp_path / "x.csv")])
    assert bad.exit_code == 2 and "--mc-samples must be 0 (off) or a positive integer" in bad.output


@pytest.mark.slow
def test_sweep_mc_samples_and_rank_by_mc_metric(tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text('dataset = "digits"\n[grid]\nvariants = ["Dropout", "GaussianDropout", "PerNodeGaussian"]\n'
                   'rates = [0.3]\nunits = [8]\n[fixed]\nepochs = 2\nmax_train_samples = 96\nmc_samples = 2\n')
    log = tmp_path / "s.csv"
    assert runner.invoke(app, ["sweep", str(cfg), "--log", str(log)]).exit_code == 0
    df = pd.read_csv(log)
    assert (df["mc_samples"] == 2).all() and df["mc_val_loss"].notna().all()
    result = runner.invoke(app, ["rank", str(log), "--metric", "mc_val_loss", "--top", "2", "--format", "json"])
    assert result.exit_code == 0, result.output
    ranking = json.loads(result.stdout)["datasets"][0]
    assert ranking["metric"] == "mc_val_loss" and "mc_val_loss" in ranking["top_rows"][0]
    best = df.groupby("variant")["mc_val_loss"].min()
    assert {v["variant"]: v["best"] for v in ranking["variants"]} == pytest.approx(best.to_dict())
    bad = tmp_path / "b.toml"
    bad.write_text(cfg.read_text().replace("mc_samples = 2", "mc_samples = -2"))
    result = runner.invoke(app, ["sweep", str(bad), "--log", str(tmp_path / "b.csv")])
    assert result.exit_code == 2 and "fixed.mc_samples: expected a non-negative integer" in result.output
