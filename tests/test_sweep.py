import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from pernode_cli.cli import app
from pernode_cli.sweeps.config import load_config
from pernode_cli.errors import PernodeError
from pernode_cli.logs import CsvLog
from pernode_cli.sweeps.loop import run_sweep
from pernode_cli.sweeps.plan import parse_shard, plan
from pernode_cli.sweeps.state import state_path

runner = CliRunner()
ROOT = Path(__file__).resolve().parents[1]
SMOKE = ROOT / "sample_configs" / "smoke.toml"

TINY = """\
dataset = "digits"

[grid]
variants = ["Dropout", "PerNodeGaussian"]
rates = [0.1]
units = [8]
batch_sizes = [64]
seeds = [0]

[fixed]
epochs = {epochs}
max_train_samples = 128
"""


def write(tmp_path, text, name="c.toml"):
    p = tmp_path / name
    p.write_text(text)
    return p


def test_sample_configs_parse_with_the_papers_grids():
    for name in ("cifar10", "speech_commands", "rcv1", "digits", "smoke"):
        config = load_config(ROOT / "sample_configs" / f"{name}.toml")
        assert config.dataset == name or name in ("smoke",)
    cifar = load_config(ROOT / "sample_configs" / "cifar10.toml")
    assert cifar.grid["rates"] == [round(0.1 * i, 1) for i in range(10)]
    assert cifar.grid["units"] == [32, 64, 128] and cifar.grid["batch_sizes"] == [64, 128, 256]
    assert cifar.fixed["epochs"] == 20 and cifar.fixed["lr"] == 1e-3
    assert "MaskEnsemble" in cifar.grid["variants"]
    assert "MaskEnsemble" not in load_config(ROOT / "sample_configs" / "rcv1.toml").grid["variants"]
    assert len(cifar.runs()) == 8 * 10 * 3 * 3


@pytest.mark.parametrize(
    "text, message",
    [
        ('dataset = "digits"\n[grid]\nvariants = ["Dropout"]\nrates = [0.5]\nwidths = [3]\n',
         "line 5: grid.widths: unknown key"),
        ('dataset = "digits"\n[grid]\nvariants = ["Dropout"]\nrates = [1.5]\n',
         "line 4: grid.rates: expected a list of rates in [0, 1)"),
        ('dataset = "digits"\n[grid]\nvariants = ["Dropout"]\nrates = [0.5]\n[fixed]\nepochs = "ten"\n',
         "line 6: fixed.epochs: expected a positive integer"),
        ('dataset = "digits"\n[grid]\nvariants = ["Drop"]\nrates = [0.5]\n',
         "line 3: grid.variants: Unknown variant 'Drop'"),
        ('dataset = "digits"\n[grid]\nrates = [0.5]\n', "missing required key 'variants' in [grid]"),
        ('dataset = 3\n[grid]\nvariants = ["Dropout"]\nrates = [0.5]\n',
         "line 1: dataset: expected a non-empty string"),
        ('dataset = "digits"\n[gird]\nvariants = ["Dropout"]\n', "line 2: gird: unknown key"),
        ('dataset = "digits"\n[grid\n', "not valid TOML"),
        ('dataset = "digits"\n[grid]\nvariants = ["Dropout"]\nrates = [0.5]\nunits = [0]\n',
         "line 5: grid.units: expected a list of positive integers"),
    ],
)
def test_config_errors_name_key_and_line(tmp_path, text, message):
    result = runner.invoke(app, ["sweep", str(write(tmp_path, text)), "--log", str(tmp_path / "l.csv")])
    assert result.exit_code == 2
    assert message in result.output, result.output
    assert len(result.output.strip().splitlines()) == 1
    assert not (tmp_path / "l.csv").exists()


def test_shards_split_the_grid_without_overlap():
    config = load_config(ROOT / "sample_configs" / "cifar10.toml")
    ids = [r.run_id for r in plan(config, (1, 1))]
    assert len(set(ids)) == len(ids)
    shards = [[r.run_id for r in plan(config, (k, 7))] for k in range(1, 8)]
    assert sorted(sum(shards, [])) == sorted(ids)
    assert max(map(len, shards)) - min(map(len, shards)) <= 1
    assert [r.run_id for r in plan(config, (3, 7))] == shards[2]  # deterministic
    for bad in ("0/4", "5/4", "a/b", "3"):
        with pytest.raises(PernodeError, match="`shard` must be K/N"):
            parse_shard(bad)


def test_resume_skips_finished_and_refuses_changed_config(tmp_path):
    cfg = write(tmp_path, TINY.format(epochs=2))
    log = tmp_path / "l.csv"
    first = runner.invoke(app, ["sweep", str(cfg), "--log", str(log)])
    assert first.exit_code == 0, first.output
    df = pd.read_csv(log)
    assert len(df) == 2 * 2 and df.groupby(["run_id", "epoch"]).size().max() == 1
    before = log.read_bytes()
    again = runner.invoke(app, ["sweep", str(cfg), "--log", str(log)])
    assert again.exit_code == 0 and "2 of 2 runs already finished" in again.output
    assert log.read_bytes() == before
    dry = runner.invoke(app, ["sweep", str(cfg), "--log", str(log), "--dry-run"])
    assert "2 finished, 0 to run" in dry.output
    changed = write(tmp_path, TINY.format(epochs=3))
    refused = runner.invoke(app, ["sweep", str(changed), "--log", str(log)])
    assert refused.exit_code == 2 and "different config" in refused.output
    assert log.read_bytes() == before


def test_train_refuses_a_sweep_log(tmp_path):
    cfg = write(tmp_path, TINY.format(epochs=1))
    log = tmp_path / "l.csv"
    assert runner.invoke(app, ["sweep", str(cfg), "--log", str(log), "--shard", "1/4"]).exit_code == 0
    before = log.read_bytes()
    result = runner.invoke(app, ["train", "--log", str(log), "--epochs", "1"])
    assert result.exit_code == 2 and "belongs to a sweep" in result.output
    assert log.read_bytes() == before


def test_bad_shard_is_one_line_exit_2(tmp_path):
    result = runner.invoke(app, ["sweep", str(SMOKE), "--log", str(tmp_path / "l.csv"), "--shard", "5/4"])
    assert result.exit_code == 2 and "--shard must be K/N" in result.output
    assert len(result.output.strip().splitlines()) == 1 and not (tmp_path / "l.csv").exists()


def test_dry_run_trains_nothing(tmp_path):
    log = tmp_path / "l.csv"
    result = runner.invoke(app, ["sweep", str(SMOKE), "--log", str(log), "--dry-run", "--shard", "1/2"])
    assert result.exit_code == 0
    assert "2 runs in shard 1/2: 0 finished, 2 to run" in result.output
    assert not log.exists()


def test_log_with_rows_but_no_state_is_refused(tmp_path):
    log = tmp_path / "l.csv"
    own = CsvLog(log)
    own.append({"run_id": "from-train", "epoch": 1})
    own.close()
    before = log.read_bytes()
    result = runner.invoke(app, ["sweep", str(SMOKE), "--log", str(log)])
    assert result.exit_code == 2 and "holds rows of other runs" in result.output
    assert log.read_bytes() == before


def test_failed_runs_are_recorded_and_the_sweep_goes_on(tmp_path):
    config = load_config(write(tmp_path, TINY.format(epochs=1)))
    from pernode_cli.training.run import train_run

    def flaky(run_config, log, **kw):
        if run_config.variant == "Dropout" and run_config.rate == 0.1:
            raise RuntimeError("out of memory")
        return train_run(run_config, log, **kw)

    log = tmp_path / "l.csv"
    report = run_sweep(config, log, train=flaky)
    assert report.ran == 2 and len(report.failures) == 1
    assert "RuntimeError: out of memory" in report.failures[0][1]
    state = json.loads(state_path(log).read_text())
    assert len(state["finished"]) == 1 and len(state["failed"]) == 1
    # Resuming redoes only the failed run.
    report = run_sweep(config, log)
    assert report.ran == 1 and report.skipped == 1 and not report.failures
    assert len(pd.read_csv(log)) == 2

    def always(run_config, log, **kw):
        raise RuntimeError("boom")

    fast = run_sweep(config, tmp_path / "f.csv", fail_fast=True, train=always)
    assert fast.ran == 1 and fast.stopped_early


def test_nonfinite_run_fails_the_sweep_exit_code(tmp_path):
    cfg = write(tmp_path, TINY.format(epochs=2).replace("max_train_samples = 128", "max_train_samples = 128\nlr = 1e9"))
    result = runner.invoke(app, ["sweep", str(cfg), "--log", str(tmp_path / "l.csv")])
    assert result.exit_code == 1
    assert "run(s) failed" in result.output and "non-finite" in result.output
