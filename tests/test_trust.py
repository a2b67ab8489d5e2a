"""Trust, part two: a log is a file (links and loops), a header is never a row, the data are
part of a sweep's identity, reports appear whole or not at all, `report` works on every log
`rank` accepts, output faults are faults, and every size has a bound.

Cases that need a training backend or a signal run as real `pernode` processes (marked
slow); the rest run in-process through Typer's runner. Bad input is one line and exit 2 with
every file byte-identical; a fault is one line and exit 1 with the log whole."""

import errno
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from pernode_cli.cli import app
from pernode_cli.errors import PernodeError
from pernode_cli.logs import CsvLog, LogLock
from pernode_cli.schema import TRAIN_COLUMNS
from tests.logs_factory import log_rows, write_log

ROOT = Path(__file__).resolve().parents[1]
runner = CliRunner()
FAST = ["--max-train-samples", "64", "--units", "4", "--batch-size", "32", "--epochs", "1"]
TINY = 'dataset = "{data}"\n[grid]\nvariants = ["Dropout", "Dense"]\nrates = [0.1]\nunits = [4]\nbatch_sizes = [32]\n' \
       '[fixed]\nepochs = 1\nmax_train_samples = 40\n'


def _env(**extra):
    return dict(os.environ, PYTHONPATH=str(ROOT), **extra)


def _cmd(*args):
    return [sys.executable, "-m", "pernode_cli", *map(str, args)]


def _run(cwd, *args, timeout=300, **kw):
    return subprocess.run(_cmd(*args), cwd=cwd, env=_env(**kw.pop("env", {})), capture_output=True, text=True,
                          timeout=timeout, **kw)


def _snapshot(root: Path) -> dict:
    return {p.relative_to(root): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in root.rglob("*") if p.is_file() and not p.is_symlink()}


def _one_line(result, code=2, needle=""):
    """The result's only line (CliRunner's output, or a process's stderr), and its exit code."""
    out = result.output if hasattr(result, "output") else result.stderr
    got = result.exit_code if hasattr(result, "exit_code") else result.returncode
    assert got == code, out
    lines = [line for line in out.strip().splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in out, out
    assert needle in lines[0], lines[0]
    return lines[0]


def _npz(path, seed=0, n=60):
    rng = np.random.default_rng(seed)
    np.savez(path, x_train=rng.normal(size=(n, 6)), y_train=rng.integers(0, 3, n),
             x_val=rng.normal(size=(20, 6)), y_val=rng.integers(0, 3, 20))
    return path


# --- a log is a file -------------------------------------------------------------------------


def test_link_loops_are_one_line_everywhere(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    os.symlink("loop.csv", "loop.csv")
    os.symlink("cfg.toml", "cfg.toml")
    os.symlink("data.npz", "data.npz")
    os.symlink("plug.py", "plug.py")
    os.symlink("store", "store")
    (tmp_path / "ok.toml").write_text(TINY.format(data="digits"))
    write_log(tmp_path / "good.csv", log_rows())
    before = _snapshot(tmp_path)
    cases = [["train", "--log", "loop.csv"], ["sweep", "ok.toml", "--log", "loop.csv"],
             ["sweep", "ok.toml", "--log", "loop.csv", "--dry-run"], ["sweep", "cfg.toml"],
             ["timeit", "--dataset", "digits", "--log", "loop.csv"], ["rank", "loop.csv"],
             ["rank", "good.csv", "--plots", "loop.csv"], ["report", "loop.csv", "--out", "r"],
             ["report", "good.csv", "--out", "loop.csv"], ["report", "good.csv", "--timings", "loop.csv", "--out", "r"],
             ["train", "--dataset", "data.npz"], ["list", "--plugin", "plug.py"],
             ["train", "--plugin", "plug.py", "--log", "l.csv"], ["train", "--tensorboard", "store", "--log", "l.csv"],
             ["train", "--mlflow", "sqlite:///store", "--log", "l.csv"], ["export", "good.csv", "--mlflow", "store"]]
    for args in cases:
        line = _one_line(runner.invoke(app, args))
        assert "loop of symbolic links" in line or "does not exist" in line, (args, line)
    assert _snapshot(tmp_path) == before and os.path.islink("loop.csv")


@pytest.mark.slow
def test_two_names_of_one_log_are_one_writer_and_links_are_written_through(tmp_path):
    (tmp_path / "shared").mkdir()
    os.symlink("shared/real.csv", tmp_path / "via-link.csv")  # dangling: the target is written, the link kept
    first = subprocess.Popen(_cmd("train", *FAST, "--epochs", "3", "--log", "via-link.csv", "--quiet"), cwd=tmp_path,
                             env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    lock = tmp_path / "shared" / "real.csv.lock"
    deadline = time.time() + 120
    while time.time() < deadline and not (lock.exists() and lock.read_text()):
        time.sleep(0.05)
    second = _run(tmp_path, "train", *FAST, "--log", "shared/real.csv")
    assert first.wait(timeout=300) == 0, first.stderr.read()
    line = _one_line(second, 2, "is being written by another process")
    assert f"pid {first.pid}" in line
    assert os.path.islink(tmp_path / "via-link.csv") and (tmp_path / "shared" / "real.csv").is_file()
    assert not (tmp_path / "via-link.csv.lock").exists()  # the lock lives beside the real file
    rows = pd.read_csv(tmp_path / "shared" / "real.csv")
    assert len(rows) == 3 and (rows["attempt"] == 1).all()
    os.symlink("missing/x.csv", tmp_path / "nowhere.csv")
    before = _snapshot(tmp_path)
    _one_line(runner.invoke(app, ["train", "--log", str(tmp_path / "nowhere.csv")]), 2, "does not exist")
    assert _snapshot(tmp_path) == before and os.path.islink(tmp_path / "nowhere.csv")


def test_hard_links_of_one_log_are_one_writer(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write_log(tmp_path / "a.csv", log_rows())
    (tmp_path / "other").mkdir()
    os.link("a.csv", "b.csv")
    os.link("a.csv", "other/c.csv")
    (tmp_path / "g.toml").write_text(TINY.format(data="digits"))
    with LogLock("a.csv"):
        before = _snapshot(tmp_path)
        for args in (["train", *FAST, "--log", "b.csv"], ["sweep", "g.toml", "--log", "other/c.csv"],
                     ["timeit", "--dataset", "digits", "--log", "b.csv"]):
            _one_line(runner.invoke(app, args), 2, "through another name of the same file (a hard link)")
        with pytest.raises(PernodeError, match="hard link"):
            LogLock("b.csv").acquire()
        assert _snapshot(tmp_path) == before  # no lock file added beside b.csv
    # A log created by its writer is locked as a file too: a link made while it runs is refused.
    log = CsvLog(tmp_path / "new.csv", columns=TRAIN_COLUMNS)
    os.link("new.csv", "new-link.csv")
    with pytest.raises(PernodeError, match="hard link"):
        LogLock("new-link.csv").acquire()
    log.lock.release()
    LogLock("new-link.csv").acquire().release()  # free once the writer is done


# --- a header is never a row -----------------------------------------------------------------


def test_a_header_without_its_newline_is_mended_not_moved_aside(tmp_path):
    log = tmp_path / "l.csv"
    log.write_text(",".join(TRAIN_COLUMNS))  # an editor dropped the final newline
    assert "has a header but no rows" in _one_line(runner.invoke(app, ["rank", str(log)]))
    csv_log = CsvLog(log)
    csv_log.append({"run_id": "r", "epoch": 1})
    csv_log.close()
    assert log.read_text().startswith(",".join(TRAIN_COLUMNS) + "\n")
    assert pd.read_csv(log)["run_id"].tolist() == ["r"] and not list(tmp_path.glob("l.csv.torn-*"))


def test_a_repeated_header_is_named(tmp_path):
    rows = log_rows()
    write_log(tmp_path / "a.csv", rows[:4])
    write_log(tmp_path / "b.csv", rows[4:8])
    joined = tmp_path / "joined.csv"
    joined.write_bytes((tmp_path / "a.csv").read_bytes() + (tmp_path / "b.csv").read_bytes())
    before = joined.read_bytes()
    for args in (["rank", str(joined)], ["train", "--log", str(joined), *FAST]):
        line = _one_line(runner.invoke(app, args))
        assert "repeats its header at line 6" in line, line
    assert joined.read_bytes() == before


# --- the data are part of a sweep's identity ---------------------------------------------------


@pytest.mark.slow
def test_a_sweep_over_changed_data_is_refused_and_rank_flags_it(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    data = _npz(tmp_path / "data.npz", seed=0)
    (tmp_path / "c.toml").write_text(TINY.format(data="data.npz"))
    first = runner.invoke(app, ["sweep", "c.toml", "--quiet"])
    assert first.exit_code == 0, first.output
    log = pd.read_csv(tmp_path / "c.csv")
    assert log["data_fingerprint"].str.startswith("npz:").all() and log["data_fingerprint"].nunique() == 1
    state = json.loads((tmp_path / "c.csv.sweep.json").read_text())
    assert state["data_fingerprint"] == log["data_fingerprint"].iloc[0]
    _npz(data, seed=1)  # regenerated at the same path: other samples
    before = _snapshot(tmp_path)
    for args in (["sweep", "c.toml"], ["sweep", "c.toml", "--dry-run"]):
        line = _one_line(runner.invoke(app, args), 2, "the data of this sweep changed")
        assert "data.npz" in line and "npz:" in line
    assert _snapshot(tmp_path) == before
    # The same data set name trained on two different files: rank says so.
    other = log.assign(data_fingerprint="npz:0000000000000000", run_id=log["run_id"] + "-b", seed=1)
    both = pd.concat([log, other])
    both.to_csv(tmp_path / "both.csv", index=False)
    (d,) = json.loads(runner.invoke(app, ["rank", "both.csv", "--format", "json"]).stdout)["datasets"]
    assert "data_fingerprint" in d["mixed_settings"]
    assert any("data_fingerprint" in w for w in d["warnings"])


# --- reports appear whole or not at all --------------------------------------------------------


@pytest.fixture(scope="module")
def two_logs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("logs")
    return (write_log(folder / "d.csv", log_rows(seeds=(0, 1))),
            write_log(folder / "c.csv", log_rows(dataset="cifar10", rates=(0.1, 0.3, 0.5), seed=4)))


def test_empty_or_foreign_output_folders_are_refused(tmp_path, monkeypatch, two_logs):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "index.md").write_text("my notes")
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "fig.png").write_bytes(b"mine")
    before = _snapshot(tmp_path)
    log = str(two_logs[0])
    _one_line(runner.invoke(app, ["report", log, "--out", ""]), 2, "--out is empty")
    _one_line(runner.invoke(app, ["report", log, "--out", "."]), 2, "holds files that pernode did not write")
    _one_line(runner.invoke(app, ["rank", log, "--plots", ""]), 2, "--plots is empty")
    _one_line(runner.invoke(app, ["rank", log, "--plots", "mine"]), 2, "holds files that pernode did not write")
    assert _snapshot(tmp_path) == before


def test_a_report_replaces_its_earlier_self_whole_and_a_full_disk_leaves_it(tmp_path, two_logs, monkeypatch):
    out = tmp_path / "rep"
    assert runner.invoke(app, ["report", str(two_logs[0]), "--out", str(out)]).exit_code == 0
    first = _snapshot(out)
    assert runner.invoke(app, ["report", *map(str, two_logs), "--out", str(out)]).exit_code == 0  # replaced whole
    second = _snapshot(out)
    assert second != first and not [p for p in tmp_path.iterdir() if p.name.startswith(".rep.")]
    import builtins

    real_open, opened = builtins.open, []

    def full_disk(path, mode="r", *args, **kwargs):
        if "w" in mode and ".rep.tmp-" in str(path):
            opened.append(path)
            if len(opened) > 3:
                raise OSError(errno.ENOSPC, "No space left on device")
        return real_open(path, mode, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", full_disk)
    result = runner.invoke(app, ["report", str(two_logs[1]), "--out", str(out)])
    monkeypatch.undo()
    _one_line(result, 1, "the disk is full")
    assert _snapshot(out) == second and not [p for p in tmp_path.iterdir() if p.name.startswith(".rep.")]


@pytest.mark.slow
def test_a_report_killed_while_writing_leaves_the_old_or_the_new_report(tmp_path, two_logs):
    out = tmp_path / "rep"
    assert _run(tmp_path, "report", two_logs[0], "--out", out).returncode == 0
    old = _snapshot(out)
    rng = np.random.default_rng(7)
    for delay in rng.uniform(1.0, 6.0, 3):
        proc = subprocess.Popen(_cmd("report", *two_logs, "--out", out), cwd=tmp_path, env=_env(),
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        time.sleep(delay)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=120)
        now = _snapshot(out)
        assert proc.returncode in (0, 143), err
        if proc.returncode == 143:
            assert "terminated" in err and len(err.strip().splitlines()) == 1, err
        report = json.loads((out / "report.json").read_text())
        names = {d["dataset"] for d in report["datasets"]}
        assert now == old or names == {"digits", "cifar10"}  # whole: never a mix
        assert {p.name for p in (out / "figures").iterdir()} == {
            p.name for p in (out / "figures").iterdir() if p.stat().st_size > 0}
        assert not [p for p in tmp_path.iterdir() if p.name.startswith(".rep.")]
        old = now


def test_report_works_on_every_log_rank_accepts(tmp_path):
    one = write_log(tmp_path / "one.csv", log_rows(variants=("PerNodeGaussian",), rates=(0.5,), epochs=5))
    out = tmp_path / "r1"
    result = runner.invoke(app, ["report", str(one), "--out", str(out)])
    assert result.exit_code == 0, result.output
    md = " ".join((out / "index.md").read_text().split())
    assert "Table I, digits" in md and "needs at least 2 variants" in md and "learning curves" in md.lower()
    assert (out / "figures" / "digits_curves.svg").is_file() and "tensorflow" in md
    two = write_log(tmp_path / "two.csv", log_rows(variants=("Dense", "Dropout"), rates=(0.5,), epochs=5))
    assert runner.invoke(app, ["report", str(two), "--out", str(tmp_path / "r2")]).exit_code == 0
    unfinished = write_log(tmp_path / "u.csv", [dict(r, run_end="") for r in log_rows()])
    before = _snapshot(tmp_path)
    _one_line(runner.invoke(app, ["report", str(unfinished), "--out", str(tmp_path / "r3")]), 2,
              "no finished rows with status ok")
    assert _snapshot(tmp_path) == before


def test_table_iv_shows_timeit_warnings_and_says_when_rounds_are_too_few(tmp_path, two_logs):
    from tests.test_report import write_timings

    timings = write_timings(tmp_path / "t.csv")
    frame = pd.read_csv(timings)
    frame["n"] = 2
    frame.loc[frame.variant == "PerNodeBernoulli", "warnings"] = json.dumps(["epoch times vary by 12% of their mean"])
    frame.loc[frame.variant == "Dropout", "warnings"] = json.dumps(["busy machine: 1-minute load above the 2 cores"])
    frame.to_csv(timings, index=False)
    out = tmp_path / "r"
    assert runner.invoke(app, ["report", str(two_logs[0]), "--timings", str(timings), "--out", str(out)]).exit_code == 0
    md = " ".join((out / "index.md").read_text().split())
    assert "timeit warned: PerNodeBernoulli: epoch times vary by 12%" in md
    assert "timeit warned: busy machine" in md and "rest on 2 timed round(s), too few to mean much" in md
    html = (out / "index.html").read_text()
    assert '<div class="wide"><table>' in html and "overflow-x: auto" in html


# --- output faults are faults ----------------------------------------------------------------


@pytest.mark.slow
def test_closed_or_full_standard_output_never_loses_work(tmp_path, two_logs):
    with open(os.devnull, "w") as null:
        for args, _ in ((["rank", two_logs[0]], "full"),
                        (["train", *FAST, "--epochs", "2", "--log", "t.csv"], "full")):
            with open("/dev/full", "w") as full:
                proc = subprocess.run(_cmd(*args), cwd=tmp_path, env=_env(), stdout=full, stderr=subprocess.PIPE,
                                      text=True, timeout=300)
            _one_line(proc, 1, "standard output could not be written (no space left on the device)")
        assert len(pd.read_csv(tmp_path / "t.csv")) == 2  # every epoch in the log
        closed = subprocess.run(_cmd("timeit", "--dataset", "digits", "--variants", "Dropout,Dense", "--epochs", "2",
                                     "--steps-per-epoch", "2", "--log", "tm.csv", "--quiet"), cwd=tmp_path,
                                env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, timeout=300,
                                preexec_fn=lambda: os.close(1))
        lines = closed.stderr.strip().splitlines()  # timeit's warnings (a busy machine) may come first
        assert closed.returncode == 1 and "Traceback" not in closed.stderr, closed.stderr
        assert "standard output could not be written (it is closed)" in lines[-1]
        assert len(pd.read_csv(tmp_path / "tm.csv")) == 2  # the measurement is in the timing log
        assert null


@pytest.mark.slow
def test_an_unknown_or_missing_backend_is_one_line(tmp_path):
    import importlib.util

    unknown = _run(tmp_path, "timeit", "--dataset", "digits", env={"KERAS_BACKEND": "numpyish"})
    line = _one_line(unknown, 2, "Keras cannot start the backend numpyish")
    assert "installed backends: tensorflow" in line
    missing = next((b for b in ("jax", "torch") if importlib.util.find_spec(b) is None), None)
    if missing is not None:
        absent = _run(tmp_path, "train", *FAST, env={"KERAS_BACKEND": missing})
        assert f"No module named '{missing}'" in _one_line(absent, 2, f"Keras cannot start the backend {missing}")


# --- bounds and smaller things ---------------------------------------------------------------


@pytest.mark.parametrize("args, needle", [
    (["timeit", "--dataset", "digits", "--steps-per-epoch", str(10**12)], "--steps-per-epoch must be at most"),
    (["train", "--epochs", str(10**9)], "--epochs must be at most"),
    (["train", "--units", str(2**40)], "--units must be at most"),
    (["train", "--mc-samples", str(10**8)], "--mc-samples must be at most"),
    (["timeit", "--max-minutes", "1e9"], "--max-minutes must be at most"),
    (["sweep", "big.toml"], "more than the 10,000,000 a sweep may plan"),
    (["sweep", "wide.toml"], "every value must be at most"),
    (["sweep", "c.toml", "--shard", "1/99999999"], "--shard must be K/N"),
])
def test_every_count_has_a_bound(tmp_path, monkeypatch, args, needle):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "c.toml").write_text(TINY.format(data="digits"))
    big = TINY.format(data="digits").replace('rates = [0.1]',
                                             f'rates = [{", ".join(str(i / 10**4) for i in range(9000))}]')
    (tmp_path / "big.toml").write_text(big.replace("units = [4]", f"units = [{', '.join(map(str, range(1, 2000)))}]"))
    (tmp_path / "wide.toml").write_text(TINY.format(data="digits").replace("units = [4]", "units = [4000000]"))
    before = _snapshot(tmp_path)
    _one_line(runner.invoke(app, args), 2, needle)
    assert _snapshot(tmp_path) == before


def test_a_large_plan_is_a_table_with_the_sweeps_run_ids(tmp_path):
    from pernode_cli.sweeps.config import load_config
    from pernode_cli.sweeps.plan import plan_table
    from pernode_cli.schema import make_run_id

    cfg = tmp_path / "g.toml"
    cfg.write_text(TINY.format(data="digits").replace('variants = ["Dropout", "Dense"]',
                                                      'variants = ["Dropout", "Dense", "PerNodeGaussian"]')
                   .replace("rates = [0.1]", "rates = [0.1, 0.2, 0.3]").replace("units = [4]", "units = [4, 8]")
                   .replace("[fixed]", "seeds = [0, 1, 2]\n[fixed]\nmc_samples = 2\npatience = 3"))
    from pernode_cli.sweeps.plan import planned_runs

    config = load_config(cfg)
    table = plan_table(config, (2, 5))
    assert table.run_id == [make_run_id(r.config.settings()) for r in planned_runs(config, table)]
    whole = [r for r in config.runs() if r.variant != "Dense" or r.rate == 0.1]  # Dense: one run for every rate
    assert sorted(table.run_id) == sorted(make_run_id(r.replace(rate=None).settings() if r.variant == "Dense" else
                                                      r.settings()) for i, r in enumerate(config.runs())
                                          if i % 5 == 1 and (r.variant != "Dense" or r.rate == 0.1))
    out = runner.invoke(app, ["sweep", str(cfg), "--dry-run", "--log", str(tmp_path / "g.csv")])
    assert out.exit_code == 0 and f"{len(whole)} runs in shard 1/1: 0 finished, {len(whole)} to run" in out.stdout


def test_help_shows_flags_as_flags_and_choices_as_choices():
    for command in ("rank", "report", "timeit", "train", "sweep"):
        text = runner.invoke(app, [command, "--help"], env={"COLUMNS": "200"}).stdout
        assert "<bool>" not in text, command
    rank = runner.invoke(app, ["rank", "--help"], env={"COLUMNS": "200"}).stdout
    assert "<auto|configs|paper>" in rank and "[default: auto]" in rank and "<wilcox|pratt|zsplit>" in rank
    assert "<synthetic|real>" in runner.invoke(app, ["timeit", "--help"], env={"COLUMNS": "200"}).stdout


def test_tables_never_cut_variant_names_at_80_columns(tmp_path):
    rows = log_rows(variants=("PerNodeBernoulli", "PerNodeBernoulli_Fixed", "PerNodePartialGaussian_Fixed", "Dropout"))
    log = write_log(tmp_path / "l.csv", rows)
    text = runner.invoke(app, ["rank", str(log)], env={"COLUMNS": "80"}).stdout
    assert "…" not in text and "..." not in text
    for name in ("PerNodeBernoulli_Fixed", "PerNodePartialGaussian_Fixed"):
        assert name in text


def test_a_config_with_a_byte_order_mark_is_read(tmp_path):
    cfg = tmp_path / "bom.toml"
    cfg.write_bytes(b"\xef\xbb\xbf" + TINY.format(data="digits").encode())
    result = runner.invoke(app, ["sweep", str(cfg), "--dry-run", "--log", str(tmp_path / "b.csv")])
    assert result.exit_code == 0 and "byte-order mark" in result.output and "2 runs in shard" in result.output


def test_the_demo_config_is_a_benchmark_a_reader_can_learn_from():
    from pernode_cli.sweeps.config import load_config

    demo = load_config(ROOT / "sample_configs" / "digits.toml")
    assert "Dense" in demo.grid["variants"] and demo.fixed["epochs"] >= 30
