"""A new run setting is one declaration plus its use, and old work survives it: a copy of
pernode with a setting added (``label_smoothing``, declared in ``schema.RunSettings`` and used in
``training/run.py``: the two files a maintainer touches) resumes a sweep and appends to a log that
this pernode wrote, keeps their run ids and fingerprint, and ranks them."""

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from pernode_cli.cli import app
from tests.helpers import run_commands

ROOT = Path(__file__).resolve().parents[1]
GRID = ('dataset = "digits"\n[grid]\nvariants = ["Dropout", "Dense"]\nrates = [0.1]\nunits = [4]\n'
        'batch_sizes = [32]\n[fixed]\nepochs = 1\nmax_train_samples = 40\n')
FAST = ["--units", "4", "--batch-size", "32", "--epochs", "1", "--max-train-samples", "40"]
DECLARATION = '''    label_smoothing: float = setting(0.0, "rate", "Label smoothing of the loss (0: off).",
                                     identity="nondefault", metavar="EPS")
'''
USE = ('''    model.compile(optimizer=keras.optimizers.Adam(config.lr), loss=loss_for(data.multilabel),''',
       '''    smooth = (keras.losses.BinaryCrossentropy if data.multilabel else keras.losses.CategoricalCrossentropy)
    model.compile(optimizer=keras.optimizers.Adam(config.lr), loss=smooth(label_smoothing=config.label_smoothing),''')


def _with_a_new_setting(folder: Path) -> Path:
    """A copy of the package with ``label_smoothing`` declared and used, as a maintainer adds it."""
    shutil.copytree(ROOT / "pernode_cli", folder / "pernode_cli", ignore=shutil.ignore_patterns("__pycache__"))
    schema = folder / "pernode_cli" / "schema.py"
    text = schema.read_text()
    anchor = '''    def settings(self) -> dict:
        """What identifies a run (``run_settings``)."""'''
    assert anchor in text
    schema.write_text(text.replace(anchor, DECLARATION + "\n" + anchor, 1))
    run = folder / "pernode_cli" / "training" / "run.py"
    text = run.read_text()
    assert USE[0] in text
    run.write_text(text.replace(*USE))
    return folder


@pytest.mark.slow
def test_a_new_defaulted_setting_keeps_old_logs_resumable_appendable_and_rankable(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    (tmp_path / "g.toml").write_text(GRID)
    assert runner.invoke(app, ["sweep", "g.toml", "--quiet"]).exit_code == 0  # this pernode: a schema-4 sweep
    assert runner.invoke(app, ["train", "--log", "t.csv", "--variant", "Dropout", "--quiet", *FAST]).exit_code == 0
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.suffix == ".csv"}
    old_header = (tmp_path / "g.csv").read_text().splitlines()[0]
    new = _with_a_new_setting(tmp_path / "new")
    # The new code, in one process (one backend start-up), command by command as a user runs them.
    out, _ = run_commands(tmp_path, str(new), [
        ("plan", ["sweep", "g.toml", "--dry-run"]),
        ("resumed", ["sweep", "g.toml"]),
        ("added", ["train", "--log", "t.csv", "--variant", "Dropout", "--seed", "1", "--quiet", *FAST]),
        ("refused", ["train", "--log", "t.csv", "--variant", "Dropout", "--seed", "2", "--label-smoothing", "0.1",
                     *FAST]),
        ("ranked", ["rank", "g.csv", "t.csv", "--format", "json"]),
    ])
    # The same sweep, resumed by the new code: the same run ids, all finished, nothing trained or written.
    code, stdout, stderr = out["plan"]
    assert code == 0 and "2 runs in shard 1/1: 2 finished, 0 to run" in stdout, stderr
    code, stdout, stderr = out["resumed"]
    assert code == 0 and "0 run(s) trained, 2 already finished" in stdout, stderr
    assert (tmp_path / "g.csv").read_bytes() == before["g.csv"]
    # A run at the new setting's default is appended to the old log in its own layout.
    assert out["added"][0] == 0, out["added"][2]
    lines = (tmp_path / "t.csv").read_text().splitlines()
    assert lines[0] == old_header and len(lines) == 3 and lines[:2] == before["t.csv"].decode().splitlines()
    # One that sets it cannot be held by the old layout: refused, the log byte-identical.
    code, _, stderr = out["refused"]
    assert code == 2 and "written before the setting --label-smoothing existed" in stderr
    assert len(stderr.strip().splitlines()) == 1, stderr
    assert len((tmp_path / "t.csv").read_text().splitlines()) == 3
    # And the new code ranks the old logs as this one does, the new column read at its default.
    assert out["ranked"][0] == 0, out["ranked"][2]
    ours = json.loads(runner.invoke(app, ["rank", "g.csv", "t.csv", "--format", "json"]).output)
    theirs = json.loads(out["ranked"][1])
    assert theirs["datasets"][0]["top_rows"] == ours["datasets"][0]["top_rows"]
    assert set(pd.read_csv(tmp_path / "t.csv").columns) == set(old_header.split(","))
