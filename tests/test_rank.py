"""`rank` under the paper's layout (descriptive), the CLI formats and bad input."""

import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from pernode_cli.cli import app
from pernode_cli.errors import PernodeError
from pernode_cli.stats.paper import paper_statistics, top_values
from pernode_cli.stats.procedures import nemenyi_cd
from pernode_cli.stats.ranking import rank_logs
from tests.helpers import heavy_modules_after

runner = CliRunner()

# Ranks (1..40) of each variant's five records, chosen so the pooled mean ranks are the
# paper's CIFAR-10 row: 5.4, 7.0, 11.6, 18.0, 23.0, 28.0, 33.0, 38.0.
PAPER_RANKS = {
    "PerNodeGaussian": [1, 2, 3, 7, 14],
    "PerNodeBernoulli": [4, 5, 6, 9, 11],
    "Dropout": [8, 10, 12, 13, 15],
    "GaussianDropout": [16, 17, 18, 19, 20],
    "PerNodeGaussian_Fixed": [21, 22, 23, 24, 25],
    "PerNodeBernoulli_Fixed": [26, 27, 28, 29, 30],
    "DropConnect": [31, 32, 33, 34, 35],
    "MaskEnsemble": [36, 37, 38, 39, 40],
}


def paper_log(extra_rows=True):
    rows = []
    for variant, ranks in PAPER_RANKS.items():
        for i, r in enumerate(ranks):
            rows.append({"dataset": "cifar10", "variant": variant, "rate": 0.5, "epoch": i + 1,
                         "val_loss": 0.8 + 0.01 * r, "val_acc": 0.7, "train_loss": 0.5, "train_acc": 0.8})
        if extra_rows:  # worse records beyond the top 5 must not matter
            rows.append({"dataset": "cifar10", "variant": variant, "rate": 0.1, "epoch": 9,
                         "val_loss": 5.0, "val_acc": 0.1, "train_loss": 4.0, "train_acc": 0.1})
    return pd.DataFrame(rows)


def paper(frame, **kw):
    (d,) = rank_logs(frame, design="paper", **kw).datasets
    return d


def test_paper_cifar_row_and_hand_worked_friedman():
    r = paper(paper_log())
    pooled = {v.variant: v.pooled_mean_rank for v in r.variants}
    assert [v.variant for v in r.variants] == list(PAPER_RANKS)
    assert list(pooled.values()) == pytest.approx([5.4, 7.0, 11.6, 18.0, 23.0, 28.0, 33.0, 38.0])
    # Within-block ranks by hand: blocks 1-4 rank the variants 1..8 in order; in block 5
    # PerNodeBernoulli (11) beats PerNodeGaussian (14). Rank sums 6, 9, 15, 20, ..., 40.
    sums = np.array([6, 9, 15, 20, 25, 30, 35, 40])
    chi2 = 12 / (5 * 8 * 9) * (sums**2).sum() - 3 * 5 * 9
    assert r.omnibus.chi2 == pytest.approx(chi2)  # 34.733
    assert r.omnibus.kendall_w == pytest.approx(chi2 / (5 * 7))
    # The paper's Table V (section V-B), CIFAR-10 row: these pooled mean ranks force chi2 >= 34.13
    # (W >= 0.975) at n = 5, k = 8.
    assert r.omnibus.chi2 >= 34.13
    assert [v.mean_rank for v in r.variants] == pytest.approx(sums / 5)
    assert (r.blocks.n, r.blocks.k, r.blocks.kind) == (5, 8, "rank positions")
    assert r.nemenyi_cd == pytest.approx(4.70, abs=0.005)
    # Descriptive only: the layout's blocks are order statistics, so no p-value and no tests.
    assert r.omnibus.p is None and r.omnibus.method == "descriptive" and r.posthoc is None
    assert "no p-value" in r.conditions


def test_transposed_layout_would_give_w_one():
    # Variants as blocks always yields W = 1 because each variant's records are sorted.
    assert paper(paper_log()).omnibus.kendall_w < 0.999
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"variant": np.repeat([f"v{j}" for j in range(4)], 5), "val_loss": rng.normal(size=20)})
    m = top_values(frame, "val_loss", 5, False, [f"v{j}" for j in range(4)])
    s = paper_statistics(m, False)
    from scipy.stats import friedmanchisquare

    assert s["kendall_w"] < 0.9 and s["chi2"] == pytest.approx(friedmanchisquare(*m.T).statistic)


def test_ties_hand_worked():
    # Block 1: a=1, b=1, c=2 -> ranks 1.5, 1.5, 3. Block 2: a=3, b=4, c=4 -> 1, 2.5, 2.5.
    m = np.array([[1.0, 1.0, 2.0], [3.0, 4.0, 4.0]])
    s = paper_statistics(m, False)
    raw = 12 / (2 * 3 * 4) * (2.5**2 + 4**2 + 5.5**2) - 3 * 2 * 4  # 2.25
    correction = 1 - (6 + 6) / (2 * (27 - 3))  # one pair tied in each block
    assert s["chi2"] == pytest.approx(raw / correction)
    assert s["kendall_w"] == pytest.approx(raw / correction / (2 * 2))
    # Pooled ranks over 1,1,2,3,4,4: average ranks 1.5,1.5,3,4,5.5,5.5.
    assert s["pooled_mean_ranks"] == pytest.approx([(1.5 + 4) / 2, (1.5 + 5.5) / 2, (3 + 5.5) / 2])


def test_accuracy_metric_is_maximised():
    df = paper_log()
    df["val_acc"] = 1.0 - df["val_loss"]
    r = paper(df, metric="val_acc")
    assert r.direction == "maximize"
    assert r.variants[0].variant == "PerNodeGaussian" and r.variants[0].best == pytest.approx(1 - 0.81)


def test_nemenyi_cd_formula():
    assert nemenyi_cd(8, 5) == pytest.approx(4.6954, abs=1e-3)
    assert nemenyi_cd(3, 10) < nemenyi_cd(3, 5)


def test_cli_json_and_formats(tmp_path):
    log = tmp_path / "log.csv"
    paper_log().to_csv(log, index=False)
    result = runner.invoke(app, ["rank", str(log), "--format", "json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    (d,) = data["datasets"]
    assert d["dataset"] == "cifar10" and d["metric"] == "val_loss" and d["direction"] == "minimize"
    assert d["design"] == "paper" and "2 complete block(s)" in d["design_reason"]  # too few for configs
    assert set(d["omnibus"]) == {"test", "chi2", "df", "iman_davenport_f", "kendall_w", "p", "method", "n_resamples",
                                 "min_attainable_p"}
    assert d["omnibus"]["p"] is None and isinstance(d["warnings"], list)
    assert set(d["variants"][0]) == {"variant", "pooled_mean_rank", "mean_rank", "best", "median", "mean", "mean_ci",
                                     "iqm", "iqm_ci"}
    assert d["variants"][0]["mean_ci"] is None  # the paper's layout: no intervals of dependent records
    assert len(d["top_rows"]) == 8 * 3
    assert d["top_rows"][0]["Variant"] == "PerNodeGaussian" and d["top_rows"][0]["V-Loss"] == pytest.approx(0.81)
    assert set(data["versions"]) == {"pernode", "numpy", "scipy", "pandas"}
    csv_out = runner.invoke(app, ["rank", str(log), "--format", "csv"]).stdout
    assert csv_out.splitlines()[0].startswith("dataset,metric,direction,design")
    assert "| Variant" in runner.invoke(app, ["rank", str(log), "--format", "markdown"]).stdout
    assert "\\toprule" in runner.invoke(app, ["rank", str(log), "--format", "latex"]).stdout
    table = runner.invoke(app, ["rank", str(log)]).stdout
    assert "Kendall's W = 0.992" in table and "PerNodeGaussian" in table and "lower is better" in table
    assert "descriptive: no p-value" in table and "p =" not in table


def test_globs_merge_and_datasets_ranked_apart(tmp_path):
    a, b = paper_log(), paper_log()
    b["dataset"] = "speech_commands"
    b.loc[b["variant"] == "MaskEnsemble", "val_loss"] -= 1.0
    a.to_csv(tmp_path / "a.csv", index=False)
    b.to_csv(tmp_path / "b.csv", index=False)
    result = runner.invoke(app, ["rank", str(tmp_path / "*.csv"), "--format", "json"])
    datasets = json.loads(result.stdout)["datasets"]
    assert [d["dataset"] for d in datasets] == ["cifar10", "speech_commands"]
    assert datasets[1]["variants"][0]["variant"] == "MaskEnsemble"
    only = json.loads(runner.invoke(app, ["rank", str(tmp_path / "*.csv"), "--dataset", "cifar10",
                                          "--format", "json"]).stdout)
    assert len(only["datasets"]) == 1


def test_diverged_rows_are_left_out_but_nan_in_ok_rows_is_an_error():
    df = paper_log()
    df["status"] = "ok"
    clean = paper(df)
    df.loc[len(df)] = {**df.iloc[0].to_dict(), "val_loss": np.nan, "status": "nonfinite"}
    d = paper(df)
    assert d.left_out.diverged == 1 and d.variants == clean.variants and d.omnibus == clean.omnibus
    df.loc[len(df)] = {**df.iloc[0].to_dict(), "val_loss": np.nan, "status": "ok"}
    with pytest.raises(PernodeError, match="holds '', not a finite number"):
        paper(df)


def _bad(tmp_path, frame_or_text):
    log = tmp_path / "bad.csv"
    if isinstance(frame_or_text, str):
        log.write_text(frame_or_text)
    else:
        frame_or_text.to_csv(log, index=False)
    return log


@pytest.mark.parametrize(
    "make, args, message",
    [
        (lambda: paper_log().drop(columns=["val_loss"]), [], "lack column(s) val_loss"),
        (lambda: paper_log().assign(val_loss="low"), [], "holds 'low', not a finite number"),
        (lambda: "", [], "is empty"),
        (lambda: "dataset,variant,val_loss\n", [], "no rows"),
        (lambda: 'a,b\n"unclosed,1\n', [], "Cannot read log"),
        (lambda: paper_log(), ["--format", "xml"], "Invalid value for '--format'"),
        (lambda: paper_log(), ["--top", "1"], "--top must be an integer in [2,"),
        (lambda: paper_log(), ["--table-top", "0"], "--table-top must be an integer in [1,"),
        (lambda: paper_log(), ["--dataset", "mnist"], "No rows for data set 'mnist'"),
        (lambda: paper_log(), ["--metric", "val_ece"], "lack column(s) val_ece"),
        (lambda: paper_log().assign(score=1.0), ["--metric", "score"], "has no known direction"),
        (lambda: paper_log(), ["--alpha", "1.5"], "--alpha must be a number in (0, 1)"),
        (lambda: paper_log(), ["--variants", "Dropout,Zoneout"], "--variants names Zoneout"),
    ],
)
def test_bad_input_one_line_exit_2(tmp_path, make, args, message):
    log = _bad(tmp_path, make())
    result = runner.invoke(app, ["rank", str(log), *args])
    assert result.exit_code == 2, result.output
    assert message in result.output and "Traceback" not in result.output, result.output
    assert len(result.output.strip().splitlines()) == 1


def test_one_or_two_variants_are_described_not_refused(tmp_path):
    log = _bad(tmp_path, paper_log()[paper_log()["variant"].isin(["Dropout"])])
    out = runner.invoke(app, ["rank", str(log)])
    assert out.exit_code == 0 and "Not ranked" in out.stdout and "Table I" in out.stdout
    assert "needs at least 2 variants" in " ".join(out.stdout.split())


def test_missing_file_and_glob(tmp_path):
    assert "does not exist" in runner.invoke(app, ["rank", str(tmp_path / "nope.csv")]).output
    assert "No log matches" in runner.invoke(app, ["rank", str(tmp_path / "*.csv")]).output


def test_rank_imports_neither_tensorflow_nor_keras(tmp_path):
    log = tmp_path / "log.csv"
    paper_log().to_csv(log, index=False)
    assert heavy_modules_after(["rank", str(log), "--format", "json"]) == []
