"""Time to target (AlgoPerf's measure of a training method): pure functions, no I/O.

A target is a metric and a threshold, ``val_acc>=0.95`` or ``val_loss<=0.3``. Per run (the
rows of one run id and finished attempt, by epoch, read as every ranking reads them:
``pernode_cli.stats.rows.clean_rows``): the first epoch whose value meets the target, and
the training seconds to get there, the logged ``epoch_seconds`` summed up to and including
that epoch (the training pass only: evaluation is not training time). A run that never
meets it is *censored*: ``reached=False`` with the seconds it trained in all, never left
out. A run that diverged (status not ok) is censored at its last finite epoch, its
diverged epoch's seconds included.

For ranking variants by time to target, each run's ``block_value`` is its seconds when it
reached the target and ``+inf`` when censored: censored runs rank after every run that
reached it, and tie with each other (an average rank). The mean of a configuration's seeds
is then ``+inf`` as soon as one seed is censored, so it ranks last as a whole. Pairwise
tests take differences, and inf - inf is NaN: ``censored_as_worst`` gives the matrix to
test on.

The figure's data, ``ReachCurve``: per variant, the share of its runs that had reached the
target after t training seconds, a right-continuous step function from 0 that rises by
1/n at each run's time to target (n: all the variant's runs, censored ones included, so a
curve ends below 1 when some never reached it). It is the share observed in these runs,
not an estimate of what longer training would reach.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Optional

import numpy as np

from pernode_cli.errors import PernodeError
from pernode_cli.stats.rows import LeftOut, Record, clean_rows

from pernode_cli.schema import BLOCK_COLUMNS, SETTINGS  # noqa: E402

# A run's settings as the schema declares them (``schema.BLOCK_COLUMNS``: what tells blocks apart).
SETTING_COLUMNS = BLOCK_COLUMNS
INTEGER_SETTINGS = tuple(f.name for f in SETTINGS if f.type in ("int", "Optional[int]", int))
OPERATORS = (">=", "<=")
_TARGET = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(>=|<=)\s*([^\s]+)\s*$")


@dataclass(frozen=True, kw_only=True)
class Target(Record):
    """``metric op value``: met by a value ``>= value`` or ``<= value``."""

    metric: str
    op: str
    value: float

    @property
    def text(self) -> str:
        return f"{self.metric}{self.op}{self.value:g}"

    def met(self, values) -> np.ndarray:
        v = np.asarray(values, dtype="float64")
        with np.errstate(invalid="ignore"):
            return (v >= self.value) if self.op == ">=" else (v <= self.value)


def parse_target(text) -> Target:
    """``"val_acc>=0.95"`` -> Target; anything else is one line naming `target`."""
    match = _TARGET.match(str(text)) if isinstance(text, str) else None
    value = None
    if match:
        try:
            value = float(match.group(3))
        except ValueError:
            value = None
    if value is None or not math.isfinite(value):
        raise PernodeError(
            f"Invalid value received for `target`. Expected a log column, >= or <=, and a finite number, "
            f"e.g. val_acc>=0.95 or val_loss<=0.3. Received: target={text!r}"
        )
    return Target(metric=match.group(1), op=match.group(2), value=value)


@dataclass(frozen=True, kw_only=True)
class RunToTarget(Record):
    """One run's time to the target; ``epoch``/``value`` are None for a censored run."""

    dataset: str
    variant: str
    run_id: str
    attempt: int
    settings: tuple  # (column, value) of SETTING_COLUMNS the log has
    reached: bool
    epoch: Optional[int]  # the first epoch that meets the target
    seconds: float  # training seconds up to and including ``epoch``; censored: all the run trained
    value: Optional[float]  # the metric at ``epoch``
    epochs: int  # epochs the run trained (its diverged one included)
    total_seconds: float  # training seconds of all of them

    @property
    def block_value(self) -> float:
        """For ranking: seconds to the target, +inf when censored (ranks last, ties with censored)."""
        return self.seconds if self.reached else math.inf


@dataclass(frozen=True, kw_only=True)
class ReachCurve(Record):
    """Share of a variant's runs that reached the target by each training time."""

    dataset: str
    variant: str
    n_runs: int
    n_reached: int
    times: tuple  # sorted seconds to the target of the runs that reached it
    shares: tuple  # share reached just after each of ``times`` (k / n_runs)
    censored_at: tuple  # sorted total seconds of the censored runs

    def share_at(self, seconds) -> np.ndarray:
        """The step function at ``seconds`` (right-continuous: a run reached at t counts at t)."""
        return np.searchsorted(np.asarray(self.times), np.asarray(seconds, dtype="float64"), side="right") / self.n_runs


@dataclass(frozen=True, kw_only=True)
class TargetTimes(Record):
    target: Target
    runs: tuple  # RunToTarget, by data set, variant, then run id and attempt
    curves: tuple  # ReachCurve, by data set then variant
    left_out: tuple  # LeftOut per data set (rows not read, as in a ranking)

    def frame(self):
        """The runs as a pandas frame, one column per setting."""
        import pandas as pd

        records = []
        for r in self.runs:
            row = r.to_dict()
            row.pop("settings")
            records.append({**{k: v for k, v in r.settings}, **row})
        return pd.DataFrame.from_records(records)


def _seconds(rows, where: str) -> np.ndarray:
    import pandas as pd

    if "epoch_seconds" not in rows.columns:
        raise PernodeError("The log(s) lack column epoch_seconds: time to `target` sums it.")
    s = pd.to_numeric(rows["epoch_seconds"], errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
    bad = ~np.isfinite(s) | (s < 0)
    if bad.any():
        epoch = rows["epoch"].to_numpy()[int(np.argmax(bad))]
        raise PernodeError(f"{where}: epoch {int(epoch)} has no finite epoch_seconds; time to `target` needs every "
                           "epoch's training seconds.")
    return s


def _settings(row, columns) -> tuple:
    from pernode_cli.schema import plain

    out = []
    for c in columns:
        v = plain(row[c])
        if c in INTEGER_SETTINGS and isinstance(v, float) and v.is_integer():
            v = int(v)  # a column with empty cells is read as floats
        out.append((c, v))
    return tuple(out)


def _diverged(frame, dataset, variants):
    """Rows of finished attempts that clean_rows left out as diverged (status not ok)."""
    from pernode_cli.stats.rows import variant_list

    if "status" not in frame.columns or "run_end" not in frame.columns:
        return frame.iloc[:0]
    text = {c: frame[c].fillna("").astype(str).str.strip() for c in ("dataset", "variant", "status", "run_end")}
    mask = (text["status"] != "ok") & (text["status"] != "") & (text["variant"] != "") & (text["dataset"] != "")
    if dataset is not None:
        mask &= text["dataset"] == str(dataset)
    names = variant_list(variants)
    if names is not None:
        mask &= text["variant"].isin(names)
    out = frame[mask.to_numpy()].assign(dataset=text["dataset"][mask], variant=text["variant"][mask])
    ended = out["run_end"].fillna("").astype(str).str.strip() != ""
    return out[ended.to_numpy()].drop(columns=[c for c in ("source",) if c in out.columns]).drop_duplicates()


def time_to_target(frame, target, dataset: Optional[str] = None, variants=None) -> TargetTimes:
    """Every run's time to ``target`` (a Target or its text) and each variant's reach curve."""
    t = target if isinstance(target, Target) else parse_target(target)
    clean = clean_rows(frame, metric=t.metric, dataset=dataset, variants=variants)
    rows = clean.frame
    for c in ("run_id", "epoch"):
        if c not in rows.columns:
            raise PernodeError(f"The log(s) lack column {c}: time to `target` needs each run's epochs.")
    diverged = _diverged(frame, dataset, variants)
    if "attempt" not in rows.columns:
        rows = rows.assign(attempt=1)
    rows = rows.assign(attempt=rows["attempt"].fillna(1).astype(int))
    diverged = (diverged.assign(attempt=diverged["attempt"].fillna(1).astype(int)) if "attempt" in diverged
                else diverged.assign(attempt=1))
    keys = ["dataset", "run_id", "attempt"]
    settings = [c for c in SETTING_COLUMNS if c in rows.columns]
    runs = []
    for (ds, run_id, attempt), run in rows.sort_values("epoch", kind="stable").groupby(keys, sort=True):
        where = f"run {run_id} attempt {attempt}"
        seconds = np.cumsum(_seconds(run, where))
        met = t.met(run[t.metric])
        lost = diverged[(diverged["dataset"] == ds) & (diverged["run_id"] == run_id) & (diverged["attempt"] == attempt)]
        total = float(seconds[-1]) + float(_seconds(lost, where).sum()) if len(lost) else float(seconds[-1])
        first = int(np.argmax(met)) if met.any() else None
        runs.append(RunToTarget(
            dataset=str(ds), variant=str(run["variant"].iloc[0]), run_id=str(run_id), attempt=int(attempt),
            settings=_settings(run.iloc[0], settings), reached=first is not None,
            epoch=int(run["epoch"].iloc[first]) if first is not None else None,
            seconds=float(seconds[first]) if first is not None else total,
            value=float(run[t.metric].iloc[first]) if first is not None else None,
            epochs=len(run) + len(lost), total_seconds=total,
        ))
    seen = {(r.dataset, r.run_id, r.attempt) for r in runs}
    for (ds, run_id, attempt), lost in diverged.groupby(keys, sort=True):
        if (ds, run_id, attempt) in seen:
            continue  # diverged after finite epochs: counted above
        total = float(_seconds(lost, f"run {run_id} attempt {attempt}").sum())  # diverged at its first epoch
        runs.append(RunToTarget(
            dataset=str(ds), variant=str(lost["variant"].iloc[0]), run_id=str(run_id), attempt=int(attempt),
            settings=_settings(lost.iloc[0], [c for c in settings if c in lost.columns]), reached=False,
            epoch=None, seconds=total, value=None, epochs=len(lost), total_seconds=total,
        ))
    if not runs:
        raise PernodeError(f"No finished run to measure time to `target` {t.text} on.")
    runs.sort(key=lambda r: (r.dataset, r.variant, r.run_id, r.attempt))
    return TargetTimes(target=t, runs=tuple(runs), curves=reach_curves(runs), left_out=clean.left_out)


def reach_curves(runs) -> tuple:
    """The step function of each (data set, variant): share of runs reached by each time."""
    groups: dict = {}
    for r in runs:
        groups.setdefault((r.dataset, r.variant), []).append(r)
    out = []
    for (ds, variant), mine in sorted(groups.items()):
        times = sorted(r.seconds for r in mine if r.reached)
        n = len(mine)
        out.append(ReachCurve(
            dataset=ds, variant=variant, n_runs=n, n_reached=len(times), times=tuple(times),
            shares=tuple((i + 1) / n for i in range(len(times))),
            censored_at=tuple(sorted(r.seconds for r in mine if not r.reached)),
        ))
    return tuple(out)


def block_values(times: TargetTimes) -> dict:
    """``{(dataset, run_id, attempt): block value}``: seconds, +inf for a censored run."""
    return {(r.dataset, r.run_id, r.attempt): r.block_value for r in times.runs}


def censored_as_worst(matrix) -> np.ndarray:
    """A block matrix of times (lower is better) with +inf replaced by one finite value above
    every time in it, by more than their range: within-block ranks are unchanged (Friedman,
    Kendall's W, mean ranks), two censored runs differ by 0 (a tie, where inf - inf is NaN),
    and a censored run's difference to a reached one exceeds any difference between reached
    ones (signed-rank tests rank it largest)."""
    m = np.asarray(matrix, dtype="float64").copy()
    finite = m[np.isfinite(m)]
    worst = float(finite.max() + (finite.max() - finite.min()) + 1.0) if finite.size else 1.0
    m[np.isposinf(m)] = worst
    return m


__all__ = ["LeftOut", "ReachCurve", "RunToTarget", "Target", "TargetTimes", "block_values", "censored_as_worst",
           "parse_target", "reach_curves", "time_to_target"]
