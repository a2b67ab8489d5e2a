"""Each setting is declared once: the options of `train`, `timeit`, `rank`, `report` and `plan` are
built from their records' declarations, and `sweep`'s options that are also config keys carry the
keys' names."""

from dataclasses import fields

import typer

from pernode_cli.cli import app
from pernode_cli.schema import RunSettings
from pernode_cli.stats.ranking.options import RankOptions
from pernode_cli.sweeps.config import KEYS
from pernode_cli.training.config import TimeitConfig

COMMANDS = typer.main.get_command(app).commands


def _options(command: str) -> dict:
    return {p.name: p for p in COMMANDS[command].params}


def test_every_run_setting_is_a_train_option_with_its_declared_default_help_and_placeholder():
    options = _options("train")
    for f in fields(RunSettings):
        option = options[f.name]
        assert option.default == f.default and option.help == f.metadata["help"]
        assert option.metavar == f.metadata["metavar"], f.name


def test_timeit_and_the_ranking_commands_take_their_records_declared_fields():
    timeit = _options("timeit")
    for f in fields(TimeitConfig):
        if f.metadata.get("cli", True):
            assert timeit[f.name].help == f.metadata["help"], f.name
    ranked = {f.name for f in fields(RankOptions) if f.metadata.get("cli", False) and not f.metadata.get("group")}
    assert ranked <= set(_options("rank"))
    assert ranked - {"design", "dataset"} <= set(_options("report"))


def test_sweep_options_that_are_config_keys_have_the_keys_names():
    own = {name for name, key in KEYS["fixed"].items() if not key.setting}  # the sweep's keys, not run settings
    assert own == {"gpus_per_run", "cpus_per_run", "tensorboard", "mlflow", "experiment", "track"}
    assert own <= set(_options("sweep"))
