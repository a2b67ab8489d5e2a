"""The runs of a sweep: its grid in a fixed order, cut into shards, each run with its id."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Optional

from pernode_cli.errors import PernodeError
from pernode_cli.training.config import TrainConfig, make_run_id


def parse_shard(text: Optional[str]) -> tuple[int, int]:
    """``"K/N"`` -> ``(K, N)``; ``None`` is the whole grid, ``(1, 1)``."""
    if text is None:
        return 1, 1
    match = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text)
    if not match or not (1 <= int(match.group(1)) <= int(match.group(2))):
        raise PernodeError(f"`shard` must be K/N with 1 <= K <= N (e.g. 2/8); got {text!r}.")
    return int(match.group(1)), int(match.group(2))


@dataclass
class PlannedRun:
    index: int  # position in the whole grid
    run_id: str
    config: TrainConfig
    status: str = "pending"  # pending | done | nonfinite | failed

    @property
    def finished(self) -> bool:
        return self.status in ("done", "nonfinite")


def plan(config, shard: tuple[int, int], in_log: Optional[dict] = None, failed: Optional[dict] = None) -> list[PlannedRun]:
    """The runs of this shard (grid position ``i`` with ``i % N == K - 1``), with their
    status from the log (``run_id -> RunInLog``): finished means a finished attempt there;
    ``failed`` (run_id -> message) marks the runs whose last attempt raised."""
    k, n = shard
    in_log, failed = in_log or {}, failed or {}
    runs = []
    for index, rc in enumerate(config.runs()):
        if index % n != k - 1:
            continue
        run = PlannedRun(index, make_run_id(rc.settings()), rc)
        end = in_log[run.run_id].end if run.run_id in in_log else ""
        run.status = ("nonfinite" if end == "nonfinite" else "done") if end else (
            "failed" if run.run_id in failed else "pending")
        runs.append(run)
    return runs
