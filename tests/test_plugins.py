"""A researcher's own variant, data set and backbone: public registries, plugins found three
ways, identity (sources) in every row, a changed plugin refused on resume, and the example
plugin package through every command as real processes."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

import pernode_cli
from pernode_cli.cli import app
from pernode_cli.variants import REGISTRY
from tests.helpers import installed_copy, run_commands

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "pernode-example-plugin"
runner = CliRunner()

PLAIN = '''
import pernode_cli

@pernode_cli.register_variant("{name}", description="a plain module's variant")
def build(units, rate, seed):
    import keras
    return [keras.layers.Dense(units, activation="relu")]
'''


@pytest.fixture
def clean_registry():
    """Registrations made by a test are undone after it."""
    from pernode_cli.backbones import BACKBONES
    from pernode_cli.data import DATASETS

    saved = REGISTRY.snapshot(), DATASETS.snapshot(), BACKBONES.snapshot()
    yield
    for registry, before in zip((REGISTRY, DATASETS, BACKBONES), saved):
        registry.restore(before)


def test_registering_validates_every_argument_and_refuses_a_taken_name(clean_registry):
    def fn(units, rate, seed):
        return []

    with pytest.raises(ValueError, match=r"argument `name`.*already registered.*Received: name='dropout'"):
        pernode_cli.register_variant("dropout", fn)
    for kwargs, arg in (({"name": ""}, "name"), ({"name": "a,b"}, "name"), ({"description": 3}, "description"),
                        ({"deterministic": "yes"}, "deterministic"), ({"replace": 1}, "replace")):
        args = {"name": "Mine", **kwargs}
        with pytest.raises(ValueError, match=rf"Invalid value received for argument `{arg}`"):
            pernode_cli.register_variant(args.pop("name"), fn, **args)
    with pytest.raises(ValueError, match="argument `fn`"):
        pernode_cli.register_variant("Mine", 42)
    pernode_cli.register_variant("Dropout", fn, replace=True, description="mine")
    assert REGISTRY["Dropout"].description == "mine" and "test_plugins" in REGISTRY["Dropout"].source
    with pytest.raises(ValueError, match="argument `input_shape`"):
        pernode_cli.register_dataset("d2", lambda d, s: None, input_shape=(0,), n_outputs=2)
    with pytest.raises(ValueError, match="argument `n_outputs`"):
        pernode_cli.register_dataset("d2", lambda d, s: None, input_shape=(3,), n_outputs=0)
    with pytest.raises(ValueError, match="already registered"):
        pernode_cli.register_dataset("Digits", lambda d, s: None, input_shape=(3,), n_outputs=2)
    with pytest.raises(ValueError, match="argument `head_units`"):
        pernode_cli.register_backbone("b2", lambda x: x, head_units=-1)
    with pytest.raises(ValueError, match="already registered"):
        pernode_cli.register_backbone("cnn", lambda x: x)


def test_a_plugins_data_set_is_checked_when_loaded(clean_registry):
    import numpy as np

    from pernode_cli.data import load_dataset
    from pernode_cli.errors import PernodeError

    rng = np.random.default_rng(0)
    good = (rng.normal(size=(30, 5)), rng.integers(0, 3, 30), rng.normal(size=(10, 5)), rng.integers(0, 3, 10))
    pernode_cli.register_dataset("tiny", lambda d, s: good, input_shape=(5,), n_outputs=3)
    data = load_dataset("tiny")
    assert data.y_train.shape == (30, 3) and data.x_test is None and "loader of data set tiny" in data.split
    pernode_cli.register_dataset("wrong", lambda d, s: good, input_shape=(6,), n_outputs=3)
    with pytest.raises(PernodeError, match="registered with input_shape=\\(6,\\)"):
        load_dataset("wrong")
    pernode_cli.register_dataset("broken", lambda d, s: 1 / 0, input_shape=(5,), n_outputs=3)
    with pytest.raises(PernodeError, match="loader of data set broken failed \\(ZeroDivisionError"):
        load_dataset("broken")


def test_plugins_by_path_and_in_a_config_and_a_failing_one_is_one_line(tmp_path, monkeypatch, clean_registry):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "mine.py").write_text(PLAIN.format(name="MineA"))
    (tmp_path / "bad.py").write_text("raise RuntimeError('no GPU here')\n")
    listed = runner.invoke(app, ["list", "variants", "--plugin", "mine.py"], env={"COLUMNS": "200"})
    assert listed.exit_code == 0 and "MineA" in listed.stdout and "sha256:" in listed.stdout
    bad = runner.invoke(app, ["list", "--plugin", "bad.py"])
    assert bad.exit_code == 2 and len(bad.output.strip().splitlines()) == 1
    assert "Plugin bad.py failed to import (RuntimeError: no GPU here)" in bad.output
    missing = runner.invoke(app, ["train", "--plugin", "no_such_module_xyz"])
    assert (missing.exit_code == 2
            and "Plugin no_such_module_xyz failed to import (ModuleNotFoundError" in missing.output)
    (tmp_path / "other.py").write_text(PLAIN.format(name="MineB"))
    (tmp_path / "c.toml").write_text('plugins = ["other.py"]\ndataset = "digits"\n[grid]\n'
                                     'variants = ["MineB", "Dense"]\nrates = [0.1]\nunits = [4]\n[fixed]\nepochs = 1\n')
    dry = runner.invoke(app, ["sweep", "c.toml", "--dry-run"])
    assert dry.exit_code == 0 and "MineB" in dry.stdout, dry.output


def test_rank_and_report_rank_whatever_variants_the_log_holds(tmp_path):
    from tests.logs_factory import log_rows, write_log

    rows = log_rows(variants=("NotRegisteredHere", "Dropout", "AlsoUnknown"))
    for r in rows:
        r["module_params"] = 1000 if r["variant"] == "AlsoUnknown" else 2000
    log = write_log(tmp_path / "l.csv", rows)
    out = json.loads(runner.invoke(app, ["rank", str(log), "--format", "json",
                                         "--control", "notregisteredhere"]).stdout)
    (d,) = out["datasets"]
    assert {v["variant"] for v in d["variants"]} == {"NotRegisteredHere", "Dropout", "AlsoUnknown"}
    assert d["posthoc"]["control"] == "NotRegisteredHere"
    assert any("modules differ in size" in w and "AlsoUnknown 1000" in w for w in d["warnings"])


def _site_with_example(tmp_path) -> Path:
    """The example plugin on a path with its distribution metadata, as an install leaves it."""
    return installed_copy(EXAMPLE / "pernode_example", tmp_path / "site", "pernode-example-plugin", "0.1.0",
                          "pernode.plugins", "example = pernode_example.plugin")


def _run(cwd, site, *args, timeout=300):
    env = dict(os.environ, PYTHONPATH=f"{site}{os.pathsep}{ROOT}")
    return subprocess.run([sys.executable, "-m", "pernode_cli", *map(str, args)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=timeout)


@pytest.mark.slow
def test_the_example_plugin_runs_through_every_command(tmp_path):
    site = _site_with_example(tmp_path)
    (tmp_path / "c.toml").write_text('dataset = "blobs"\n[grid]\nvariants = ["Dropout", "GaussianNoiseDense"]\n'
                                     'rates = [0.1, 0.3, 0.5]\nunits = [8]\nbatch_sizes = [64]\n[fixed]\nepochs = 2\n')
    # One process, found through its entry point, for every command (one backend start-up).
    out, stderr = run_commands(tmp_path, f"{site}{os.pathsep}{ROOT}", [
        ("list", ["list"]),
        ("train", ["train", "--dataset", "blobs", "--variant", "alphadropoutdense", "--units", "8", "--epochs", "1",
                   "--log", "t.csv", "--quiet"]),
        ("sweep", ["sweep", "c.toml", "--quiet"]),  # a plugin variant on its data set and backbone beside a built-in
        ("rank", ["rank", "c.csv", "--format", "json"]),
        ("report", ["report", "c.csv", "--out", "r"]),
        ("timeit", ["timeit", "--dataset", "blobs", "--variants", "Dropout,GaussianNoiseDense", "--epochs", "2",
                    "--steps-per-epoch", "3", "--format", "json", "--quiet"]),
    ])
    for key, (code, _, err) in out.items():
        assert code == 0, (key, err)
    text = " ".join(out["list"][1].split())
    for name in ("GaussianNoiseDense", "AlphaDropoutDense", "blobs", "mlp2", "pernode-example-plugin 0.1.0"):
        assert name in text, name
    (row,) = pd.read_csv(tmp_path / "t.csv").to_dict("records")
    assert row["variant"] == "AlphaDropoutDense" and row["dataset"] == "blobs" and row["run_end"] == "epochs"
    assert "Logging error" not in stderr + out["sweep"][2]  # TensorFlow's retracing warnings once hit a closed stream
    t = pd.read_csv(tmp_path / "c.csv")
    assert len(t) == 6 * 2 and t["test_loss"].notna().all()
    assert (t.loc[t["variant"] == "Dropout", "sources"] == t.loc[t["variant"] == "Dropout", "sources"].iloc[0]).all()
    assert t.loc[t["variant"] == "Dropout", "sources"].iloc[0].startswith("variant: pernode ")
    mine = t[t["variant"] == "GaussianNoiseDense"]
    assert (mine["module_params"] == 32 * 8 + 8).all()
    assert mine["sources"].str.startswith("pernode-example-plugin 0.1.0 (module pernode_example.plugin, sha256:").all()
    (d,) = json.loads(out["rank"][1])["datasets"]
    assert d["design"] == "configs" and len(d["variants"]) == 2 and d["metric"] == "test_loss"
    assert not any("modules differ in size" in w for w in d["warnings"])  # equal modules: the fairness rule
    assert "GaussianNoiseDense" in (tmp_path / "r" / "index.md").read_text()
    assert {r["variant"] for r in json.loads(out["timeit"][1])} == {"Dropout", "GaussianNoiseDense"}
    # The plugin's code changes: resuming its sweep is refused, as a changed config is.
    plugin = site / "pernode_example" / "plugin.py"
    plugin.write_text(plugin.read_text() + "\n# tuned\n")
    before = (tmp_path / "c.csv").read_bytes()
    resumed = _run(tmp_path, site, "sweep", "c.toml")
    assert resumed.returncode == 2 and len(resumed.stderr.strip().splitlines()) == 1, resumed.stderr
    assert "the code of variant" in resumed.stderr and "changed since this sweep started" in resumed.stderr
    assert (tmp_path / "c.csv").read_bytes() == before
