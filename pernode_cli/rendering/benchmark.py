"""What `pernode report` shows, gathered from the logs: every data set ranked under both
designs (or why a design could not run), the ranking across data sets, the epoch-time
tables of timing logs, and what produced the numbers. Content only: ``pages`` lays it out.

The rankings are the records `pernode rank` prints (``stats.ranking.rank_logs`` with the
same options), so the report's numbers are `rank`'s numbers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from pernode_cli.errors import PernodeError
from pernode_cli.paths import existing_file
from pernode_cli.stats.ranking import Ranking, ranked
from pernode_cli.stats.ranking.run import prepare
from pernode_cli.stats.rows import cell_text

TIMING_NEEDS = ("dataset", "variant", "mean_s", "std_s", "n", "ratio_to_dropout", "ratio_ci_low", "ratio_ci_high")
TIMING_NUMBERS = ("mean_s", "std_s", "n", "ratio_to_dropout", "ratio_ci_low", "ratio_ci_high")


@dataclass(frozen=True, kw_only=True)
class DatasetSection:
    """One data set under both designs: ``configs`` and ``paper`` records (each says why it
    could not rank, where it could not), and the cleaned rows behind them."""

    dataset: str
    configs: Ranking
    paper: Ranking
    rows: Any = field(default=None, repr=False, compare=False)


@dataclass(frozen=True, kw_only=True)
class TimingGroup:
    """One `timeit` run's table (paper Table IV): rows of variant, mean_s, std_s, n, ratios, warnings."""

    dataset: str
    device: str
    backend: str
    source: str
    rows: tuple


@dataclass(frozen=True, kw_only=True)
class Benchmark:
    provenance: tuple  # (label, value) pairs
    options: dict  # the resolved ranking options (metric, direction, selection, ...)
    sections: tuple  # DatasetSection, by data set name
    across: Optional[Ranking] = None  # data sets as blocks (None with fewer than 2 data sets)
    timings: tuple = ()  # TimingGroup
    versions: dict = field(default_factory=dict)
    plan: Any = None  # stats.planning.PlanResult, with a `delta`
    targets: Any = None  # the configs ranking's RankResult when a `target` was given (time to target)


def collect_benchmark(frame, timings=None, **options) -> Benchmark:
    """Rank every data set of ``frame`` under both designs, and across data sets when there
    are several; ``options`` as ``RankOptions`` (``design``, ``dataset`` and ``across``
    excepted). Bad options and rows that no ranking may read (conflicting copies, a metric
    that is not a number) are refused; a design that cannot rank a data set says why."""
    for name in ("design", "dataset", "across"):
        if name in options:
            raise PernodeError(f"`{name}` is chosen by the report itself (it shows every design).")
    delta = options.pop("delta", None)
    prepared = prepare(frame, design="configs", **options)  # the rows read once, for every design
    configs = ranked(prepared)
    paper = ranked(prepared, design="paper", control=None, target=None)
    by_name = {d.dataset: d for d in paper.datasets}
    rows = configs.rows
    sections = tuple(DatasetSection(dataset=d.dataset, configs=d, paper=by_name[d.dataset],
                                    rows=rows[rows["dataset"] == d.dataset]) for d in configs.datasets)
    across = None
    if len(sections) >= 2:
        across = ranked(prepared, across="datasets", target=None).across
    plan = None
    if delta is not None:
        from pernode_cli.stats.planning import plan_logs

        keep = {k: v for k, v in options.items() if k in ("metric", "maximize", "select", "select_on", "variants",
                                                          "alpha")}
        plan = plan_logs(frame, delta, control=options.get("control"), **keep)
    return Benchmark(provenance=provenance(frame, sections), options=configs.options, sections=sections,
                     across=across, timings=timing_groups(timings) if timings is not None else (),
                     versions=configs.versions, plan=plan, targets=configs if configs.targets else None)


def _distinct(frame, *columns) -> str:
    present = [c for c in columns if c in frame.columns]
    if not present:
        return "not logged"
    values = frame[present].astype(object).where(frame[present].notna(), "").astype(str)
    joined = values.agg(" ".join, axis=1).str.strip()
    found = sorted(set(joined) - {""})
    return ", ".join(found) if found else "not logged"


def provenance(frame, sections) -> tuple:
    """What produced the numbers: versions, backends, devices, data sets, runs and dates."""
    import pandas as pd

    ranked = [s.rows for s in sections if s.rows is not None and len(s.rows)]
    rows = pd.concat(ranked, ignore_index=True) if ranked else frame.iloc[:0]
    runs = []
    for s in sections:
        x = s.configs.left_out
        n = s.rows["run_id"].nunique() if s.rows is not None and "run_id" in s.rows.columns else "?"
        runs.append(f"{s.dataset}: {n} runs, {x.ranked if x else 0} of {x.rows if x else '?'} rows read")
    stamps = pd.to_datetime(rows["timestamp"], errors="coerce", utc=True) if "timestamp" in rows.columns else None
    dates = "not logged"
    if stamps is not None and stamps.notna().any():
        dates = f"{stamps.min():%Y-%m-%d %H:%M} to {stamps.max():%Y-%m-%d %H:%M} UTC"
    sources = sorted({Path(str(s)).name for s in frame["source"]}) if "source" in frame.columns else []
    return (
        ("pernode version", _distinct(rows, "pernode_version")),
        ("log schema", _distinct(rows, "schema_version")),
        ("backend", _distinct(rows, "backend", "backend_version")),
        ("device", _distinct(rows, "device")),
        ("machine", _distinct(rows, "machine")),
        ("data", _distinct(rows, "dataset", "data_fingerprint")),
        ("data sets", ", ".join(s.dataset for s in sections)),
        ("runs", "; ".join(runs)),
        ("dates of the ranked rows", dates),
        ("logs", ", ".join(sources) or "not named"),
    )


# --- timing logs (`pernode timeit --log`) --------------------------------------------------


def read_timings(patterns) -> Any:
    """Timing logs (paths or globs) as one frame with a ``source`` column; each file once."""
    import io

    import pandas as pd

    from pernode_cli.logs import whole_text, expand, read_header

    frames = []
    for path in expand(list(patterns)):
        existing_file(path, "Timing log")
        try:
            text, _ = whole_text(path, read_header(path) or [])  # a torn last line left out, a header inside refused
            frame = pd.read_csv(io.StringIO(text), dtype={"variant": str, "dataset": str, "device": str},
                                keep_default_na=False, na_values=[""])
        except pd.errors.EmptyDataError:
            raise PernodeError(f"Timing log {path} is empty (`timings`).") from None
        except (pd.errors.ParserError, UnicodeDecodeError, OSError) as exc:
            raise PernodeError(f"Cannot read timing log {path} as CSV ({str(exc).splitlines()[0]}).") from None
        frames.append(_checked_timings(frame, path))
    return pd.concat(frames, ignore_index=True)


def _checked_timings(frame, path):
    import numpy as np
    import pandas as pd

    missing = [c for c in TIMING_NEEDS if c not in frame.columns]
    if missing or frame.empty:
        what = f"lacks column(s) {', '.join(missing)}" if missing else "has no rows"
        raise PernodeError(f"Timing log {path} {what}; give a log written by pernode timeit (`timings`).")
    for col in TIMING_NUMBERS:
        values = pd.to_numeric(frame[col], errors="coerce")
        finite = np.isfinite(values.to_numpy(dtype="float64", na_value=np.nan))
        bad = (values.notna() & ~finite) | (values.isna() & frame[col].notna())  # text, or infinite
        if col == "mean_s":
            bad |= ~finite
        if bad.any():
            raise PernodeError(
                f"Timing log {path}: column {col} holds {cell_text(frame.loc[bad, col].iloc[0])!r}, not a number."
            )
        frame[col] = values
    return frame.assign(source=str(path))


def timing_groups(frame) -> tuple:
    """One group per (timing log, data set, device): the rows of paper Table IV."""
    out = []
    keys = [c for c in ("source", "dataset", "device", "backend") if c in frame.columns]
    for key, group in frame.groupby(keys, sort=False, dropna=False):
        meta = dict(zip(keys, key if isinstance(key, tuple) else (key,)))
        rows = tuple(
            {**{c: (None if _missing(r[c]) else r[c]) for c in ("variant", *TIMING_NUMBERS)},
             "step_ms": _step_ms(r),
             "warnings": _warnings(r.get("warnings"))}
            for _, r in group.sort_values("mean_s", kind="mergesort").iterrows()
        )
        out.append(TimingGroup(dataset=str(meta.get("dataset", "")), device=_text(meta.get("device")),
                               backend=_text(meta.get("backend")), source=Path(str(meta["source"])).name, rows=rows))
    return tuple(out)


def _step_ms(r):
    """Milliseconds per training step of a timing row (None where the log has no steps)."""
    steps = r.get("steps_per_epoch")
    try:
        steps = float(steps)
    except (TypeError, ValueError):
        return None
    return None if not steps or steps != steps or _missing(r["mean_s"]) else 1000.0 * float(r["mean_s"]) / steps


def _warnings(cell) -> list:
    """The warnings `timeit` recorded for one row (a JSON list in the timing log)."""
    import json

    if _missing(cell) or cell == "":
        return []
    try:
        value = json.loads(cell) if isinstance(cell, str) else cell
    except ValueError:
        return [str(cell)]
    return [str(w) for w in value] if isinstance(value, list) else [str(value)]


def _missing(value) -> bool:
    return value is None or (isinstance(value, float) and value != value)


def _text(value) -> str:
    return "" if _missing(value) else str(value)
