"""Weights & Biases: one W&B run per run id and attempt, through ``wandb.init``.

The tracker ``wandb:PROJECT`` or ``wandb:ENTITY/PROJECT`` (``pip install "pernode[wandb]"``).
Each attempt is one W&B run whose id is made from the run id and the attempt
(``Dropout-3f2a1b9c0d-a1``), opened with ``resume="allow"``: an attempt exported again, live or
after the fact, continues its run, and only the epochs it lacks are logged. The run is named
readably (``Dropout r0.3 s0``, ``names.RunNames``); its config holds the settings (a
whole-number setting as an int); every numeric column of every epoch is logged at step = epoch
with the row's own time; its notes hold the environment, the log's path, the split and the
data's fingerprint (text, not settings to compare); at the attempt's end its summary holds the
outcome (``outcome``: epochs, patience, nonfinite or unfinished; ``finished``;
``epochs_logged``) and the run is finished (exit code 0 for a finished attempt, 1 for a diverged
or unfinished one: W&B shows it failed).

Offline (``WANDB_MODE=offline``) each export of an attempt that brings something new writes one
offline run folder (``wandb/offline-run-*-ID``, synced later by ``wandb sync``, which appends the
folders of one run id in the order they were written). Nothing reaches the network then, so what
W&B holds is read from those local folders: epochs already in one are not logged again, and an
export that brings nothing new writes no folder. What offline mode cannot know: what was synced
from another machine or folder, or logged there online; W&B itself drops a step below a run's
last one, so an epoch missing inside an earlier export cannot be filled in afterwards (the report
says so). Online, W&B says where a resumed run stands (its next step) and the same rules hold.

wandb prints nothing to pernode's output (``WANDB_SILENT``, console capture off) and runs on the
engine's sender thread like every tracker; git, code and system metrics are not collected.
"""

from __future__ import annotations

import hashlib
import os
import re
import struct
import zlib
from dataclasses import dataclass, field
from pathlib import Path

from pernode_cli.errors import PernodeError
from pernode_cli.export.columns import OUTCOME_COLUMNS, row_epoch, split_row
from pernode_cli.export.engine import Sink, one_line
from pernode_cli.export.tensorboard_sink import wall_time
from pernode_cli.export.trackers import register_tracker, require

ENV_DEFAULTS = {"WANDB_SILENT": "true", "WANDB_CONSOLE": "off", "WANDB_DISABLE_GIT": "true",
                "WANDB_DISABLE_CODE": "true"}
FORBIDDEN = re.compile(r"[/\\#?%:\s]")  # characters W&B refuses in entity and project names
MAX_NAME = 128
MAX_ID = 64
FINISHED = ("epochs", "patience")  # run_end values of an attempt that ran to its end
BLOCK, HEADER = 32768, 7  # the .wandb transaction log: LevelDB-style blocks and record headers
_CRC = {kind: zlib.crc32(bytes([kind])) & 0xFFFFFFFF for kind in (1, 2, 3, 4)}


def check_project(destination: str) -> tuple:
    """``(entity or None, project)`` of ``PROJECT`` or ``ENTITY/PROJECT``."""
    text = str(destination).strip()
    parts = text.split("/")
    if not text or len(parts) > 2 or not all(parts):
        raise PernodeError(f"wandb:{text} names no W&B project; give wandb:PROJECT or wandb:ENTITY/PROJECT.")
    for part in parts:
        if FORBIDDEN.search(part) or len(part) > MAX_NAME:
            raise PernodeError(f"wandb:{text}: {part!r} is not a W&B name (at most {MAX_NAME} characters, none of "
                               "\\ # ? % : or spaces).")
    return (parts[0], parts[1]) if len(parts) == 2 else (None, parts[0])


def wandb_run_id(run_id: str, attempt: int) -> str:
    """The W&B run id of ``run_id``'s ``attempt``: readable, and the same whenever it is asked."""
    text = str(run_id)
    slug = re.sub(r"[^A-Za-z0-9_-]", "-", text)
    if slug != text or len(slug) > MAX_ID - 12:  # changed or cut: the hash keeps two run ids apart
        slug = f"{slug[:MAX_ID - 21]}-{hashlib.sha1(text.encode()).hexdigest()[:8]}"
    return f"{slug}-a{int(attempt)}"


def read_records(path):
    """The records of a ``.wandb`` file (``wandb.proto.wandb_internal_pb2.Record``), in order, up
    to a torn or damaged end: the file is W&B's append-only transaction log."""
    from wandb.proto import wandb_internal_pb2

    data = Path(path).read_bytes()
    if data[:4] != b":W&B":
        return
    index, parts = HEADER, []
    while index + HEADER <= len(data):
        if BLOCK - index % BLOCK < HEADER:  # the block's padding
            index += BLOCK - index % BLOCK
            continue
        checksum, length, kind = struct.unpack("<IHB", data[index:index + HEADER])
        chunk = data[index + HEADER:index + HEADER + length]
        index += HEADER + length
        if kind == 0 and length == 0:
            continue
        if kind not in _CRC or len(chunk) < length or zlib.crc32(chunk, _CRC[kind]) & 0xFFFFFFFF != checksum:
            return
        parts = [chunk] if kind in (1, 2) else parts + [chunk]
        if kind in (1, 4):
            yield wandb_internal_pb2.Record.FromString(b"".join(parts))
            parts = []


def offline_history(wandb_dir, wid: str) -> tuple[set, dict]:
    """``(steps, summary)`` the offline run folders of W&B run ``wid`` hold: the history's steps
    and the last value of each top-level summary key (JSON decoded)."""
    import json

    steps, summary = set(), {}
    for path in sorted(Path(wandb_dir).glob(f"offline-run-*/run-{wid}.wandb")):
        for record in read_records(path):
            kind = record.WhichOneof("record_type")
            if kind == "history" and record.history.HasField("step"):
                steps.add(int(record.history.step.num))
            elif kind == "summary":
                for item in record.summary.update:
                    key = item.key or (item.nested_key[0] if len(item.nested_key) == 1 else "")
                    if key and not key.startswith("_"):
                        summary[key] = json.loads(item.value_json)
    return steps, summary


@dataclass(eq=False)
class WandbRun:
    wid: str
    name: str
    config: dict
    notes: str
    present: set = field(default_factory=set)  # epochs W&B holds
    floor: int = 0  # W&B takes no step below this one (its run's next step)
    summary: dict = field(default_factory=dict)  # the outcome W&B holds
    skipped: set = field(default_factory=set)  # epochs below ``floor`` that W&B lacks: it cannot take them
    run: object = None  # the open wandb run, while one is


class WandbSink(Sink):
    end_words = "its end (outcome in the summary)"

    def __init__(self, project: str, entity=None):
        self.project, self.entity = project, entity
        self.name = f"W&B {entity + '/' if entity else ''}{project}"
        self.wandb = self.settings = self.reinit = None
        self.offline, self.dir, self.open_runs = False, None, []

    def start(self) -> None:
        for key, value in ENV_DEFAULTS.items():
            os.environ.setdefault(key, value)
        import wandb

        mode, self.dir, base_url = _resolved(wandb)
        self.offline = mode in ("offline", "dryrun")
        if mode not in ("offline", "dryrun", "disabled"):
            _check_credentials(base_url)
        wanted = {"console": "off", "silent": True, "x_disable_stats": True, "x_disable_meta": True,
                  "x_save_requirements": False, "disable_git": True, "save_code": False, "x_disable_machine_info": True}
        known = getattr(wandb.Settings, "model_fields", None) or wanted  # an older wandb: the settings it has
        self.settings = wandb.Settings(**{k: v for k, v in wanted.items() if k in known})
        version = tuple(int(x) for x in re.findall(r"\d+", wandb.__version__)[:3])
        self.reinit = "create_new" if version >= (0, 19, 10) else True  # before: one run at a time
        self.wandb = wandb

    def open_run(self, run_id, attempt, params, tags, first_row, name):
        notes = "\n".join(f"{k}: {v}" for k, v in {"pernode run_id": run_id, "attempt": attempt, **tags}.items()
                          if k not in OUTCOME_COLUMNS)
        run = WandbRun(wandb_run_id(run_id, attempt), name, dict(params), notes)
        if self.offline:
            run.present, run.summary = offline_history(self.dir, run.wid)
            run.floor = max(run.present, default=-1) + 1
            return run, bool(run.present or run.summary)
        self._init(run)  # online: W&B says where a resumed run stands
        run.floor = int(run.run.starting_step or 0) if run.run.resumed else 0
        run.present = set(range(run.floor))
        return run, bool(run.run.resumed)

    def _init(self, run: WandbRun) -> None:
        if run.run is not None:
            return
        run.run = self.wandb.init(project=self.project, entity=self.entity, id=run.wid, name=run.name,
                                  config=run.config, notes=run.notes, resume="allow", reinit=self.reinit,
                                  settings=self.settings)
        self.open_runs.append(run)

    def send(self, run: WandbRun, rows: list) -> tuple[int, int]:
        new, present = [], 0
        for row in rows:
            step = row_epoch(row)
            if step in run.present:
                present += 1
            elif step < run.floor:
                run.skipped.add(step)
            else:
                new.append((step, row))
        if new:
            self._init(run)
        for step, row in new:
            _, metrics, _ = split_row(row)
            run.run.log({**metrics, "_timestamp": wall_time(row)}, step=step, commit=True)
            run.present.add(step)
            run.floor = step + 1
        return len(new), present

    def end(self, run: WandbRun, rows: list, tags: dict) -> None:
        last = rows[-1]
        end = str(last.get("run_end") or "").strip()
        outcome = {"outcome": end or "unfinished", "finished": bool(end), "epochs_logged": len(rows)}
        if run.run is None and all(run.summary.get(k) == v for k, v in outcome.items()):
            return  # W&B holds this end already (an export again)
        self._init(run)
        run.run.summary.update(outcome)
        self._finish(run, 0 if end in FINISHED else 1)
        run.summary.update(outcome)

    def _finish(self, run: WandbRun, exit_code: int) -> None:
        handle, run.run = run.run, None
        if run in self.open_runs:
            self.open_runs.remove(run)
        if handle is not None:
            handle.finish(exit_code=exit_code)

    def close(self) -> None:
        for run in list(self.open_runs):  # runs whose end never came (an interrupted sweep)
            self._finish(run, 1)

    def unsent(self, run) -> list:
        if not isinstance(run, WandbRun) or not run.skipped:
            return []
        return [f"{len(run.skipped)} epoch(s) W&B lacks lie below its run's last step {run.floor - 1} (W&B takes "
                "no step below it)"]

    def permanent(self, exc: BaseException) -> bool:
        try:
            from wandb.errors import AuthenticationError, CommError, UsageError
        except ImportError:
            return True
        if isinstance(exc, (AuthenticationError, UsageError)):
            return True
        if isinstance(exc, CommError):
            return False
        return not isinstance(exc, (OSError, TimeoutError))

    def describe(self, exc: BaseException) -> str:
        return one_line(exc)


def _resolved(wandb) -> tuple:
    """``(mode, wandb folder, server URL)`` as wandb resolves them (environment, settings files)."""
    try:
        from wandb.sdk import wandb_setup

        settings = wandb_setup.singleton().settings
        return settings.mode, settings.wandb_dir, settings.base_url
    except Exception:  # another wandb: its environment variables
        root = os.environ.get("WANDB_DIR") or os.getcwd()
        return (os.environ.get("WANDB_MODE", "online"), str(Path(root) / "wandb"),
                os.environ.get("WANDB_BASE_URL", "https://api.wandb.ai"))


def _check_credentials(base_url: str) -> None:
    """Online W&B needs credentials; none configured is said now, not asked for on a terminal."""
    try:
        from wandb.sdk.lib.wbauth import authenticate
    except ImportError:  # another wandb: its own init says what is missing
        return
    if authenticate.authenticate_session(host=base_url, source="pernode", prompt=False,
                                         update_session=False) is None:
        from wandb.errors import UsageError

        raise UsageError("no W&B credentials: run `wandb login` or set WANDB_API_KEY (or WANDB_MODE=offline to "
                         "write local runs for `wandb sync`)")


def open_wandb(destination: str, experiment: str) -> WandbSink:
    """``wandb:[ENTITY/]PROJECT``: the names checked now, nothing sent yet (``experiment``:
    MLflow's; W&B's project plays its part)."""
    entity, project = check_project(destination)
    require("wandb")
    return WandbSink(project, entity)


register_tracker("wandb", open_wandb, extra="wandb",
                 description="Weights & Biases: one run per run id and attempt in PROJECT, metrics at step = epoch, "
                             "the settings as config, the outcome in the summary; WANDB_MODE=offline writes local "
                             "runs (wandb:PROJECT or wandb:ENTITY/PROJECT)")
