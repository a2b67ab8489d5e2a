"""Beyond p-values in the commands: every interval, effect and posterior `rank` prints is the
effect functions' on the ranking's own block matrix; a results table is ranked as Demsar
(2006) ranked it; time to target ranks a run that never arrives last; `plan` and the report
carry the same records as the library; `pernode_cli.rank` from Python is `pernode rank`."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps
from typer.testing import CliRunner

import pernode_cli
from pernode_cli.cli import app
from pernode_cli.stats import effects
from pernode_cli.stats.bayes import bayes_signed_rank
from pernode_cli.stats.planning import plan_logs
from tests.logs_factory import log_rows, write_log

runner = CliRunner()
DEMSAR = Path(__file__).resolve().parents[1] / "examples" / "demsar2006.csv"
TARGET = "val_acc>=0.77"


def run(*args, code=0):
    result = runner.invoke(app, [*map(str, args)])
    assert result.exit_code == code, result.output
    return result


@pytest.fixture(scope="module")
def log(tmp_path_factory):
    """6 rates x 2 seeds of four variants: 6 configuration blocks."""
    return write_log(tmp_path_factory.mktemp("effects") / "log.csv",
                     log_rows(rates=(0.1, 0.2, 0.3, 0.4, 0.5, 0.6), seeds=(0, 1)))


@pytest.fixture(scope="module")
def ranked(log):
    return json.loads(run("rank", log, "--design", "configs", "--rope", "0.01", "--target", TARGET,
                          "--format", "json").stdout)


def test_intervals_effects_and_posteriors_are_the_functions_on_the_block_matrix(ranked):
    (d,) = ranked["datasets"]
    assert d["direction"] == "minimize" and d["posthoc"]["rope"] == 0.01
    names, m = d["blocks"]["variants"], np.array(d["blocks"]["values"])
    assert m.shape == (6, 4)
    for v in d["variants"]:
        col = m[:, names.index(v["variant"])]
        assert v["mean"] == pytest.approx(col.mean(), abs=1e-12)
        assert v["iqm"] == pytest.approx(effects.iqm(col), abs=1e-12)
        assert v["mean_ci"][0] <= v["mean"] <= v["mean_ci"][1] and v["iqm_ci"][0] <= v["iqm"] <= v["iqm_ci"][1]
    assert len(d["posthoc"]["pairs"]) == 6
    for p in d["posthoc"]["pairs"]:
        a, b = m[:, names.index(p["a"])], m[:, names.index(p["b"])]
        assert p["hodges_lehmann"] == pytest.approx(effects.hodges_lehmann(a - b), abs=1e-12)
        low, high, level = effects.hodges_lehmann_interval(a - b)
        assert p["hodges_lehmann_ci"] == [pytest.approx(low, abs=1e-12), pytest.approx(high, abs=1e-12)]
        assert p["hodges_lehmann_confidence"] == level
        share = np.mean((a < b) + 0.5 * (a == b))  # lower is better
        assert p["p_improvement"] == pytest.approx(share, abs=1e-12)
        post = bayes_signed_rank(a, b, 0.01, maximize=False)
        got = (p["bayes_a_better"], p["bayes_equivalent"], p["bayes_b_better"])
        assert got == pytest.approx((post.p_a_better, post.p_equivalent, post.p_b_better), abs=1e-12)
        assert sum(got) == pytest.approx(1.0, abs=1e-9)


def test_without_a_rope_there_is_no_posterior(log):
    (d,) = json.loads(run("rank", log, "--design", "configs", "--format", "json").stdout)["datasets"]
    assert d["posthoc"]["rope"] is None
    assert all(p["bayes_a_better"] is None and p["hodges_lehmann"] is not None for p in d["posthoc"]["pairs"])


def test_a_run_that_never_reaches_the_target_ranks_last(log, ranked):
    frame = pd.read_csv(log)
    (t,) = ranked["time_to_target"]
    assert t["metric"] == f"seconds to {TARGET}" and t["direction"] == "minimize" and t["ranked"]
    runs = {r["run_id"]: r for r in ranked["target_runs"]}
    assert set(runs) == set(frame["run_id"])
    for run_id, rows in frame.groupby("run_id"):
        rows = rows.sort_values("epoch")
        hit = rows[rows["val_acc"] >= 0.77]
        assert runs[run_id]["reached"] == (not hit.empty)
        if not hit.empty:  # training seconds up to the first epoch that meets it
            first = int(hit["epoch"].iloc[0])
            assert runs[run_id]["epoch"] == first
            assert runs[run_id]["seconds"] == pytest.approx(rows["epoch_seconds"].iloc[:first].sum())
    never = {v for v, g in frame.groupby("variant") if g["val_acc"].max() < 0.77}
    reached = {v for v, g in frame.groupby("variant") if g["val_acc"].max() >= 0.77}
    assert never and reached  # the fixture holds both kinds
    names, m = t["blocks"]["variants"], np.array(t["blocks"]["values"], dtype=float)  # null: censored
    for v in never:
        assert np.isnan(m[:, names.index(v)]).all()
    ranks = sps.rankdata(np.where(np.isnan(m), np.inf, m), axis=1)
    for block, _ in zip(ranks, t["blocks"]["keys"]):
        for v in never:
            assert block[names.index(v)] == block.max()  # censored: no better than any run that arrived
    means = {v["variant"]: v["mean_rank"] for v in t["variants"]}
    assert max(means[v] for v in reached) <= min(means[v] for v in never)
    assert all(v["median"] is None for v in t["variants"])  # censored seconds are no seconds
    # --rope is in the metric's units: the times get no Bayesian comparison.
    assert t["posthoc"]["rope"] is None and all(p["bayes_a_better"] is None for p in t["posthoc"]["pairs"])


def test_demsar_table_ranked_as_demsar_did(tmp_path):
    frame = pd.read_csv(DEMSAR)
    wide = frame.pivot(index="dataset", columns="method", values="auc")
    out = json.loads(run("rank", DEMSAR, "--format", "json").stdout)  # the one value column is the metric
    a = out["across_datasets"]
    assert out["kind"] == "results table" and a["design"] == "datasets" and a["metric"] == "auc"
    assert a["direction"] == "maximize" and a["blocks"]["n"] == 14
    want = dict(zip(wide.columns, sps.rankdata(-wide.to_numpy(), axis=1).mean(axis=0)))
    assert {v["variant"]: v["mean_rank"] for v in a["variants"]} == pytest.approx(want, abs=1e-12)
    assert a["omnibus"]["chi2"] == pytest.approx(sps.friedmanchisquare(*wide.to_numpy().T).statistic, abs=1e-9)
    two = frame.assign(acc=frame["auc"])
    two.to_csv(tmp_path / "two.csv", index=False)
    bad = run("rank", tmp_path / "two.csv", code=2)
    assert "2 value columns (auc, acc); give --metric" in bad.output and len(bad.output.strip().splitlines()) == 1
    # From Python, the same record.
    api = json.loads(pernode_cli.rank(DEMSAR).to_json())
    assert api["across_datasets"] == a
    table = pernode_cli.rank(frame.rename(columns={"method": "algorithm"}), method_column="algorithm").to_frame()
    assert set(table["variant"]) == set(wide.columns)


def test_too_few_rank_patterns_are_blamed_on_ties_or_on_blocks(tmp_path):
    tied = pd.DataFrame([{"dataset": f"d{i}", "method": m, "acc": 0.8 + i / 100} for i in range(8) for m in "AB"])
    tied.to_csv(tmp_path / "tied.csv", index=False)
    (w,) = [w for w in json.loads(run("rank", tmp_path / "tied.csv", "--format", "json").stdout)["across_datasets"]
            ["warnings"] if "cannot reach" in w]
    assert "its smallest p here is 1" in w and "tied values" in w and "needs at least" not in w
    few = tied.assign(acc=tied["acc"] + (tied["method"] == "A") * 0.01)[tied["dataset"] < "d4"]  # 4 blocks, k=2
    few.to_csv(tmp_path / "few.csv", index=False)
    (w,) = [w for w in json.loads(run("rank", tmp_path / "few.csv", "--format", "json").stdout)["across_datasets"]
            ["warnings"] if "cannot reach" in w]
    assert "It needs at least 6 blocks" in w and "tied values" not in w  # 2^-(n-1) <= 0.05 from n = 6


def test_api_formats_are_the_commands(log):
    result = pernode_cli.rank(str(log), design="configs")
    assert json.loads(result.to_json())["datasets"] == json.loads(
        run("rank", log, "--design", "configs", "--format", "json").stdout)["datasets"]
    frame = result.to_frame()
    assert len(frame) == 4 and frame["mean_rank"].is_monotonic_increasing
    assert "| Dropout" in result.to_markdown() and "\\begin{tabular}" in result.to_latex()


def test_plan_command_is_the_library(log):
    out = json.loads(run("plan", log, "--delta", "0.05", "--control", "Dropout", "--format", "json").stdout)
    want = plan_logs(pd.read_csv(log), 0.05, control="Dropout").to_dict()
    assert out["datasets"] == json.loads(json.dumps(want["datasets"]))
    (d,) = out["datasets"]
    assert d["planned"] and d["control"] == "Dropout" and d["shifted"] != "Dropout"
    power = np.array(d["plan"]["omnibus_power"])  # seeds x configurations
    assert (np.diff(power, axis=1) >= -0.05).all()  # more configurations: no less power (resampling noise)
    assert "seeds" in run("plan", log, "--delta", "0.05").stdout
    bad = run("plan", log, "--delta", "0.05", "--control", "Nope", code=2)
    assert len(bad.output.strip().splitlines()) == 1 and "Nope" in bad.output


def test_report_carries_planner_posteriors_and_target(log, tmp_path):
    out = tmp_path / "r"
    run("report", log, "--out", out, "--delta", "0.05", "--rope", "0.01", "--target", TARGET)
    data = json.loads((out / "report.json").read_text())
    (d,) = data["datasets"]
    assert d["configs"]["posthoc"]["rope"] == 0.01
    assert all(p["bayes_equivalent"] is not None for p in d["configs"]["posthoc"]["pairs"])
    assert data["plan"][0]["planned"] and data["time_to_target"][0]["ranked"]
    text = (out / "index.md").read_text()
    assert "## Time to target" in text and "## How many runs" in text and "P(equivalent)" in " ".join(text.split())
    assert {"digits_time_to_target.svg", "digits_simplex_configs.svg", "digits_profile_configs.svg"} <= {
        p.name for p in (out / "figures").iterdir()}
