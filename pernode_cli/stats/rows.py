"""Which log rows a ranking reads: pure cleaning of a merged log frame, no I/O.

Every row is read once and every row left out is counted, per data set:

- rows with an empty data set or variant cannot be ranked (counted, not guessed);
- only rows of *finished* attempts are ranked: an attempt is finished when one of its rows
  has a non-empty ``run_end``. Rows of an interrupted (or still running) attempt stay in
  the log and are counted here. Logs without ``attempt``/``run_end`` (schema 2), and rows
  whose ``attempt`` is empty, hold finished runs only;
- a row that appears more than once with the same values (the same log given twice, a
  shard log and a merged copy of it) is read once and the copies counted;
- two *different* finished rows for the same run and epoch mean the logs disagree: that is
  refused, naming the run and both files;
- rows whose ``status`` is not ``ok`` (diverged runs) and rows with an empty status are
  counted apart and left out;
- the metric of every remaining row must be a finite number.

Cleaning follows the data set (and variant) filter, so the rows of one data set never block
another.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Optional

import numpy as np

from pernode_cli.errors import PernodeError
from pernode_cli.schema import MIXED_COLUMNS, plain

# Columns whose mix among ranked rows the output points out (training length, width, batch
# size, training-set size, the data themselves, the module's size): ``schema.MIXED_COLUMNS``.
SETTING_COLUMNS = MIXED_COLUMNS
REASONS = {  # LeftOut field -> what it counts, as the output words it
    "unfinished": "of unfinished attempts",
    "duplicates": "that repeat a row already read (read once)",
    "diverged": "of diverged runs (status not ok)",
    "no_status": "with an empty status",
    "no_variant": "with an empty variant",
}


class Record:
    """Frozen statistics records: ``to_dict`` gives strict JSON values (None, never NaN), without the
    fields declared ``not_in_json()`` (samples kept for a figure)."""

    def to_dict(self) -> dict:
        return plain(_shown(self))


def _shown(value):
    """``value`` with every dataclass (at any depth) as a dict of its fields shown in JSON."""
    from dataclasses import fields, is_dataclass

    if is_dataclass(value) and not isinstance(value, type):
        return {f.name: _shown(getattr(value, f.name)) for f in fields(value) if f.metadata.get("json") is not False}
    if isinstance(value, (list, tuple)):
        return type(value)(_shown(v) for v in value) if isinstance(value, list) else tuple(_shown(v) for v in value)
    if isinstance(value, dict):
        return {k: _shown(v) for k, v in value.items()}
    return value


def not_in_json(default=None):
    """A record field left out of ``to_dict`` (and of comparisons): data for figures, not results."""
    return field(default=default, repr=False, compare=False, metadata={"json": False})


def cell_text(value) -> str:
    """A cell as the CSV holds it: an empty cell for a missing value, never ``np.float64(nan)``."""
    if value is None:
        return ""
    if isinstance(value, (float, np.floating)):
        value = float(value)
        if math.isnan(value):
            return ""
        return repr(value) if math.isfinite(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, (np.integer,)):
        return str(int(value))
    return str(value)


@dataclass(frozen=True, kw_only=True)
class LeftOut(Record):
    """What cleaning did to one data set's rows."""

    dataset: str
    rows: int = 0  # rows read for the data set, every file and attempt
    ranked: int = 0  # rows kept: finished attempts, status ok, each once
    unfinished: int = 0
    duplicates: int = 0
    diverged: int = 0
    no_status: int = 0
    no_variant: int = 0

    @property
    def left_out(self) -> int:
        return sum(getattr(self, name) for name in REASONS)


@dataclass(frozen=True, kw_only=True)
class CleanRows:
    """The rows to rank (``frame``: metric as finite floats, data set and variant as text)."""

    frame: Any = field(repr=False, compare=False)
    metric: str
    left_out: tuple  # LeftOut per data set, sorted by name
    no_dataset: int = 0  # rows with an empty data set (left out; no data set to count them under)

    def of(self, dataset: str) -> LeftOut:
        return next((x for x in self.left_out if x.dataset == dataset), LeftOut(dataset=dataset))

    def groups(self) -> list:
        """``(name, rows)`` of every data set that has rows to rank, by name."""
        frame = self.frame
        if not len(frame):
            return []
        names = frame["dataset"].to_numpy()
        return [(str(n), frame[names == n]) for n in sorted(frame["dataset"].unique())]


def _text(series):
    """Strings with surrounding blanks removed; missing cells become ''."""
    from pandas.api.types import is_string_dtype

    if is_string_dtype(series) and series.dtype != object:  # already text: no copy to convert
        return series.fillna("").str.strip()
    if series.dtype == object:
        return series.fillna("").astype(str).str.strip()
    return series.astype(str).where(series.notna(), "")


def named_columns(frame, method_column: Optional[str] = None, dataset_column: Optional[str] = None):
    """A results table's columns under the names a ranking reads: its method column as
    ``variant`` (``method`` is taken when there is no ``variant`` and none is named), its data
    set column as ``dataset`` (a table without one is a single data set, ``results``)."""
    rename = {}
    if method_column is not None and method_column != "variant":
        if method_column not in frame.columns:
            raise PernodeError(f"`method_column` {method_column} is not a column of the table; it has "
                               f"{', '.join(map(str, frame.columns))}.")
        rename[method_column] = "variant"
    elif "variant" not in frame.columns and "method" in frame.columns:
        rename["method"] = "variant"
    if dataset_column is not None and dataset_column != "dataset":
        if dataset_column not in frame.columns:
            raise PernodeError(f"`dataset_column` {dataset_column} is not a column of the table; it has "
                               f"{', '.join(map(str, frame.columns))}.")
        rename[dataset_column] = "dataset"
    frame = frame.rename(columns=rename) if rename else frame
    if "dataset" not in frame.columns and "variant" in frame.columns:
        frame = frame.assign(dataset="results")
    return frame


def require_columns(frame, metric: str) -> None:
    missing = [c for c in ("dataset", "variant", metric) if c not in frame.columns]
    if missing:
        raise PernodeError(
            f"The log(s) lack column(s) {', '.join(missing)}: a ranking needs dataset, variant and the "
            f"`metric` column ({metric})."
        )


def variant_list(variants) -> Optional[tuple]:
    """``"A, B"`` or a sequence as a tuple of distinct names in order; None for all variants."""
    if variants is None:
        return None
    items = variants.split(",") if isinstance(variants, str) else variants
    names = tuple(dict.fromkeys(str(v).strip() for v in items if str(v).strip()))
    if not names:
        raise PernodeError("`variants` names no variant; give names separated by commas, or leave it out.")
    return names


def _alias(name: str) -> str:
    """``PerNodeBernoulli_F`` is written ``PerNodeBernoulli_Fixed`` in logs."""
    return name + "ixed" if name.lower().endswith("_f") else name


def match_names(requested, present, what: str = "variants", where: str = "") -> tuple:
    """Each requested variant name as the rows spell it: exact, else case-insensitive (and the
    ``_F`` short form of ``_Fixed``), as every command matches names. An absent name is refused."""
    present = sorted(set(present) - {""})
    folded = {}
    for name in present:
        folded.setdefault(name.lower(), []).append(name)
    out, absent = [], []
    for name in requested:
        if name in present:
            out.append(name)
            continue
        hits = folded.get(name.lower()) or folded.get(_alias(name).lower())
        if hits and len(hits) == 1:
            out.append(hits[0])
        elif hits:
            raise PernodeError(f"`{what}` name {name!r} matches {', '.join(hits)}, which differ only in case; "
                               "give the name exactly as the log holds it.")
        else:
            absent.append(name)
    if absent:
        raise PernodeError(
            f"`{what}` names {', '.join(absent)}, which the log(s) do not hold{where}; they hold "
            f"{', '.join(present) or 'no named variant'}."
        )
    return tuple(dict.fromkeys(out))


def _select(frame, dataset: Optional[str], variants: Optional[tuple]):
    names = _text(frame["dataset"])
    no_dataset = int((names == "").sum())
    frame = frame.assign(dataset=names, variant=_text(frame["variant"]))[names != ""]
    if dataset is not None:
        present = sorted(set(frame["dataset"]))
        frame = frame[frame["dataset"] == str(dataset)]
        if frame.empty:
            raise PernodeError(
                f"No rows for data set {dataset!r} in the log(s) (`dataset`); they hold "
                f"{', '.join(present) or 'no named data set'}."
            )
    if variants is not None:
        where = "" if dataset is None else f" for data set {dataset}"
        frame = frame[frame["variant"].isin(match_names(variants, set(frame["variant"]), "variants", where))]
    return frame, no_dataset


def _finished(frame):
    """Mask of rows that belong to finished attempts (every row of logs that predate them)."""
    import pandas as pd

    if "run_end" not in frame.columns:
        return np.ones(len(frame), dtype=bool)
    keys = [c for c in ("dataset", "run_id", "attempt") if c in frame.columns]
    attempts = pd.MultiIndex.from_frame(frame[keys])
    ended = (_text(frame["run_end"]) != "").to_numpy()
    legacy = frame["attempt"].isna().to_numpy() if "attempt" in frame.columns else np.zeros(len(frame), dtype=bool)
    return legacy | attempts.isin(attempts[ended])


def _check_conflicts(frame) -> None:
    """Refuse two different rows for one run and epoch (identical copies are gone by now)."""
    if "run_id" not in frame.columns or "epoch" not in frame.columns:
        return
    keyed = frame[frame["run_id"].notna().to_numpy()]
    clash = keyed[keyed.duplicated(["dataset", "run_id", "epoch"], keep=False).to_numpy()]
    if clash.empty:
        return
    run, epoch = clash["run_id"].iloc[0], clash["epoch"].iloc[0]
    first = clash[(clash["run_id"] == run).to_numpy() & (clash["epoch"] == epoch).to_numpy()]
    files = [str(s) for s in first["source"]] if "source" in first.columns else ["the log", "the log"]
    where = f"twice in {files[0]}" if files[0] == files[1] else f"in {files[0]} and in {files[1]}"
    raise PernodeError(
        f"Run {cell_text(run)} has two different finished rows for epoch {cell_text(_integral(epoch))}, "
        f"{where}: the logs disagree, so neither is ranked; remove the stale log or rows."
    )


def _refuse_impossible_cells(frame, selected: bool):
    """Rows read with a cell pernode cannot have written (``logs.cell_problems``) are refused, the
    first named, when they are among the rows to rank; other data sets' rows never block these."""
    from pernode_cli.logs import BAD_CELL, impossible_cells_error

    if BAD_CELL not in frame.columns:
        return frame
    problems = frame[BAD_CELL].dropna()
    if len(problems):
        raise impossible_cells_error(problems, " of the rows to rank" if selected else "")
    return frame.drop(columns=[BAD_CELL])


def _count(mask, datasets) -> dict:
    return datasets[np.asarray(mask, dtype=bool)].value_counts().to_dict()


def _drop_labels_and_attempts(frame, counts: dict):
    no_variant = (frame["variant"] == "").to_numpy()
    counts["no_variant"] = _count(no_variant, frame["dataset"])
    frame = frame[~no_variant]
    finished = _finished(frame)
    counts["unfinished"] = _count(~finished, frame["dataset"])
    frame = frame[finished]
    same = [c for c in frame.columns if c != "source"]
    copies = np.zeros(len(frame), dtype=bool)
    key = [c for c in ("dataset", "run_id", "attempt", "epoch") if c in frame.columns]
    # Identical rows share their run, attempt and epoch: only rows that share those are compared whole.
    candidates = (frame.duplicated(key, keep=False).to_numpy() if {"run_id", "epoch"} <= set(key)
                  else np.ones(len(frame), dtype=bool))
    if candidates.any():
        copies[candidates] = frame[candidates].duplicated(same, keep="first").to_numpy()
    counts["duplicates"] = _count(copies, frame["dataset"])
    return frame[~copies]


def _drop_status(frame, counts: dict):
    if "status" not in frame.columns:
        counts["no_status"] = counts["diverged"] = {}
        return frame
    status = _text(frame["status"])
    counts["no_status"] = _count(status == "", frame["dataset"])
    counts["diverged"] = _count((status != "") & (status != "ok"), frame["dataset"])
    return frame[(status == "ok").to_numpy()]


# The largest magnitude of a compared value: squares of larger ones overflow double precision
# in the intervals' variances, sums of them the means.
VALUE_LIMIT = 1e150


def _numeric_metric(frame, metric: str):
    import pandas as pd

    values = pd.to_numeric(frame[metric], errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
    bad = ~np.isfinite(values)
    huge = ~bad & (np.abs(values, where=~bad, out=np.zeros_like(values)) > VALUE_LIMIT)
    if huge.any():
        row = frame.iloc[int(np.argmax(huge))]
        where = f"{row['source']}: " if "source" in frame.columns else ""
        raise PernodeError(
            f"{where}column {metric} holds {cell_text(row[metric])!r}, beyond +-{VALUE_LIMIT:g} "
            f"({int(huge.sum())} such row(s) in all): sums and squares of such values overflow double precision, "
            "so no statistic of them would be exact. Rescale the column (divide it by a power of ten), "
            "or rank another `metric`."
        )
    if bad.any():
        row = frame.iloc[int(np.argmax(bad))]
        where = f"{row['source']}: " if "source" in frame.columns else ""
        run = f"run {cell_text(row['run_id'])}, " if "run_id" in frame.columns else ""
        epoch = f"epoch {cell_text(_integral(row['epoch']))}, " if "epoch" in frame.columns else ""
        raise PernodeError(
            f"{where}column {metric} holds {cell_text(row[metric])!r}, not a finite number, in a finished row "
            f"with status ok ({run}{epoch}data set {row['dataset']}; {int(bad.sum())} such row(s) in all); "
            "fix or drop those rows, or rank another `metric`."
        )
    return frame.assign(**{metric: values})


def left_out_text(x: LeftOut) -> str:
    """What was left out of one data set, in words: '3 row(s) of unfinished attempts, ...'."""
    parts = [f"{n} row(s) {REASONS[k]}" for k in REASONS if (n := getattr(x, k))]
    return ", ".join(parts) or "nothing left out"


def clean_rows(frame, metric: str = "val_loss", dataset: Optional[str] = None, variants=None) -> CleanRows:
    """The rows a ranking reads, and per data set what was left out and why (module docstring).

    ``dataset`` and ``variants`` (names, or one string of comma-separated names) select rows
    before anything is counted or checked.
    """
    require_columns(frame, metric)
    frame, no_dataset = _select(frame.reset_index(drop=True), dataset, variant_list(variants))
    frame = _refuse_impossible_cells(frame, selected=dataset is not None or variants is not None)
    read = frame["dataset"].value_counts().to_dict()
    counts: dict = {}
    frame = _drop_labels_and_attempts(frame, counts)
    _check_conflicts(frame)
    frame = _numeric_metric(_drop_status(frame, counts), metric)
    kept = frame["dataset"].value_counts().to_dict()
    left_out = tuple(
        LeftOut(dataset=name, rows=int(read[name]), ranked=int(kept.get(name, 0)),
                **{k: int(counts[k].get(name, 0)) for k in REASONS})
        for name in sorted(read)
    )
    return CleanRows(frame=frame.reset_index(drop=True), metric=metric, left_out=left_out, no_dataset=no_dataset)


def _integral(value):
    if isinstance(value, (float, np.floating)) and math.isfinite(value) and float(value).is_integer():
        return int(value)
    return value


def _values(values) -> str:
    return ", ".join("none" if v is None else str(v) for v in values)


def fairness_text(mixed: dict) -> Optional[str]:
    """A warning when the ranked variants' modules differ in trainable size, or None."""
    sizes = mixed.get("module_params")
    if not sizes:
        return None
    shown = ", ".join(f"{v} {'/'.join(str(x) for x in s)}" for v, s in sizes.items())
    return (f"The ranked variants' modules differ in size (trainable parameters: {shown}): the paper's fairness "
            "rule compares modules of equal size, so part of a difference may be the size.")


def mixed_text(mixed: dict) -> Optional[str]:
    """``mixed_settings`` in words ("The ranked rows mix ..."), or None when nothing is mixed."""
    if not mixed:
        return None
    parts = []
    for setting, by_variant in mixed.items():
        if all(len(v) == 1 for v in by_variant.values()):  # each variant one value, not the same
            parts.append(f"{setting} ({', '.join(f'{k} {_values(v)}' for k, v in by_variant.items())})")
        else:
            values = sorted({x for v in by_variant.values() for x in v}, key=lambda x: (x is None, str(x)))
            parts.append(f"{setting} ({_values(values)})")
    return "Mixed settings: the ranked rows mix " + "; ".join(parts) + "."


def mixed_settings(rows) -> dict:
    """``{setting: {variant: [values]}}`` for each of ``SETTING_COLUMNS`` that takes more than
    one value among ``rows`` (an empty cell is the value None); ``{}`` when none does."""
    out = {}
    for col in SETTING_COLUMNS:
        if col not in rows.columns:
            continue
        pairs = rows[["variant", col]].drop_duplicates()
        values = [None if v is None or v != v else _integral(v) for v in pairs[col].astype(object)]
        if len(set(values)) <= 1:
            continue
        by_variant: dict = {}
        for variant, value in zip(pairs["variant"], values):
            by_variant.setdefault(str(variant), set()).add(value)
        out[col] = plain({v: sorted(x, key=lambda a: (a is None, a if a is not None else 0))
                          for v, x in sorted(by_variant.items())})
    return out
