"""`rank --design`: which design ran is named in every output, `auto` picks configs where
there are enough complete blocks, and each design's numbers are its library's numbers."""

import csv
import io
import json

import pandas as pd
import pytest
from typer.testing import CliRunner

from pernode_cli.cli import app
from pernode_cli.stats.configs import rank_configs
from pernode_cli.stats.ranking import AUTO_MIN_BLOCKS, rank_frame, rank_logs
from tests.test_rank_rows import schema3_rows, write_log

runner = CliRunner()
PAIR_KEYS = {"a", "b", "statistic", "p", "p_holm", "median_difference"}


def invoke(*args):
    result = runner.invoke(app, ["rank", *map(str, args)])
    assert result.exit_code == 0, result.output
    return result.stdout


def as_json(*args):
    return json.loads(invoke(*args, "--format", "json"))


@pytest.fixture(scope="module")
def logs(tmp_path_factory):
    """digits: 3 rates x 2 seeds (3 blocks); cifar10: one rate (1 block)."""
    folder = tmp_path_factory.mktemp("logs")
    return (write_log(folder / "digits.csv", schema3_rows(seeds=(0, 1))),
            write_log(folder / "cifar.csv", schema3_rows(dataset="cifar10", rates=(0.5,), epochs=8, seed=2)))


def test_auto_runs_configs_with_enough_blocks_and_paper_elsewhere(logs):
    out = {d["dataset"]: d for d in as_json(*logs)["datasets"]}
    assert AUTO_MIN_BLOCKS == 3
    assert out["digits"]["design"] == "configs" and "3 complete blocks" in out["digits"]["design_reason"]
    assert out["cifar10"]["design"] == "paper" and "1 complete block" in out["cifar10"]["design_reason"]
    assert "not independent evidence" in out["cifar10"]["note"]


@pytest.mark.parametrize("fmt", ["table", "markdown", "latex", "csv"])
def test_every_format_names_the_design(logs, fmt):
    text = invoke(*logs, "--format", fmt)
    if fmt == "csv":
        rows = list(csv.DictReader(io.StringIO(text)))
        assert {r["design"] for r in rows} == {"configs", "paper"} and len(rows) == 8
    else:
        assert "design configs" in text and "design paper" in text
        assert "not independent evidence" in " ".join(text.split())


def test_paper_design_numbers_are_the_papers(logs):
    (d,) = as_json(logs[0], "--design", "paper")["datasets"]
    (r,) = rank_frame(pd.read_csv(logs[0]))
    assert d["design"] == "paper" and d["design_reason"] == "asked for"
    assert d["friedman"] == r.friedman.to_dict() and d["variants"] == [v.to_dict() for v in r.variants]
    assert d["top_rows"] == list(r.top_rows)


def test_configs_design_json_carries_every_statistic(logs):
    (d,) = as_json(logs[0], "--design", "configs")["datasets"]
    (r,) = rank_configs(pd.read_csv(logs[0]))
    for key in ("n_blocks", "dropped_blocks", "iman_davenport_f", "iman_davenport_p", "chi2", "p", "kendall_w",
                "critical_difference", "select", "seeds", "block_columns"):
        assert d[key] == r.to_dict()[key], key
    assert d["design"] == "configs" and len(d["pairwise"]) == 6 and set(d["pairwise"][0]) == PAIR_KEYS
    assert d["pairwise"] == r.to_dict()["pairwise"]


def test_configs_options_reach_the_library(logs):
    frame = pd.read_csv(logs[0])
    cases = [(["--control", "Dropout"], dict(control="Dropout")), (["--seeds", "blocks"], dict(seeds="blocks")),
             (["--select", "last"], dict(select="last"))]
    for args, kwargs in cases:
        (d,) = as_json(logs[0], "--design", "configs", *args)["datasets"]
        (r,) = rank_configs(frame, **kwargs)
        assert d["pairwise"] == r.to_dict()["pairwise"] and d["n_blocks"] == r.n_blocks, args
    both = pd.concat([frame, pd.read_csv(logs[0]).assign(dataset="other")])
    (d,) = rank_logs(both, design="configs", across_datasets=True).datasets
    assert d.dataset == "all data sets" and d.ranking.n_blocks == 6
    (d,) = as_json(logs[0], "--variants", "Dropout, PerNodeGaussian,GaussianDropout")["datasets"]
    assert {v["variant"] for v in d["variants"]} == {"Dropout", "PerNodeGaussian", "GaussianDropout"}


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
        (["--design", "paper", "--control", "Dropout"], "--control belongs to the configs design"),
        (["--design", "paper", "--across-datasets"], "--across-datasets belongs to the configs design"),
        (["--design", "bayes"], "Invalid value for '--design': 'bayes' is not one of 'auto', 'configs', 'paper'"),
        (["--seeds", "pool"], "Invalid value for '--seeds'"),
        (["--variants", "Dropout,Nope"], "--variants names Nope"),
        (["--control", "Dropout", "--variants", "PerNodeGaussian,GaussianDropout,PerNodeBernoulli"], "--variants"),
    ],
)
def test_bad_design_options(logs, args, message):
    result = runner.invoke(app, ["rank", str(logs[0]), *args])
    assert result.exit_code == 2 and message in result.output, result.output
    assert len(result.output.strip().splitlines()) == 1


def test_configs_without_enough_blocks_is_refused(logs):
    result = runner.invoke(app, ["rank", str(logs[1]), "--design", "configs"])
    assert result.exit_code == 2 and "1 complete block" in result.output and "--variants" in result.output
