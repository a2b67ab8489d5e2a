"""`rank --design`: which design ran is named in every output, `auto` picks configs where
there are enough complete blocks, and the command's numbers are the library's."""

import csv
import io
import json

import pandas as pd
import pytest
from typer.testing import CliRunner

from pernode_cli.cli import app
from pernode_cli.stats.ranking import AUTO_MIN_BLOCKS, rank_logs
from tests.logs_factory import log_rows, write_log

runner = CliRunner()
PAIR_KEYS = {"a", "b", "statistic", "p", "p_holm", "reject", "method", "n_used", "median_difference", "tied",
             "hodges_lehmann",
             "hodges_lehmann_ci", "hodges_lehmann_confidence", "p_improvement", "p_improvement_ci", "bayes_a_better",
             "bayes_equivalent", "bayes_b_better"}


def invoke(*args):
    result = runner.invoke(app, ["rank", *map(str, args)])
    assert result.exit_code == 0, result.output
    return result.stdout


def as_json(*args):
    return json.loads(invoke(*args, "--format", "json"))


@pytest.fixture(scope="module")
def logs(tmp_path_factory):
    """digits: 3 rates x 2 seeds (3 blocks); cifar10: one rate (1 block, one seed)."""
    folder = tmp_path_factory.mktemp("logs")
    return (write_log(folder / "digits.csv", log_rows(seeds=(0, 1))),
            write_log(folder / "cifar.csv", log_rows(dataset="cifar10", rates=(0.5,), epochs=8, seed=2)))


def test_auto_runs_configs_with_enough_blocks_and_paper_elsewhere(logs):
    out = {d["dataset"]: d for d in as_json(*logs)["datasets"]}
    assert AUTO_MIN_BLOCKS == 3
    assert out["digits"]["design"] == "configs" and "3 complete blocks" in out["digits"]["design_reason"]
    assert out["cifar10"]["design"] == "paper" and "1 complete block" in out["cifar10"]["design_reason"]
    assert "no p-value" in out["cifar10"]["conditions"] and out["cifar10"]["omnibus"]["p"] is None
    assert all(isinstance(d["warnings"], list) for d in out.values())


@pytest.mark.parametrize("fmt", ["table", "markdown", "latex", "csv"])
def test_every_format_names_the_design_and_direction(logs, fmt):
    text = invoke(*logs, "--format", fmt)
    if fmt == "csv":
        rows = list(csv.DictReader(io.StringIO(text)))
        assert {r["design"] for r in rows} == {"configs", "paper"} and len(rows) == 8
        assert {r["direction"] for r in rows} == {"minimize"}
    else:
        assert "design configs" in text and "design paper" in text and "lower is better" in text
        assert "no p-value is given" in " ".join(text.split())
        assert "scipy" in text  # the versions behind the numbers


def test_the_commands_numbers_are_the_librarys(logs):
    frame = pd.read_csv(logs[0])
    for args, kwargs in ([], {}), (["--control", "Dropout"], dict(control="Dropout")), \
            (["--seeds", "blocks"], dict(seeds="blocks")), (["--select", "last"], dict(select="last")), \
            (["--zero-method", "zsplit", "--alpha", "0.1"], dict(zero_method="zsplit", alpha=0.1)):
        (d,) = as_json(logs[0], "--design", "configs", *args)["datasets"]
        (r,) = rank_logs(frame, design="configs", **kwargs).datasets
        assert d == json.loads(json.dumps(r.to_dict())), args
        assert set(d["posthoc"]["pairs"][0]) == PAIR_KEYS
    (d,) = as_json(logs[0], "--variants", "dropout, PerNodeGaussian,gaussiandropout")["datasets"]
    assert {v["variant"] for v in d["variants"]} == {"Dropout", "PerNodeGaussian", "GaussianDropout"}


def test_across_data_sets_in_the_command(tmp_path):
    frames = [log_rows(dataset=name, seed=i) for i, name in enumerate(("a", "b", "c"))]
    write_log(tmp_path / "l.csv", [r for f in frames for r in f])
    out = as_json(tmp_path / "l.csv", "--across-datasets")
    assert len(out["datasets"]) == 3 and out["across_datasets"]["design"] == "datasets"
    assert out["across_datasets"]["blocks"]["n"] == 3
    pooled = as_json(tmp_path / "l.csv", "--pooled-configurations")["across_datasets"]
    assert pooled["design"] == "pooled" and pooled["blocks"]["n"] == 9
    both = runner.invoke(app, ["rank", str(tmp_path / "l.csv"), "--across-datasets", "--pooled-configurations"])
    assert both.exit_code == 2 and len(both.output.strip().splitlines()) == 1


def test_table_one_over_seeds(logs):
    (d,) = as_json(logs[0])["datasets"]
    assert len(d["seed_table"]) == 4 * 3 and {r["n_seeds"] for r in d["seed_table"]} == {2}
    assert all(r["ci_low"] < r["mean"] < r["ci_high"] for r in d["seed_table"])
    assert "Table I over seeds" in invoke(logs[0])
    (d,) = as_json(logs[1])["datasets"]
    assert d["seed_table"] == []


@pytest.mark.parametrize(
    "args, message",
    [
        (["--design", "paper", "--control", "Dropout"], "belong to tests"),
        (["--design", "paper", "--across-datasets"], "belong to tests"),
        (["--design", "bayes"], "Invalid value for '--design': 'bayes' is not one of 'auto', 'configs', 'paper'"),
        (["--seeds", "pool"], "Invalid value for '--seeds'"),
        (["--variants", "Dropout,Nope"], "--variants names Nope"),
        (["--control", "Dropout", "--variants", "PerNodeGaussian,GaussianDropout,PerNodeBernoulli"], "--variants"),
        (["--zero-method", "drop"], "Invalid value for '--zero-method'"),
    ],
)
def test_bad_design_options(logs, args, message):
    result = runner.invoke(app, ["rank", str(logs[0]), *args])
    assert result.exit_code == 2 and message in result.output, result.output
    assert len(result.output.strip().splitlines()) == 1


def test_configs_without_enough_blocks_says_why_and_ranks_nothing(logs):
    (d,) = as_json(logs[1], "--design", "configs")["datasets"]
    assert d["ranked"] and d["blocks"]["n"] == 1
    assert any("cannot reach p <= 0.05" in w for w in d["warnings"])
