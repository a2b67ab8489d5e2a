"""Trackers by scheme: ``--track SCHEME:DESTINATION`` and its aliases, the tracker registry and its
entry-point group (a tracker installed as a separate distribution, driven by real processes),
W&B in offline mode read back from its own run files, and run names and settings a person can
read in TensorBoard and MLflow. The CSV log stays the truth: every number a tracker holds must
equal the log's, and no export may duplicate an epoch.
"""

import json
import os
import shutil
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import pytest

import pernode_cli
from pernode_cli.errors import PernodeError
from pernode_cli.export import TRACKERS, destinations, open_exporters
from pernode_cli.export.columns import NOTE_COLUMNS, PARAM_COLUMNS, row_epoch
from pernode_cli.export.engine import Sink
from pernode_cli.export.names import RunNames
from pernode_cli.logs import CsvLog
from tests.helpers import installed_copy
from tests.test_export import build_rows, finite_metrics, invoke, log_attempts

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "pernode-example-tracker"
# (variant, seed, attempt, epochs, finished): a finished run, an interrupted attempt and its
# finished retry, and an attempt still training (as tests.test_export.RUNS).
NAMES = {"Dropout": "Dropout r0.1 s0", "PerNodeBernoulli": "PerNodeBernoulli r0.1 s0",
         "GaussianDropout": "GaussianDropout r0.1 s1"}


def write_log(path: Path, rows=None) -> Path:
    """A log as `train_run` writes it, with the per-seed text columns filled in as a real run has them."""
    log = CsvLog(path)
    for row in rows if rows is not None else build_rows():
        row.update(split=f"train 64 / val 32 (stratified, seed {row['seed']})", data_fingerprint="digits@embedded-1",
                   sources="pernode 0.2.0")
        log.append(row)
    log.close()
    return path


def readable(run_id: str, attempt: int) -> str:
    name = NAMES[run_id.split("-")[0]]
    return name + (f" attempt {attempt}" if attempt > 1 else "")


@pytest.fixture
def clean_trackers():
    saved, loaded = TRACKERS.snapshot(), TRACKERS._group_loaded
    yield
    TRACKERS.restore(saved)
    TRACKERS._group_loaded = loaded


class Failing(Sink):
    """A tracker that refuses every run (a 4xx answer, say)."""

    name = "failing"

    def open_run(self, run_id, attempt, params, tags, first_row, name):
        raise ValueError("refused")


# -- --track and its aliases


def test_track_items_split_at_the_first_colon_and_the_aliases_are_the_same_trackers(tmp_path):
    track = ["mlflow:http://127.0.0.1:5000", f"mlflow:sqlite:///{tmp_path}/m.db", "tensorboard:runs/", "wandb:proj"]
    assert destinations(track, tensorboard="tb", mlflow="m.db") == [
        ("tensorboard", "tb", "`tensorboard`"), ("mlflow", "m.db", "`mlflow`"),
        ("mlflow", "http://127.0.0.1:5000", "`track` mlflow:http://127.0.0.1:5000"),
        ("mlflow", f"sqlite:///{tmp_path}/m.db", f"`track` mlflow:sqlite:///{tmp_path}/m.db"),
        ("tensorboard", "runs/", "`track` tensorboard:runs/"), ("wandb", "proj", "`track` wandb:proj")]
    assert destinations("wandb:a/b") == [("wandb", "a/b", "`track` wandb:a/b")]  # one text is one item
    tb, db = tmp_path / "tb", f"sqlite:///{tmp_path}/m.db"
    by_alias = open_exporters(tensorboard=str(tb), mlflow=db)
    by_track = open_exporters(track=[f"TensorBoard:{tb}", f"mlflow:{db}"])  # schemes in any case
    both = open_exporters(track=[f"tensorboard:{tb}", "wandb:proj"], tensorboard=str(tb), mlflow=db)
    assert by_alias.names == by_track.names == [f"TensorBoard {tb}", f"MLflow {db}"]
    assert both.names == [f"TensorBoard {tb}", f"MLflow {db}", "W&B proj"]  # the same folder twice: one tracker
    for ex in (by_alias, by_track, both):
        assert ex.close() == []
    assert not tb.exists() and not (tmp_path / "m.db").exists()  # checked, nothing written


@pytest.mark.parametrize("kwargs, words", [
    ({"track": 5}, "argument `track`. Expected a list of 'SCHEME:DESTINATION' texts. Received: track=5"),
    ({"track": ["runs"]}, "argument `track`. Expected SCHEME:DESTINATION"),
    ({"track": [":runs"]}, "Received: track=':runs'"),
    ({"track": ["1x:runs"]}, "scheme is a letter"),
    ({"track": [None]}, "Received: track=None"),
    ({"track": ["nope:x"]}, "Unknown tracker 'nope'; registered trackers: tensorboard, mlflow, wandb"),
    ({"experiment": 3, "track": ["wandb:p"]}, "argument `experiment`. Expected a str"),
    ({"tensorboard": 3}, "argument `tensorboard`. Expected None or a str"),
    ({"track": ["wandb:"]}, "wandb: names no W&B project"),
    ({"track": ["wandb:a/b/c"]}, "give wandb:PROJECT or wandb:ENTITY/PROJECT"),
    ({"track": ["wandb:my project"]}, "is not a W&B name"),
])
def test_bad_public_arguments_are_one_line(kwargs, words):
    with pytest.raises(PernodeError) as err:
        open_exporters(**kwargs)
    assert words in str(err.value) and "\n" not in str(err.value)


def test_without_wandb_the_item_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "wandb", None)
    with pytest.raises(PernodeError,
                       match=r'Exporting with `track` wandb:p needs wandb: pip install "pernode\[wandb\]"'):
        open_exporters(track=["wandb:p"])


def test_bad_track_on_the_command_line_is_one_line_exit_2_and_no_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    log = write_log(tmp_path / "log.csv")
    before = log.read_bytes()
    (tmp_path / "c.toml").write_text('dataset = "digits"\n[grid]\nvariants = ["Dropout"]\nrates = [0.1]\n')
    for args, words in [
        (["export", log, "--track", "nope:x"],
         "Unknown tracker 'nope'; registered trackers: tensorboard, mlflow, wandb"),
        (["export", log, "--track", "runs"], "Invalid value received for argument --track"),
        (["export", log, "--tensorboard", tmp_path / "tb", "--track", "wandb:a/b/c"], "wandb:a/b/c names no"),
        (["train", "--log", tmp_path / "t.csv", "--track", "nope:x"], "Unknown tracker 'nope'"),
        (["sweep", tmp_path / "c.toml", "--track", "mlflow:ftp://x"], "unknown scheme ftp:"),
        (["sweep", tmp_path / "c.toml", "--track", "nope:x"], "Unknown tracker 'nope'"),
    ]:
        result, output = invoke(*args)
        assert result.exit_code == 2, output
        assert words in " ".join(output.split()) and len(output.strip().splitlines()) == 1, output
        assert "Traceback" not in output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.toml", "log.csv"] and log.read_bytes() == before


def test_the_resend_hint_is_the_complete_command_with_every_destination(tmp_path, capsys, clean_trackers):
    from pernode_cli.cli.app import export_command, problem_printer, unsent_printer
    from pernode_cli.training.session import close_trackers, open_trackers

    pernode_cli.register_tracker("failing", lambda destination, experiment: Failing())
    log = write_log(tmp_path / "log.csv", build_rows()[:1])
    tb, track = str(tmp_path / "tb"), ["failing:x", f"mlflow:sqlite:///{tmp_path}/m.db"]
    want = f"pernode export {log} --tensorboard {tb} --track failing:x --track mlflow:sqlite:///{tmp_path}/m.db " \
           "--experiment exp"
    assert export_command(log, tb, None, "exp", track) == want
    assert export_command(log, None, "http://h:1", "pernode", ["wandb:p"]) == \
        f"pernode export {log} --mlflow http://h:1 --track wandb:p"
    command = export_command(log, tb, None, "exp", track[:1])
    exporters = open_trackers(track[:1], tb, None, "exp", 10, problem_printer(command))
    (_, rows), = log_attempts(log).values()
    exporters.epoch(rows[0]["run_id"], 1, rows[0])
    exporters.run_end(rows[0]["run_id"], 1)
    assert close_trackers(exporters, 10, unsent_printer(log, command))
    err = " ".join(capsys.readouterr().err.split())
    assert "failing: run Dropout-" in err and "refused: ValueError: refused" in err
    assert (f"to send the rest later, run: pernode export {log} --tensorboard {tb} "
            "--track failing:x --experiment exp") in err


def test_a_sweep_configs_track_is_kept_out_of_its_fingerprint(tmp_path):
    from pernode_cli.sweeps.config import load_config

    base = 'dataset = "digits"\n[grid]\nvariants = ["Dropout"]\nrates = [0.1]\n[fixed]\nepochs = 2\n'
    (tmp_path / "a.toml").write_text(base)
    (tmp_path / "b.toml").write_text(base + 'track = ["wandb:proj", "tensorboard:runs", "wandb:proj"]\n')
    a, b = load_config(tmp_path / "a.toml"), load_config(tmp_path / "b.toml")
    assert b.fixed["track"] == ["wandb:proj", "tensorboard:runs"] and a.fixed["track"] == []
    assert a.fingerprint() == b.fingerprint() and a.runs() == b.runs()
    for bad in ('track = "wandb:proj"', 'track = ["runs"]', "track = [3]"):
        (tmp_path / "c.toml").write_text(base + bad + "\n")
        with pytest.raises(PernodeError, match=r"line 7: fixed.track: expected a list of SCHEME:DESTINATION"):
            load_config(tmp_path / "c.toml")


def test_registering_a_tracker_validates_every_argument(clean_trackers):
    def open_(destination, experiment):
        return Failing()

    for kwargs, argument in [({"scheme": "a:b"}, "scheme"), ({"scheme": "1x"}, "scheme"), ({"scheme": 3}, "scheme"),
                             ({"open": 3}, "open"), ({"open": lambda: None}, "open"),
                             ({"description": 3}, "description"), ({"extra": "a b"}, "extra"),
                             ({"replace": 1}, "replace")]:
        args = {"scheme": "mine", "open": open_, **kwargs}
        with pytest.raises(ValueError, match=rf"Invalid value received for argument `{argument}`"):
            pernode_cli.register_tracker(args.pop("scheme"), args.pop("open"), **args)
    with pytest.raises(ValueError, match=r"A tracker named 'mlflow' is already registered.*Received: name='MLflow'"):
        pernode_cli.register_tracker("MLflow", open_)
    pernode_cli.register_tracker("mine", open_, description="mine", extra="mine")
    assert TRACKERS.lookup("MINE").description == "mine" and "test_trackers" in TRACKERS.lookup("mine").source
    pernode_cli.register_tracker("mlflow", open_, replace=True)
    assert isinstance(open_exporters(track=["mlflow:anything"])._workers[0].sink, Failing)


def test_a_tracker_that_fails_to_open_is_one_line(clean_trackers):
    def broken(destination, experiment):
        raise KeyError("oops")

    def wrong(destination, experiment):
        return object()

    def missing(destination, experiment):
        from pernode_cli.export.trackers import require

        require("no_such_tracker_package")

    pernode_cli.register_tracker("broken", broken)
    pernode_cli.register_tracker("wrong", wrong)
    pernode_cli.register_tracker("missing", missing, extra="missing")
    for item, words in [("broken:x", "cannot open 'x': KeyError: 'oops'"),
                        ("wrong:x", "returned object, not an engine.Sink"),
                        ("missing:x", 'Exporting with `track` missing:x needs no_such_tracker_package: pip install '
                                      '"pernode[missing]".')]:
        with pytest.raises(PernodeError) as err:
            open_exporters(track=[item])
        assert words in str(err.value), str(err.value)


def test_list_trackers_lists_the_built_in_ones():
    result, output = invoke("list", "trackers")
    assert result.exit_code == 0, output
    for name in ("tensorboard", "mlflow", "wandb", "WANDB_MODE=offline"):
        assert name in output


# -- readable names


def test_run_names_say_what_differs_and_ties_take_the_run_ids_hash():
    names = RunNames()
    runs = {"Dropout-0123456789": dict(variant="Dropout", rate=0.3, seed=0, units=4, lr=0.001),
            "Dropout-abcdefabcd": dict(variant="Dropout", rate=0.3, seed=0, units=8, lr=0.001),
            "Dense-1111111111": dict(variant="Dense", rate=None, seed=2, units=4, lr=0.001),
            "Dropout-2222222222": dict(variant="Dropout", rate=0.3, seed=0, units=8, lr=0.001, sampler="x")}
    for run_id, settings in runs.items():
        names.see(run_id, {"run_id": run_id, "epoch": 1,
                           **{k: "" if v is None else str(v) for k, v in settings.items()}})
    assert names.name("Dropout-0123456789", 1, {}) == "Dropout r0.3 u4 s0"
    assert names.name("Dropout-abcdefabcd", 1, {}) == "Dropout r0.3 u8 s0 #abcdef"  # a tie: the hash tells them apart
    assert names.name("Dropout-2222222222", 1, {}) == "Dropout r0.3 u8 s0 #222222"
    assert names.name("Dense-1111111111", 2, {}) == "Dense u4 s2 attempt 2"  # no rate: none named
    alone = RunNames()
    assert alone.name("R", 1, {"variant": "Dropout", "rate": "0.3", "seed": "0", "units": "4"}) == "Dropout r0.3 s0"




def test_tensorboard_and_mlflow_show_readable_names_and_integer_settings(tmp_path, tensorboard_reader):
    from mlflow import MlflowClient
    from tensorboard.plugins.hparams import plugin_data_pb2

    log = write_log(tmp_path / "log.csv")
    db = f"sqlite:///{tmp_path}/m.db"
    result, output = invoke("export", log, "--track", f"tensorboard:{tmp_path / 'tb'}", "--track", f"mlflow:{db}")
    assert result.exit_code == 0, output
    client = MlflowClient(db)
    experiment = client.get_experiment_by_name("pernode")
    assert experiment.tags["mlflow.experimentKind"] == "custom_model_development"  # not MLflow 3's GenAI view
    runs = {(r.data.tags["pernode.run_id"], int(r.data.tags["pernode.attempt"])): r
            for r in client.search_runs([experiment.experiment_id])}
    attempts = log_attempts(log)
    assert set(runs) == set(attempts)
    for (run_id, attempt), (_, rows) in attempts.items():
        run, name = runs[run_id, attempt], readable(run_id, attempt)
        assert run.info.run_name == name
        assert {k: run.data.params[k] for k in ("seed", "units", "batch_size", "epochs", "mc_samples")} == {
            "seed": rows[0]["seed"], "units": "4", "batch_size": "32", "epochs": "3", "mc_samples": "0"}
        assert run.data.params == {c: rows[0][c] for c in PARAM_COLUMNS if rows[0][c] != ""}
        assert not set(NOTE_COLUMNS + ("sources",)) & set(run.data.params)  # per-seed text: tags
        assert run.data.tags["split"] == rows[0]["split"] and run.data.tags["sources"] == "pernode 0.2.0"
        acc = tensorboard_reader(tmp_path / "tb" / run_id / f"attempt-{attempt}")
        content = acc.PluginTagToContent("hparams")["_hparams_/session_start_info"]
        info = plugin_data_pb2.HParamsPluginData.FromString(content).session_start_info
        assert info.group_name == name  # the HParams dashboard's trial
        assert not set(NOTE_COLUMNS + ("sources",)) & set(info.hparams)
        for key in ("seed", "units", "batch_size", "epochs"):
            value = info.hparams[key].number_value
            assert value == int(rows[0][key]) and float(value).is_integer(), key


# -- W&B, offline, read back from its own run files

WANDB_SCRIPT = '''
import json, sys
from typer.testing import CliRunner
from pernode_cli.cli import app
from pernode_cli.export import open_exporters
from pernode_cli.export.replay import read_attempts

log = sys.argv[1]
first = read_attempts([log]).attempts[0]
live = open_exporters(track=["wandb:proj"])  # a live copy cut short: two epochs, no end
for row in first.rows[:2]:
    live.epoch(first.run_id, first.attempt, row)
print(json.dumps({"live": live.close(timeout_s=60)}))
for _ in range(2):
    result = CliRunner().invoke(app, ["export", log, "--track", "wandb:proj"])
    print(json.dumps({"code": result.exit_code, "output": result.output}))
'''


def wandb_records(path: Path):
    """The records of an offline run's ``.wandb`` file: wandb's own scanner where this wandb has one
    (``wandb.sdk.internal.datastore``, before 0.30), else its LevelDB-log framing read here, each
    record parsed by wandb's own protobuf (``wandb.proto.wandb_internal_pb2.Record``)."""
    from wandb.proto import wandb_internal_pb2

    try:
        from wandb.sdk.internal import datastore
    except ImportError:
        datastore = None
    if datastore is not None:
        store = datastore.DataStore()
        store.open_for_scan(str(path))
        while (data := store.scan_data()) is not None:
            yield wandb_internal_pb2.Record.FromString(data)
        return
    data, index, pieces = path.read_bytes(), 7, []
    assert data[:4] == b":W&B"
    while index + 7 <= len(data):
        if 32768 - index % 32768 < 7:
            index += 32768 - index % 32768
            continue
        crc, length, kind = struct.unpack("<IHB", data[index:index + 7])
        chunk = data[index + 7:index + 7 + length]
        index += 7 + length
        if kind == 0:
            continue
        assert zlib.crc32(chunk, zlib.crc32(bytes([kind]))) & 0xFFFFFFFF == crc
        pieces.append(chunk)
        if kind in (1, 4):  # a whole record, or the last piece of one
            yield wandb_internal_pb2.Record.FromString(b"".join(pieces))
            pieces = []


def offline_run(folder: Path) -> dict:
    out = {"history": {}, "summary": {}, "config": {}, "name": None, "exit": None}
    (path,) = folder.glob("run-*.wandb")
    for record in wandb_records(path):
        kind = record.WhichOneof("record_type")
        if kind == "run":
            out["name"] = record.run.display_name
            out["config"] = {u.key: u.value_json for u in record.run.config.update if u.key != "_wandb"}
            out["notes"] = record.run.notes
        elif kind == "history":
            items = {i.nested_key[0] if i.nested_key else i.key: json.loads(i.value_json) for i in record.history.item}
            out["history"][record.history.step.num] = {k: v for k, v in items.items() if not k.startswith("_")}
        elif kind == "summary":
            out["summary"].update({u.key: json.loads(u.value_json) for u in record.summary.update if u.key})
        elif kind == "exit":
            out["exit"] = record.exit.exit_code
    return out


def test_wandb_offline_writes_one_run_per_attempt_equal_to_the_csv_and_never_twice(tmp_path):
    pytest.importorskip("wandb")
    from pernode_cli.export.wandb_sink import wandb_run_id

    log = write_log(tmp_path / "log.csv")
    env = dict(os.environ, WANDB_MODE="offline", WANDB_DIR=str(tmp_path), WANDB_CONFIG_DIR=str(tmp_path / "cfg"),
               WANDB_CACHE_DIR=str(tmp_path / "cache"), WANDB_DATA_DIR=str(tmp_path / "data"),
               PYTHONPATH=f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}")
    env.pop("WANDB_API_KEY", None)
    done = subprocess.run([sys.executable, "-c", WANDB_SCRIPT, str(log)], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0 and done.stderr == "", done.stderr  # nothing of wandb on pernode's output
    live, first, again = [json.loads(line) for line in done.stdout.splitlines()]  # nothing but pernode's lines
    assert live == {"live": []} and first["code"] == 0 and again["code"] == 0, (first, again)
    assert "W&B proj: 3 run(s) created, 1 already there; 7 epoch(s) written, 2 already there" in first["output"]
    assert "W&B proj: 0 run(s) created, 4 already there; 0 epoch(s) written, 9 already there" in again["output"]
    attempts = log_attempts(log)
    folders = sorted((tmp_path / "wandb").glob("offline-run-*"))
    assert len(folders) == len(attempts) + 1  # one per attempt and export that brought something: the cut one twice
    for (run_id, attempt), (_, rows) in attempts.items():
        wid = wandb_run_id(run_id, attempt)
        runs = [offline_run(f) for f in folders if (f / f"run-{wid}.wandb").exists()]
        assert len(runs) == (2 if (run_id, attempt) == next(iter(attempts)) else 1)
        steps = [s for r in runs for s in r["history"]]
        assert steps == [row_epoch(r) for r in rows]  # every epoch once, in order, across the run's folders
        history = {s: v for r in runs for s, v in r["history"].items()}
        for row in rows:
            assert history[int(row["epoch"])] == finite_metrics(row)  # the CSV's numbers, each column
        config = runs[0]["config"]
        assert set(config) == {c for c in PARAM_COLUMNS if rows[0][c] != ""}  # no per-seed text among the config
        assert (config["seed"], config["units"], config["batch_size"], config["epochs"]) == (
            rows[0]["seed"], "4", "32", "3")  # integers as integers, not 0.0
        assert runs[0]["name"] == readable(run_id, attempt) and "split: train 64" in runs[0]["notes"]
        finished = bool(rows[-1]["run_end"])
        assert runs[-1]["summary"]["outcome"] == (rows[-1]["run_end"] or "unfinished")
        assert runs[-1]["summary"]["finished"] is finished and runs[-1]["exit"] == (0 if finished else 1)


# -- a tracker installed as a separate distribution

DISTRIBUTION_SCRIPT = '''
import json, sys
from typer.testing import CliRunner
from pernode_cli.cli import app

runner, out = CliRunner(), {}
out["imported_before"] = "pernode_example_tracker.tracker" in sys.modules
small = ["--max-train-samples", "64", "--units", "4", "--batch-size", "32", "--quiet"]
for key, args in [
    ("train", ["train", "--variant", "Dropout", "--rate", "0.3", "--epochs", "2", "--log", "t.csv",
               "--track", "record:t.jsonl", *small]),
    ("sweep", ["sweep", "c.toml", "--track", "record:s.jsonl", "--quiet"]),
    ("sweep_config", ["sweep", "d.toml", "--quiet"]),
    ("export", ["export", "t.csv", "c.csv", "--track", "record:e.jsonl"]),
    ("again", ["export", "t.csv", "c.csv", "--track", "record:e.jsonl"]),
    ("list", ["list", "trackers"]),
]:
    result = runner.invoke(app, args)
    out[key] = [result.exit_code, result.output]
print(json.dumps(out))
'''
SWEEP = ('dataset = "digits"\n[grid]\nvariants = ["Dropout"]\nrates = [{rates}]\nunits = [4]\nbatch_sizes = [32]\n'
         '[fixed]\nepochs = 1\nmax_train_samples = 64\n')


def _install_example(tmp_path: Path) -> Path:
    """The example tracker installed by pip into its own target folder (a separate distribution
    with its entry point); where pip cannot build it here, the files an install leaves."""
    source, site = tmp_path / "src", tmp_path / "site"
    shutil.copytree(EXAMPLE, source, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
    for isolation in (["--no-build-isolation", "--no-index"], []):
        done = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", *isolation, "--target",
                               str(site), str(source)], capture_output=True, text=True, timeout=300)
        if done.returncode == 0:
            return site
    return installed_copy(source / "pernode_example_tracker", site, "pernode-example-tracker", "0.1.0",
                          "pernode.trackers", "record = pernode_example_tracker.tracker")


def _events(path: Path) -> list:
    return [json.loads(line) for line in path.read_text().splitlines()]


def _assert_recorded(events: list, log: Path, names: dict) -> None:
    attempts = log_attempts(log)
    opened = {(e["run_id"], e["attempt"]): e for e in events if e["event"] == "open"}
    assert {k: v["name"] for k, v in opened.items() if k in attempts} == {k: names[k[0]] for k in attempts}
    for key, (_, rows) in attempts.items():
        assert opened[key]["params"]["seed"] == 0 and opened[key]["params"]["units"] == 4  # ints, as ints
        got = [(e["epoch"], e["metrics"]) for e in events
               if e["event"] == "epoch" and (e["run_id"], e["attempt"]) == key]
        assert got == [(int(r["epoch"]), finite_metrics(r)) for r in rows]  # every epoch once, the CSV's numbers
        (end,) = [e for e in events if e["event"] == "end" and (e["run_id"], e["attempt"]) == key]
        assert end["run_end"] == rows[-1]["run_end"] == "epochs"


@pytest.mark.slow
def test_a_tracker_installed_as_a_separate_distribution_works_with_every_command(tmp_path):
    site = _install_example(tmp_path)
    (tmp_path / "c.toml").write_text(SWEEP.format(rates="0.1, 0.3"))
    (tmp_path / "d.toml").write_text(SWEEP.format(rates="0.5") + 'track = ["record:cfg.jsonl"]\n')
    env = dict(os.environ, PYTHONPATH=f"{site}{os.pathsep}{ROOT}", COLUMNS="300")  # the table on one line a row
    done = subprocess.run([sys.executable, "-c", DISTRIBUTION_SCRIPT], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout.splitlines()[-1])
    assert out["imported_before"] is False  # found by its scheme, when first asked for
    for key in ("train", "sweep", "sweep_config", "export", "again", "list"):
        assert out[key][0] == 0, (key, out[key][1])
    listed = " ".join(out["list"][1].split())
    assert "record" in listed and "pernode-example-tracker 0.1.0 (module pernode_example_tracker.tracker" in listed
    (run_id, _), = log_attempts(tmp_path / "t.csv")
    _assert_recorded(_events(tmp_path / "t.jsonl"), tmp_path / "t.csv", {run_id: "Dropout r0.3 s0"})
    by_rate = {rows[0]["rate"]: key[0] for key, (_, rows) in log_attempts(tmp_path / "c.csv").items()}
    _assert_recorded(_events(tmp_path / "s.jsonl"), tmp_path / "c.csv",
                     {by_rate["0.1"]: "Dropout r0.1 s0", by_rate["0.3"]: "Dropout r0.3 s0"})
    (cfg_id, _), = log_attempts(tmp_path / "d.csv")
    _assert_recorded(_events(tmp_path / "cfg.jsonl"), tmp_path / "d.csv", {cfg_id: "Dropout r0.5 s0"})
    exported = _events(tmp_path / "e.jsonl")  # the epochs differ among the logs exported together: named
    _assert_recorded(exported, tmp_path / "t.csv", {run_id: "Dropout r0.3 e2 s0"})
    _assert_recorded(exported, tmp_path / "c.csv", {by_rate["0.1"]: "Dropout r0.1 e1 s0",
                                                    by_rate["0.3"]: "Dropout r0.3 e1 s0"})
    assert "0 epoch(s) written, 4 already there" in " ".join(out["again"][1].split())  # an export again adds nothing
