"""`rank` reads each row once: finished attempts, duplicates, conflicts, labels, status, strict
JSON, mixed settings; and the design that ran is named in every output."""

import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from pernode_cli.cli import app
from pernode_cli.errors import PernodeError
from pernode_cli.stats.ranking import rank_logs
from pernode_cli.stats.rows import clean_rows, mixed_settings
from pernode_cli.schema import TRAIN_COLUMNS
from tests.logs_factory import VARIANTS, write_log
from tests.logs_factory import log_rows as schema3_rows

runner = CliRunner()


def rank_json(*args):
    result = runner.invoke(app, ["rank", *map(str, args), "--format", "json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout, parse_constant=lambda c: pytest.fail(f"JSON holds {c}"))


def one_line_error(*args):
    result = runner.invoke(app, ["rank", *map(str, args)])
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output and len(result.output.strip().splitlines()) == 1, result.output
    return result.output


def interrupted(rows, run_index=0, epochs=2):
    """The first ``epochs`` rows of one run again, as an earlier attempt that never finished."""
    run_id = rows[run_index]["run_id"]
    first = [dict(r, attempt=1, run_end="", val_loss=0.01) for r in rows if r["run_id"] == run_id][:epochs]
    later = [dict(r, attempt=2) if r["run_id"] == run_id else r for r in rows]
    return first + later


def test_only_finished_attempts_are_ranked_and_the_rest_counted(tmp_path):
    rows = schema3_rows()
    clean = write_log(tmp_path / "clean.csv", rows)
    # Attempt 1 of one run was interrupted (its rows stay, and hold a tempting low loss);
    # another run is still going (no run_end yet).
    running = [dict(r, run_id="running", rate=0.9, run_end="") for r in rows[:3]]
    log = write_log(tmp_path / "log.csv", interrupted(rows) + running)
    a, b = rank_json(clean, "--design", "paper")["datasets"][0], rank_json(log, "--design", "paper")["datasets"][0]
    assert b["left_out"] == {**a["left_out"], "rows": len(rows) + 5, "unfinished": 5}
    assert a["variants"] == b["variants"] and a["omnibus"] == b["omnibus"]
    assert b["top_rows"][0]["V-Loss"] > 0.01
    assert "5 row(s) of unfinished attempts" in runner.invoke(app, ["rank", str(log)]).stdout


def test_schema_2_rows_are_all_finished_also_beside_schema_3(tmp_path):
    rows = schema3_rows(test=False)
    gone = ("attempt", "run_end", "train_samples", "test_loss", "test_acc", "split", "data_fingerprint")
    old = [{k: v for k, v in r.items() if k not in gone} for r in rows]
    old_cols = [c for c in TRAIN_COLUMNS if c not in gone]
    write_log(tmp_path / "old.csv", [dict(r, dataset="old") for r in old], old_cols)
    write_log(tmp_path / "new.csv", rows)
    out = rank_json(tmp_path / "*.csv", "--design", "paper")
    got = {d["dataset"]: d["left_out"] for d in out["datasets"]}
    assert got["old"]["ranked"] == got["digits"]["ranked"] == len(rows)
    assert got["old"]["unfinished"] == 0


def test_identical_copies_count_once(tmp_path):
    rows = schema3_rows()
    half = len(rows) // 2
    merged = write_log(tmp_path / "merged.csv", rows)
    write_log(tmp_path / "shard1.csv", rows[:half])
    write_log(tmp_path / "shard2.csv", rows[half:])
    (tmp_path / "copy").mkdir()
    copy = write_log(tmp_path / "copy" / "merged.csv", rows)
    alone = rank_json(merged)["datasets"][0]
    for logs in ([tmp_path / "shard*.csv", merged], [merged, copy]):
        both = rank_json(*logs)["datasets"][0]
        assert both["left_out"]["duplicates"] == len(rows) and both["left_out"]["ranked"] == len(rows)
        assert {k: v for k, v in both.items() if k != "left_out"} == {k: v for k, v in alone.items() if k != "left_out"}
    assert (f"{len(rows)} row(s) that repeat a row already read"
            in runner.invoke(app, ["rank", str(merged), str(copy)]).stdout)


def test_conflicting_finished_rows_are_refused_naming_the_run_and_both_files(tmp_path):
    rows = schema3_rows()
    a = write_log(tmp_path / "a.csv", rows)
    b = write_log(tmp_path / "b.csv",
                  [dict(r, val_loss=r["val_loss"] + 0.1) if i == 5 else r for i, r in enumerate(rows)])
    before = a.read_bytes(), b.read_bytes()
    out = one_line_error(a, b)
    assert rows[5]["run_id"] in out and "a.csv" in out and "b.csv" in out and "epoch 2" in out
    assert (a.read_bytes(), b.read_bytes()) == before
    with pytest.raises(PernodeError, match="twice in"):
        clean_rows(pd.DataFrame(rows + [dict(rows[0], val_loss=9.0)]).assign(source="x.csv"))


def test_a_bad_data_set_does_not_block_ranking_another(tmp_path):
    good = schema3_rows()
    bad = schema3_rows(dataset="cifar10")
    bad[3]["test_loss"] = "nan"
    bad[7]["test_loss"] = "low"
    log = write_log(tmp_path / "log.csv", good + bad)
    out = one_line_error(log)  # 'low' is no number at all: an impossible cell, named with its line
    assert "line 57: column test_loss holds 'low', not a number >= 0 (or nan)" in out and "np." not in out
    bad[7]["test_loss"] = 0.5
    write_log(log, good + bad)
    out = one_line_error(log)  # 'nan' is a cell pernode writes, but not a value to rank
    assert "'nan'" in out and "cifar10" in out and "np." not in out and "1 such row(s)" in out
    bad[7]["test_loss"] = "low"
    write_log(log, good + bad)
    (d,) = rank_json(log, "--dataset", "digits")["datasets"]
    assert d["dataset"] == "digits" and d["left_out"]["rows"] == len(good)
    conflict = bad[:4] + [dict(bad[3], test_loss=1.0)]  # a finished run's last epoch, twice
    write_log(log, good + conflict)
    assert "two different finished rows" in one_line_error(log)
    assert rank_json(log, "--dataset", "digits")["datasets"][0]["left_out"]["ranked"] == len(good)


def test_an_empty_cell_is_named_as_one():
    frame = pd.DataFrame(schema3_rows())
    frame.loc[4, "val_loss"] = np.nan
    with pytest.raises(PernodeError) as err:
        clean_rows(frame)
    assert "holds '', not a finite number" in str(err.value) and "nan" not in str(err.value).lower()


def test_empty_variant_data_set_and_status_are_reported_not_ranked(tmp_path):
    rows = schema3_rows()
    last = rows[3]  # a finished run's last row (run_end set)
    extra = [dict(last, run_id="x1", variant="", val_loss=0.0), dict(last, run_id="x2", dataset=""),
             dict(last, run_id="x3", status="", val_loss=0.0), dict(last, run_id="x4", status="nonfinite",
                                                                        val_loss="nan", test_loss="nan")]
    log = write_log(tmp_path / "log.csv", rows + extra)
    out = rank_json(log, "--design", "paper")
    (d,) = out["datasets"]
    assert (d["left_out"]["no_variant"], d["left_out"]["no_status"], d["left_out"]["diverged"]) == (1, 1, 1)
    assert d["left_out"]["ranked"] == len(rows) and out["rows_without_dataset"] == 1
    assert all(r["V-Loss"] > 0 for r in d["top_rows"])
    text = runner.invoke(app, ["rank", str(log)]).stdout
    assert "1 row(s) with an empty status" in text and "1 row(s) with an empty data set" in text


def test_top_one_is_refused_with_the_reason(tmp_path):
    log = write_log(tmp_path / "log.csv", schema3_rows())
    out = one_line_error(log, "--top", "1", "--design", "paper")
    assert "--top must be an integer in [2," in out and "needs 2" in out
    with pytest.raises(PernodeError, match="needs 2"):
        rank_logs(pd.DataFrame(schema3_rows()), design="paper", top=1)


def test_json_is_strict():
    rows = schema3_rows(test=False)
    for r in rows:
        r["val_acc"] = ""  # missing values must be null
    frame = pd.DataFrame(rows).replace("", np.nan)
    for design in ("paper", "configs"):
        data = rank_logs(frame, design=design).to_dict()
        text = json.dumps(data, allow_nan=False)
        assert '"V-Acc": null' in text


def test_mixed_settings_are_pointed_out(tmp_path):
    rows = schema3_rows(variants=VARIANTS[:2]) + schema3_rows(variants=VARIANTS[2:], epochs=6, units=32, seed=1)
    log = write_log(tmp_path / "log.csv", rows)
    (d,) = rank_json(log, "--design", "paper")["datasets"]
    assert d["mixed_settings"]["epochs"] == {"Dropout": [4], "GaussianDropout": [4], "PerNodeBernoulli": [6],
                                             "PerNodeGaussian": [6]}
    assert set(d["mixed_settings"]) == {"epochs", "units"}
    text = runner.invoke(app, ["rank", str(log), "--design", "paper"]).stdout
    lines = [line for line in text.splitlines() if "Mixed settings" in line]
    assert len(lines) == 1 and "epochs (Dropout 4" in lines[0]
    assert "Mixed settings" in runner.invoke(app, ["rank", str(log), "--design", "paper",
                                                   "--format", "markdown"]).stdout
    same = write_log(tmp_path / "same.csv", schema3_rows())
    assert rank_json(same)["datasets"][0]["mixed_settings"] == {}
    assert mixed_settings(pd.DataFrame(schema3_rows())) == {}


def test_a_data_set_without_finished_rows_is_reported_not_ranked():
    rows = schema3_rows() + [dict(r, run_end="") for r in schema3_rows(dataset="cifar10")]
    result = rank_logs(pd.DataFrame(rows), design="paper")
    assert [d.dataset for d in result.datasets] == ["digits"]
    assert [(x.dataset, x.unfinished, x.ranked) for x in result.not_ranked] == [("cifar10", 48, 0)]
    with pytest.raises(PernodeError, match="cifar10: 48 row"):
        rank_logs(pd.DataFrame(rows), dataset="cifar10")
