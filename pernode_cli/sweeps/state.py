"""A sweep's state file (``<log>.sweep.json``): the config fingerprint, the shard, and the
runs that finished or failed. Replaced atomically after a run's last row is on disk."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from pernode_cli.errors import PernodeError
from pernode_cli.logs import atomic_write, read_header, sweep_state_path
from pernode_cli.schema import older_layout
from pernode_cli.schema import TRAIN_COLUMNS


@dataclass
class SweepState:
    path: Path
    fingerprint: str
    shard: str
    finished: dict = field(default_factory=dict)  # run_id -> "ok" | "nonfinite"
    failed: dict = field(default_factory=dict)  # run_id -> message
    data_fingerprint: str = ""  # the data the sweep trains on ("" in states written before it was recorded)
    # sweeps.loop.sweep_sources: where variants, data set, backbone came from
    sources: dict = field(default_factory=dict)

    def save(self) -> None:
        payload = {"fingerprint": self.fingerprint, "shard": self.shard, "finished": self.finished,
                   "failed": self.failed, "data_fingerprint": self.data_fingerprint, "sources": self.sources}
        atomic_write(self.path, json.dumps(payload, indent=1, sort_keys=True) + "\n")

    def mark_finished(self, run_id: str, ok: bool) -> None:
        self.finished[run_id] = "ok" if ok else "nonfinite"
        self.failed.pop(run_id, None)
        self.save()

    def mark_failed(self, run_id: str, message: str) -> None:
        self.failed[run_id] = message
        self.save()


def state_path(log: Path) -> Path:
    return sweep_state_path(log)


def _load(path: Path, log: Path, fingerprint: str, shard_text: str) -> SweepState:
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise PernodeError(f"Cannot read sweep state {path} ({exc}); give a new `log`.") from None
    if data.get("fingerprint") != fingerprint:
        raise PernodeError(
            f"{log} holds a sweep of a different config (fingerprint {data.get('fingerprint')}, "
            f"now {fingerprint}): the grid or fixed settings changed. Restore the config "
            "to resume, or give a new `log` to start another sweep."
        )
    if data.get("shard") != shard_text:
        raise PernodeError(f"{log} holds shard {data.get('shard')} of this sweep, not {shard_text}; "
                           "give every shard its own `log`.")
    return SweepState(path, fingerprint, shard_text, dict(data.get("finished", {})), dict(data.get("failed", {})),
                      str(data.get("data_fingerprint") or ""), dict(data.get("sources") or {}))


def open_state(log: Path, config, shard: tuple[int, int]) -> SweepState:
    """Load the state beside ``log`` (a cache of the log), refusing one written for another
    config or shard. Reads only."""
    path, shard_text = state_path(log), f"{shard[0]}/{shard[1]}"
    if path.exists():
        return _load(path, log, config.fingerprint(), shard_text)
    return SweepState(path, config.fingerprint(), shard_text)


def check_same_data(config, state: SweepState, in_log: dict, now: str) -> None:
    """Refuse to resume a sweep over data that changed: the state's and the log's rows'
    data fingerprints must be the data's fingerprint ``now``."""
    from pernode_cli.data.fingerprint import data_change

    seen = set(filter(None, [state.data_fingerprint])) | {fp for run in in_log.values() for fp in run.data}
    other = sorted(seen - {now})
    if other:
        raise PernodeError(
            f"{config.path}: the data of this sweep changed since it started ({', '.join(other)} then); "
            f"{data_change(config.dataset, config.data_dir, now)}, so the remaining runs would train on other data "
            f"into the same log. Restore the data to resume, or give a new `log` for a sweep on the new data."
        )


def check_same_sources(config, state: SweepState, in_log: dict, now: dict, expected: dict) -> None:
    """Refuse to resume a sweep whose variants', data set's or backbone's code changed: the
    state's sources, and the log rows' (``expected``: run id -> its ``sources`` now)."""
    from pernode_cli.sources import changed_sources

    changed = changed_sources(state.sources, now)
    if not changed:
        for run_id, src in expected.items():
            seen = in_log[run_id].sources if run_id in in_log else set()
            other = sorted(seen - {src})
            if other:
                changed = [(f"run {run_id}", other[0], src)]
                break
    if changed:
        what, then, now_ = changed[0]
        raise PernodeError(
            f"{config.path}: the code of {what} changed since this sweep started ({then} then, {now_} now), so the "
            "remaining runs would not be comparable with the finished ones. Restore that code to resume, or give a "
            "new `log` for a sweep with the new code."
        )


def check_log_belongs(log: Path, run_ids: set[str], in_log: dict) -> None:
    """A log of other rows (from `train`, another sweep) is not this sweep's to append to."""
    if not log.exists() or log.stat().st_size == 0:
        return
    foreign = sorted(set(in_log) - run_ids)
    header = read_header(log)
    if (header != TRAIN_COLUMNS and older_layout(header) is None) or foreign:
        raise PernodeError(
            f"{log} holds rows of other runs ({', '.join(r[:40] for r in foreign[:3]) or 'another header'}) "
            "than this sweep's shard; give a new `log` (the existing file is left as it is)."
        )
