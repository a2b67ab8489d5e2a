"""Trust, part three: joined logs of any schema, impossible cells, contradictory flags,
overflowing values and plugin contracts, each refused in one line, through real `pernode`
processes (the slow tier) and, for every command, in-process.

Every refusal is checked the same way: exit 2, one line on stderr naming what is wrong, no
traceback, no library warning text, and every file in the folder byte-identical."""

import copy
import csv
import hashlib
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from pernode_cli.cli import app
from pernode_cli.schema import KNOWN_HEADERS, SCHEMA_VERSION
from tests.logs_factory import log_rows, write_log

ROOT = Path(__file__).resolve().parents[1]
runner = CliRunner()
READERS = ("rank", "report", "plan", "export")  # every command that reads training logs
RAW_WARNINGS = ("Warning:", "Traceback", "warnings.warn")


def _args(command: str, log: str, folder: Path) -> list:
    """``command`` on ``log`` with what it needs to run (a report folder, a delta, a tracker)."""
    extra = {"report": ["--out", str(folder / "rep")], "plan": ["--delta", "0.1"],
             "export": ["--tensorboard", str(folder / "tb")]}
    return [command, log, *extra.get(command, [])]


def _snapshot(root: Path) -> dict:
    return {p.relative_to(root): hashlib.sha256(p.read_bytes()).hexdigest() for p in root.rglob("*") if p.is_file()}


def _process(folder: Path, *args, env=None, timeout=300):
    return subprocess.run([sys.executable, "-m", "pernode_cli", *map(str, args)], cwd=folder, capture_output=True,
                          text=True, timeout=timeout, env=dict(os.environ, PYTHONPATH=str(ROOT), **(env or {})))


def _refused(folder: Path, args, needle: str, real: bool) -> str:
    """Run ``args`` (a real process, or in-process); assert a one-line refusal naming ``needle``."""
    before = _snapshot(folder)
    if real:
        done = _process(folder, *args)
        code, err = done.returncode, done.stderr
    else:
        here = os.getcwd()
        os.chdir(folder)
        try:
            result = runner.invoke(app, [str(a) for a in args])
        finally:
            os.chdir(here)
        code, err = result.exit_code, result.output
    lines = [line for line in err.strip().splitlines() if line.strip()]
    assert code == 2 and len(lines) == 1, err
    assert needle in lines[0], lines[0]
    assert not any(w in err for w in RAW_WARNINGS), err
    assert _snapshot(folder) == before
    return lines[0]


@pytest.fixture(scope="module")
def good_rows():
    return log_rows(variants=("Dropout", "PerNodeBernoulli", "PerNodeGaussian"), rates=(0.2, 0.4, 0.6), epochs=3)


# --- two logs of different schemas joined --------------------------------------------------


def _joined(folder: Path, rows, version: int, header: tuple) -> Path:
    """A current log with a log of ``header`` (schema ``version``) appended to it, as `cat` joins."""
    first = write_log(folder / "new.csv", rows)
    old_rows = [dict(r, schema_version=version) for r in rows[:6]]
    second = write_log(folder / "old.csv", old_rows, header)
    joined = folder / "both.csv"
    joined.write_bytes(first.read_bytes() + second.read_bytes())
    first.unlink()
    second.unlink()
    return joined


SCHEMAS = list(enumerate(KNOWN_HEADERS))


@pytest.mark.parametrize("index, schema", SCHEMAS, ids=[f"schema{v}-{i}" for i, (v, _) in SCHEMAS])
def test_a_log_joined_with_a_log_of_any_schema_is_refused_by_every_reader(tmp_path, good_rows, index, schema):
    version, header = schema
    log = _joined(tmp_path, good_rows, version, header)
    line = 1 + len(good_rows) + 1
    for command in READERS:
        _refused(tmp_path, _args(command, log.name, tmp_path), f"at line {line}", real=False)


@pytest.mark.slow
def test_joined_logs_are_refused_by_real_processes(tmp_path, good_rows):
    """One real process per earlier schema, the reading commands taking turns."""
    for i, (version, header) in enumerate(KNOWN_HEADERS):
        folder = tmp_path / f"s{i}"
        folder.mkdir()
        log = _joined(folder, good_rows, version, header)
        what = "repeats its header" if tuple(header) == tuple(pd.read_csv(log, nrows=0).columns) else (
            f"holds the header of a schema-{version} log")
        _refused(folder, _args(READERS[i % len(READERS)], log.name, folder), what, real=True)


# --- impossible cells ------------------------------------------------------------------------

BAD_CELLS = [  # (column, cell, words of the refusal)
    ("epoch", "two", "column epoch holds 'two', not an integer >= 1"),
    ("epoch", "", "column epoch holds '', not an integer >= 1"),
    ("attempt", "1.5", "column attempt holds '1.5', not an integer >= 1"),
    ("rate", "-0.1", "column rate holds '-0.1', not a number in [0, 1)"),
    ("seed", str(2**32), "column seed holds '4294967296', not an integer in [0, 2^32)"),
    ("val_loss", "-1e308", "column val_loss holds '-1e308', not a number >= 0 (or nan)"),
    ("val_acc", "1.5", "column val_acc holds '1.5', not a number in [0, 1] (or nan)"),
    ("lr", "nan", "column lr holds 'nan', not a number >= 0"),
    ("status", "weird", "column status holds 'weird', not one of 'ok', 'nonfinite'"),
    ("run_end", "done", "column run_end holds 'done', not one of 'epochs', 'patience', 'nonfinite'"),
    ("schema_version", "99", "column schema_version holds '99', not 4, the version of its header (written by a "
                             "newer pernode? upgrade pernode)"),
    ("schema_version", "3", "column schema_version holds '3', not 4, the version of its header"),
]


def _bad_log(folder: Path, rows, column: str, cell: str) -> Path:
    rows = copy.deepcopy(rows)
    rows[7][column] = cell  # file line 9
    return write_log(folder / "bad.csv", rows)


@pytest.mark.parametrize("column, cell, words", BAD_CELLS, ids=[f"{c}={v or 'empty'}" for c, v, _ in BAD_CELLS])
def test_an_impossible_cell_is_refused_naming_its_line_by_every_reader(tmp_path, good_rows, column, cell, words):
    log = _bad_log(tmp_path, good_rows, column, cell)
    for command in READERS:
        _refused(tmp_path, _args(command, log.name, tmp_path), f"Log bad.csv, line 9: {words}", real=False)


@pytest.mark.slow
def test_impossible_cells_are_refused_by_real_processes(tmp_path, good_rows):
    for i, (column, cell, words) in enumerate(BAD_CELLS):
        folder = tmp_path / f"c{i}"
        folder.mkdir()
        log = _bad_log(folder, good_rows, column, cell)
        _refused(folder, _args(READERS[i % len(READERS)], log.name, folder), words, real=True)


def test_a_log_of_an_earlier_schema_with_its_own_version_is_read(tmp_path, good_rows):
    from tests.logs_factory import SCHEMA3_COLUMNS

    log = write_log(tmp_path / "old.csv", log_rows(schema=3, test=False), SCHEMA3_COLUMNS)
    assert runner.invoke(app, ["rank", str(log), "--format", "json"]).exit_code == 0
    assert SCHEMA_VERSION == 4


# --- contradictory flags, a reversed direction -----------------------------------------------


@pytest.mark.slow
def test_contradictory_direction_flags_are_refused_and_a_reversal_is_said(tmp_path, good_rows):
    log = write_log(tmp_path / "l.csv", good_rows)
    for command in ("rank", "report", "plan"):
        _refused(tmp_path, [*_args(command, log.name, tmp_path), "--maximize", "--minimize"],
                 "--maximize and --minimize contradict each other", real=True)
    done = _process(tmp_path, "rank", log.name, "--metric", "val_acc", "--minimize")
    assert done.returncode == 0, done.stderr
    assert ("Direction reversed: minimize was given, so lower val_acc ranks better, the reverse of its known "
            "direction (higher is better)." in " ".join(done.stdout.split()))
    done = _process(tmp_path, "rank", log.name, "--metric", "val_acc", "--maximize")  # agrees: nothing said
    assert done.returncode == 0 and "Direction reversed" not in done.stdout


# --- overflowing values ----------------------------------------------------------------------


def _table(folder: Path, scale: float) -> Path:
    rng = np.random.default_rng(0)
    rows = [{"dataset": f"d{d}", "method": m, "score": float(rng.normal() * scale)} for d in range(8) for m in "ABC"]
    path = folder / "t.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


@pytest.mark.slow
def test_values_beyond_what_doubles_hold_are_refused_without_library_warnings(tmp_path):
    table = _table(tmp_path, -1e307)
    _refused(tmp_path, ["rank", table.name, "--maximize", "--rope", "0.1"], "beyond +-1e+150", real=True)
    table = _table(tmp_path, 1e149)  # within the bound: ranked, and nothing overflows
    done = _process(tmp_path, "rank", table.name, "--maximize", "--format", "json")
    assert done.returncode == 0 and not any(w in done.stderr for w in RAW_WARNINGS), done.stderr


def test_a_numeric_library_warning_becomes_one_note_in_our_words(tmp_path, monkeypatch):
    import warnings

    from pernode_cli.cli import rank as rank_cli

    table = _table(tmp_path, 1.0)

    def overflowing(*args, **kwargs):
        with np.errstate(over="warn"):
            np.float64(1e308) * 10  # what an overflowing statistic would raise
        warnings.warn("something deprecated", DeprecationWarning, stacklevel=2)
        return real(*args, **kwargs)

    import pernode_cli.stats.ranking as ranking

    real = ranking.rank_logs
    monkeypatch.setattr(ranking, "rank_logs", overflowing)
    result = runner.invoke(app, ["rank", str(table), "--maximize"])
    assert result.exit_code == 0, result.output
    assert "RuntimeWarning" not in result.output and "DeprecationWarning" not in result.output
    assert "note: a computation met overflow (values too large or undefined)" in " ".join(result.output.split())
    del rank_cli


# --- plugins keep the promise of one line ----------------------------------------------------

PLUGINS = {
    "sig_variant.py": ('import pernode_cli\n@pernode_cli.register_variant("BadSig")\ndef f(x):\n    return []\n',
                       ["train", "--variant", "BadSig"], "Plugin sig_variant.py failed to import (ValueError: Invalid "
                       "value received for argument `fn`. Expected a callable fn(units, rate, seed)"),
    "sig_loader.py": ('import pernode_cli\npernode_cli.register_dataset("bl", lambda seed: None, input_shape=(4,), '
                      'n_outputs=2)\n', ["train", "--dataset", "bl"],
                      "Expected a callable load(data_dir, seed) -> arrays"),
    "sig_backbone.py": ('import pernode_cli\npernode_cli.register_backbone("bb", lambda: None)\n',
                        ["list", "backbones"], "Expected a callable features(inputs) -> tensor"),
    "sig_width.py": ('import pernode_cli\npernode_cli.register_backbone("bw", lambda x: x, feature_width=lambda: 3)\n',
                     ["list", "backbones"], "Expected a callable feature_width(input_shape) -> int"),
}


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(PLUGINS))
def test_a_plugin_registered_with_the_wrong_signature_is_one_line(tmp_path, name):
    code, args, words = PLUGINS[name]
    (tmp_path / name).write_text(code)
    _refused(tmp_path, [*args, "--plugin", name], words, real=True)


BUILDS = (
    "import keras\nimport numpy as np\nimport pernode_cli\n\n"
    "@pernode_cli.register_variant('NotAList')\ndef one(units, rate, seed):\n    return keras.layers.Dense(units)\n\n"
    "@pernode_cli.register_variant('Raises')\ndef two(units, rate, seed):\n"
    "    raise RuntimeError('no module today')\n\n"
    "def load(data_dir, seed):\n    rng = np.random.default_rng(seed)\n"
    "    x, y = rng.normal(size=(40, 6)).astype('float32'), rng.integers(0, 2, 40)\n"
    "    return x[:30], y[:30], x[30:], y[30:]\n\n"
    "pernode_cli.register_backbone('nothing', lambda inputs: 3)\n"
    "pernode_cli.register_dataset('six', load, input_shape=(6,), n_outputs=2, backbone='nothing')\n"
    "pernode_cli.register_dataset('fine', load, input_shape=(6,), n_outputs=2, backbone='mlp')\n"
    "pernode_cli.register_dataset('wrong', load, input_shape=(5,), n_outputs=2, backbone='mlp')\n"
)


@pytest.mark.slow
def test_a_plugin_whose_module_cannot_be_built_is_one_line_before_any_log_and_quiet(tmp_path):
    """`train`, `sweep` and `timeit` build a plugin's parts once at a tiny size before any log file
    exists; the plugin imports keras, and no backend start-up line reaches stderr."""
    (tmp_path / "builds.py").write_text(BUILDS)
    fast = ["--units", "4", "--batch-size", "8", "--epochs", "1"]
    line = _refused(tmp_path, ["train", "--plugin", "builds.py", "--dataset", "fine", "--variant", "NotAList", *fast,
                               "--log", "t.csv"], "its function must return a non-empty list of Keras layers; it "
                                                  "returned Dense", real=True)
    assert line.startswith("error: Variant NotAList (module ")
    (tmp_path / "s.toml").write_text('dataset = "fine"\nplugins = ["builds.py"]\n[grid]\nvariants = ["Dropout", '
                                     '"Raises"]\nrates = [0.3]\nunits = [4]\nbatch_sizes = [8]\n[fixed]\nepochs = 1\n')
    _refused(tmp_path, ["sweep", "s.toml"], "Variant Raises (module pernode_plugin_builds (builds.py, sha256:",
             real=True)
    # In-process from here (the backend is up): a plugin backbone in `timeit`, a loader's shapes in `train`.
    _refused(tmp_path, ["timeit", "--plugin", str(tmp_path / "builds.py"), "--dataset", "six", "--variants", "Dropout",
                        "--epochs", "2", "--steps-per-epoch", "1", "--log", "t.csv"],
             "Backbone nothing (module pernode_plugin_builds (builds.py, sha256:", real=False)
    _refused(tmp_path, ["train", "--plugin", str(tmp_path / "builds.py"), "--dataset", "wrong", "--variant", "Dropout",
                        *fast, "--log", "t.csv"], "The loader of data set wrong returned samples of shape (6,)",
             real=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["builds.py", "s.toml"]


def test_a_variant_registered_with_the_wrong_signature_raises_at_once():
    import pernode_cli

    with pytest.raises(ValueError, match=r"Expected a callable fn\(units, rate, seed\).*<lambda>\(x\) cannot be"):
        pernode_cli.register_variant("NeverThere", lambda x: [])
    assert "NeverThere" not in [row["name"] for row in __import__("pernode_cli.catalog").catalog.catalog("variants")]


# --- smaller items -----------------------------------------------------------------------------


@pytest.mark.slow
def test_a_log_with_a_byte_order_mark_is_read_by_every_reader(tmp_path, good_rows, monkeypatch):
    monkeypatch.chdir(tmp_path)
    log = write_log(tmp_path / "l.csv", good_rows)
    log.write_bytes(b"\xef\xbb\xbf" + log.read_bytes())
    done = _process(tmp_path, "rank", "l.csv", "--format", "json")
    assert done.returncode == 0, done.stderr
    for command in READERS[1:]:
        result = runner.invoke(app, _args(command, "l.csv", tmp_path))
        assert result.exit_code == 0, result.output


def test_duplicate_grid_values_are_merged_with_a_note(tmp_path):
    (tmp_path / "d.toml").write_text('dataset = "digits"\n[grid]\nvariants = ["Dropout", "dropout", "Dense"]\n'
                                     'rates = [0.5, 0.50, 0.2]\n[fixed]\nepochs = 1\n')
    result = runner.invoke(app, ["sweep", str(tmp_path / "d.toml"), "--dry-run", "--log", str(tmp_path / "d.csv")])
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "grid.variants: 'Dropout', 'dropout' name the same value; each runs once (2 of 3 listed)" in text
    assert "grid.rates: 0.5, 0.5 name the same value; each runs once (2 of 3 listed)" in text
    assert "3 runs in shard 1/1" in text  # Dropout at 2 rates, Dense once (it takes no rate)


@pytest.mark.parametrize("flag, value", [("--cpus-per-run", "0"), ("--gpus-per-run", "-1")])
def test_dry_run_checks_ray_resources(tmp_path, flag, value):
    (tmp_path / "d.toml").write_text('dataset = "digits"\n[grid]\nvariants = ["Dropout"]\nrates = [0.5]\n')
    _refused(tmp_path, ["sweep", str(tmp_path / "d.toml"), "--dry-run", flag, value], flag, real=False)


def test_help_shows_every_default_and_no_word_is_lost_to_markup():
    import re

    for command, options in (("train", ("--data-dir", "--max-train-samples", "--patience")),
                             ("sweep", ("--experiment",))):
        text = runner.invoke(app, [command, "--help"], env={"COLUMNS": "200"}).output
        for option in options:
            row = next(line for line in text.splitlines() if option in line)
            at = text.splitlines().index(row)
            block = " ".join(text.splitlines()[at:at + 3])
            assert "[default:" in block, (option, block)
        if command == "sweep":
            assert re.search(r"the config's fixed\.experiment, else pernode", text), text


def test_a_clean_end_leaves_no_lock_beside_the_log(tmp_path):
    from pernode_cli.logs import CsvLog, LogLock

    log = CsvLog(tmp_path / "l.csv")
    assert (tmp_path / "l.csv.lock").exists()
    log.close()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["l.csv"]
    with LogLock(tmp_path / "l.csv"):
        pass
    assert sorted(p.name for p in tmp_path.iterdir()) == ["l.csv"]


def test_cells_are_checked_vectorised_and_a_refusal_names_the_file_line_after_blank_lines(tmp_path, good_rows):
    log = write_log(tmp_path / "l.csv", good_rows)
    import io

    lines = log.read_text().splitlines(keepends=True)
    row = next(csv.reader([lines[5]]))
    row[next(csv.reader([lines[0]])).index("epoch")] = "x"
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerow(row)
    log.write_text("".join(lines[:3] + ["\n"] + lines[3:5] + [buf.getvalue()] + lines[6:]))
    _refused(tmp_path, ["rank", "l.csv"], "Log l.csv, line 7: column epoch holds 'x'", real=False)
