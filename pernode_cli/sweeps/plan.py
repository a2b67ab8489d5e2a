"""The runs of a sweep: its grid in a fixed order, cut into shards, each run with its id.

The shard is planned as a table (``PlanTable``: one array per column, one row per run), not
as an object per run: run ids are formatted from a template of the settings' JSON, so
planning 100,000 runs takes well under a second. ``PlannedRun`` objects (with a
``RunSpec``) are made only for the runs a sweep trains.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from typing import Optional

import numpy as np

from pernode_cli.errors import PernodeError
from pernode_cli.training.config import RunSpec

MAX_SHARDS = 1_000_000
# The grid's axes in the order of ``SweepConfig.runs`` (itertools.product, last fastest).
AXES = (("variants", "variant"), ("rates", "rate"), ("units", "units"), ("batch_sizes", "batch_size"),
        ("seeds", "seed"))


def parse_shard(text: Optional[str]) -> tuple[int, int]:
    """``"K/N"`` -> ``(K, N)``; ``None`` is the whole grid, ``(1, 1)``."""
    if text is None:
        return 1, 1
    match = re.fullmatch(r"\s*(\d{1,7})\s*/\s*(\d{1,7})\s*", text)
    if not match or not (1 <= int(match.group(1)) <= int(match.group(2)) <= MAX_SHARDS):
        raise PernodeError(f"`shard` must be K/N with 1 <= K <= N <= {MAX_SHARDS:,} (e.g. 2/8); got {text!r}.")
    return int(match.group(1)), int(match.group(2))


@dataclass
class PlannedRun:
    index: int  # position in the whole grid
    run_id: str
    config: RunSpec
    status: str = "pending"  # pending | done | nonfinite | failed

    @property
    def finished(self) -> bool:
        return self.status in ("done", "nonfinite")


@dataclass
class PlanTable:
    """One shard's runs: ``index`` (grid position), ``run_id``, the grid's settings and ``status``."""

    index: np.ndarray
    run_id: list
    columns: dict  # setting name -> list of values, one per run
    status: list

    def __len__(self) -> int:
        return len(self.run_id)

    @property
    def finished(self) -> int:
        return sum(s in ("done", "nonfinite") for s in self.status)


def _json(value) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def _id_template(config) -> tuple[str, list]:
    """A %-template of the settings' JSON (as ``make_run_id`` writes it) whose slots are the
    grid's axes, and the axes' names in slot order."""
    sample = config.runs(limit=1)[0].settings()
    varying = {setting for _, setting in AXES}
    parts, slots = [], []
    for key in sorted(sample):
        parts.append(f"{json.dumps(key)}: " + ("%s" if key in varying else _json(sample[key]).replace("%", "%%")))
        if key in varying:
            slots.append(key)
    return "{" + ", ".join(parts) + "}", slots


def plan_table(config, shard: tuple[int, int], in_log: Optional[dict] = None,
               failed: Optional[dict] = None) -> PlanTable:
    """The runs of this shard (grid position ``i`` with ``i % N == K - 1``) with their status
    from the log (``run_id -> RunInLog``: finished means a finished attempt there) and
    ``failed`` (run_id -> message: the runs whose last attempt raised)."""
    k, n = shard
    in_log, failed = in_log or {}, failed or {}
    axes = [config.grid[name] for name, _ in AXES]
    sizes = [len(a) for a in axes]
    index = np.arange(k - 1, int(np.prod(sizes)), n)
    coords = np.unravel_index(index, sizes) if len(index) else [np.zeros(0, int)] * len(AXES)
    template, slots = _id_template(config)
    # One JSON fragment per distinct value of each axis, then one string per run.
    columns, fragments = {}, {}
    for (_, setting), values, at in zip(AXES, axes, coords):
        columns[setting] = [values[i] for i in at]
        fragments[setting] = [_json(values[i]) for i in at]
    index, columns, fragments = _one_run_for_every_rate(config, index, columns, fragments, in_log, template, slots)
    texts = (template % row for row in zip(*(fragments[s] for s in slots)))
    ids = [f"{variant}-{hashlib.sha1(t.encode()).hexdigest()[:10]}" for variant, t in zip(columns["variant"], texts)]
    status = []
    for run_id in ids:
        end = in_log[run_id].end if run_id in in_log else ""
        status.append(("nonfinite" if end == "nonfinite" else "done") if end else
                      ("failed" if run_id in failed else "pending"))
    return PlanTable(index=index, run_id=ids, columns=columns, status=status)


def _one_run_for_every_rate(config, index, columns, fragments, in_log, template, slots):
    """A variant that takes no rate (``Dense``) is one run per remaining settings, not one per rate:
    its grid positions at the first rate keep it, with no rate (``rate`` None, an empty cell), and
    its positions at the other rates go. A log that already holds such a variant's runs made one
    per rate (an earlier pernode) keeps that layout for it, so an older sweep resumes unchanged."""
    from pernode_cli.variants import get_variant

    free = [v for v in config.grid["variants"] if not get_variant(v).uses_rate]
    if not free or not len(index):
        return index, columns, fragments
    variant = np.asarray(columns["variant"], dtype=object)
    first_rate = _json(config.grid["rates"][0])
    keep = np.ones(len(index), dtype=bool)
    texts = None
    for name in free:
        mine = variant == name
        if not mine.any():
            continue
        if in_log:  # an earlier layout in this log: one run per rate
            if texts is None:
                texts = [template % row for row in zip(*(fragments[s] for s in slots))]
            earlier = {f"{name}-{hashlib.sha1(texts[i].encode()).hexdigest()[:10]}" for i in np.flatnonzero(mine)}
            if earlier & set(in_log):
                continue
        rate_fragments = np.asarray(fragments["rate"], dtype=object)
        keep &= ~mine | (rate_fragments == first_rate)
        for i in np.flatnonzero(mine & keep):
            columns["rate"][i], fragments["rate"][i] = None, "null"
    if keep.all():
        return index, columns, fragments
    at = np.flatnonzero(keep)
    return (index[at], {k: [v[i] for i in at] for k, v in columns.items()},
            {k: [v[i] for i in at] for k, v in fragments.items()})


def planned_runs(config, table: PlanTable) -> list[PlannedRun]:
    """``PlannedRun`` objects (with their ``RunSpec``) for the rows of ``table``."""
    cols = table.columns
    return [PlannedRun(int(i), run_id, config.run(cols["variant"][j], cols["rate"][j], cols["units"][j],
                                                 cols["batch_size"][j], cols["seed"][j]), status)
            for j, (i, run_id, status) in enumerate(zip(table.index, table.run_id, table.status))]


def plan(
    config, shard: tuple[int, int], in_log: Optional[dict] = None, failed: Optional[dict] = None
) -> list[PlannedRun]:
    """The runs of this shard as ``PlannedRun`` objects (see ``plan_table``)."""
    return planned_runs(config, plan_table(config, shard, in_log, failed))
