"""From a notebook: ``pernode_cli.train`` and ``pernode_cli.sweep`` take the commands' settings by
keyword and return their records; ``--format json`` prints the same records; ``dir(pernode_cli)``
lists the public names; no `--help` shows a type-name placeholder."""

import json
import re

import pytest
import typer
from typer.testing import CliRunner

import pernode_cli
from pernode_cli.cli import app
from pernode_cli.logs import read_logs

GRID = ('dataset = "digits"\n[grid]\nvariants = ["Dropout"]\nrates = [0.1, 0.2]\nunits = [4]\nbatch_sizes = [32]\n'
        '[fixed]\nepochs = 1\nmax_train_samples = 40\n')


def test_dir_lists_the_public_names():
    names = dir(pernode_cli)
    for name in ("train", "sweep", "rank", "report", "plan", "register_variant", "register_tracker"):
        assert name in names and callable(getattr(pernode_cli, name))


def test_no_help_shows_a_type_name_placeholder():
    group = typer.main.get_command(app)
    runner = CliRunner()
    for name in [None, *group.commands]:
        result = runner.invoke(app, ([name] if name else []) + ["-h"], terminal_width=200)
        assert result.exit_code == 0, result.output
        placeholder = re.search(r"<(str|int|float|path|text|integer|list\[.*?\])>", result.output, re.I)
        assert not placeholder, (name, result.output)


@pytest.mark.slow
def test_train_from_python_writes_one_row_and_returns_its_record(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = pernode_cli.train(dataset="digits", variant="Dropout", rate=0.3, epochs=1, log="api.csv")
    frame = read_logs(["api.csv"])
    assert len(frame) == 1 and result.rows_written == 1 and not result.failed
    assert result.log == str(tmp_path / "api.csv") and result.run_id == frame["run_id"].iloc[0]
    assert result.settings["variant"] == "Dropout" and result.rows[0]["val_loss"] == pytest.approx(
        float(frame["val_loss"].iloc[0]), rel=1e-6)
    # The command's JSON is the same record: a second seed, appended.
    out = CliRunner().invoke(app, ["train", "--variant", "Dropout", "--rate", "0.3", "--epochs", "1", "--seed", "1",
                                   "--log", "api.csv", "--format", "json"])
    assert out.exit_code == 0, out.output
    record = json.loads(out.stdout)
    assert record["command"] == "train" and record["rows_written"] == 1 and record["settings"]["seed"] == 1
    assert len(read_logs(["api.csv"])) == 2


@pytest.mark.slow
def test_sweep_from_python_and_as_json(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "g.toml").write_text(GRID)
    report = pernode_cli.sweep("g.toml")
    assert (report.ran, report.skipped, report.failures) == (2, 0, [])
    assert report.log == str(tmp_path / "g.csv") and report.trained == report.run_ids and len(report.run_ids) == 2
    assert set(read_logs(["g.csv"])["run_id"]) == set(report.run_ids)
    runner = CliRunner()
    again = json.loads(runner.invoke(app, ["sweep", "g.toml", "--format", "json"]).stdout)
    assert (again["ran"], again["skipped"], again["trained"], again["run_ids"]) == (0, 2, [], report.run_ids)
    plan = json.loads(runner.invoke(app, ["sweep", "g.toml", "--dry-run", "--format", "json"]).stdout)
    assert [r["status"] for r in plan["runs"]] == ["done", "done"] and plan["to_run"] == 0
    exported = runner.invoke(app, ["export", "g.csv", "--tensorboard", "tb", "--format", "json"])
    assert exported.exit_code == 0, exported.output
    sent = json.loads(exported.stdout)
    assert sent["attempts"] == 2 and sent["not_sent"] == [] and sent["trackers"][0]["epochs_written"] == 2


def test_python_arguments_are_checked_in_one_line_and_one_text_is_one_item(tmp_path):
    from pernode_cli.errors import PernodeError

    config = tmp_path / "g.toml"
    config.write_text(GRID)
    from pernode_cli.argchecks import as_items

    assert as_items(None, "x") == () and as_items("a.py", "x") == ("a.py",)
    assert as_items(tmp_path, "x") == (str(tmp_path),) and as_items(["x:1", "y:2"], "x") == ("x:1", "y:2")
    for call, words in [
        (lambda: pernode_cli.sweep(None), "argument `config`. Expected the path of a sweep config"),
        (lambda: pernode_cli.sweep(config, shard=(1, 2, 3)), "argument `shard`. Expected 'K/N' or a pair"),
        (lambda: pernode_cli.train(track=3, log=str(tmp_path / "x.csv")),
         "argument `track`. Expected a list of 'SCHEME:DESTINATION' texts"),
        (lambda: pernode_cli.rank(str(tmp_path / "x.csv"), bogus=1), "Unknown option `bogus`; the ranking options"),
        (lambda: pernode_cli.report(str(tmp_path / "x.csv"), str(tmp_path / "r"), design="paper"),
         "Unknown option `design`"),
    ]:
        with pytest.raises(PernodeError, match=re.escape(words)):
            call()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["g.toml"]


def test_what_a_plugin_prints_stays_off_stdout_so_json_stays_whole(tmp_path):
    (tmp_path / "noisy.py").write_text("print('hello from a plugin')\n")
    result = CliRunner().invoke(app, ["list", "variants", "--format", "json", "--plugin", str(tmp_path / "noisy.py")])
    assert result.exit_code == 0, result.output
    assert "Dropout" in [v["name"] for v in json.loads(result.stdout)["variants"]]
    assert "hello from a plugin" not in result.stdout
