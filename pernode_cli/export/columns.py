"""Which log columns an export sends as settings (parameters), metrics and tags: the one
place that classifies them.

The groups follow each column's role in the log's schema (``schema.COLUMN_ROLES``):
identity columns (and the timestamp) say which run and step a row is; settings and data
columns are parameters, but for the text that differs from seed to seed (``NOTE_COLUMNS``:
the split, the data's fingerprint), which is a tag; environment and outcome columns are
tags; metrics are metrics. A
column added to the schema is classified by its role. Columns the schema does not know (a
newer log, an extra column) are metrics when their value is a number and tags otherwise.

Values are normalised by the schema's field types, so a row read back from the CSV (text
cells) and the same row as the trainer produced it (Python values) give the same
parameters, metrics and tags: that is what makes a second export of a run add nothing.
"""

from __future__ import annotations

import math
import typing
from dataclasses import fields
from typing import Any

from pernode_cli.schema import COLUMN_ROLES, EpochRow

SCHEMA = EpochRow  # the record whose fields are the log's columns


def _role(*roles) -> tuple:
    return tuple(c for c, r in COLUMN_ROLES.items() if r in roles and c != "timestamp")


# Which run and which step a row is: sent as the tracker run's identity, never as data.
IDENTITY_COLUMNS = _role("identity") + ("timestamp",)
# The settings of a run (the same in each of its rows): MLflow parameters, TensorBoard hparams.
SETTING_COLUMNS = _role("setting", "data")
# Where the run happened (and where its parts came from): MLflow tags.
ENVIRONMENT_COLUMNS = _role("environment")
# How the row (and, on its last row, the attempt) ended: MLflow tags, updated at the run's end.
OUTCOME_COLUMNS = _role("outcome")
# Not log columns but what reading a log adds (``pernode_cli.logs.read_logs``): a tag.
SOURCE_COLUMNS = ("source",)
# Settings written as long text that differ from seed to seed (how the data were split) or name a
# copy of the data: tags, not parameters, so that a tracker's table of parameters compares runs.
NOTE_COLUMNS = ("data_fingerprint", "split")
# The settings a tracker holds as parameters (MLflow params, TensorBoard hparams, W&B config).
PARAM_COLUMNS = tuple(c for c in SETTING_COLUMNS if c not in NOTE_COLUMNS)

_CLASSIFIED = set(IDENTITY_COLUMNS + SETTING_COLUMNS + ENVIRONMENT_COLUMNS + OUTCOME_COLUMNS)
SCHEMA_COLUMNS = tuple(f.name for f in fields(SCHEMA))
# Every other column of the schema is a per-epoch number: val_loss, val_acc, ..., epoch_seconds.
METRIC_COLUMNS = tuple(c for c in SCHEMA_COLUMNS if c not in _CLASSIFIED)
TAG_COLUMNS = ENVIRONMENT_COLUMNS + OUTCOME_COLUMNS + SOURCE_COLUMNS + NOTE_COLUMNS


def _kind(tp) -> type:
    """int, float or str: the type a schema field holds (``Optional[int]`` is int)."""
    args = [a for a in typing.get_args(tp) if a is not type(None)] or [tp]
    return args[0] if args[0] in (int, float, str) else str


KINDS = {name: _kind(tp) for name, tp in typing.get_type_hints(SCHEMA).items()}


def _missing(value) -> bool:
    if value is None:
        return True
    if isinstance(value, str):
        return value.strip() == ""
    return isinstance(value, float) and math.isnan(value)


def as_number(value) -> float | None:
    """The value as a float, or None for a missing cell, text or a bool."""
    if value is None or isinstance(value, bool):
        return None
    try:
        return float(value.strip() if isinstance(value, str) else value)
    except (TypeError, ValueError):
        return None


def setting_value(name: str, value) -> Any:
    """A setting as the schema types it (int, float or str); None when missing."""
    if _missing(value):
        return None
    kind = KINDS.get(name, str)
    number = as_number(value)
    if kind is int and number is not None and math.isfinite(number) and number.is_integer():
        return int(number)
    if kind is float and number is not None:
        return number
    if kind is str or number is None:
        return str(value).strip()
    return number  # an int column holding a fraction: kept as the number it is


def param_text(value) -> str:
    """The text a tracker stores for a setting: the CSV's own cell (``repr`` of a float)."""
    if isinstance(value, float):
        return repr(value)
    return str(value)


def run_key(row: dict) -> tuple[str, int]:
    """``(run_id, attempt)`` of a row; a log without attempts (schema 2) holds attempt 1."""
    attempt = setting_value("attempt", row.get("attempt"))
    return str(row.get("run_id") or "").strip(), int(attempt) if isinstance(attempt, int) else 1


def row_epoch(row: dict) -> int | None:
    epoch = setting_value("epoch", row.get("epoch"))
    return epoch if isinstance(epoch, int) else None


def split_row(row: dict) -> tuple[dict, dict, dict]:
    """``(params, metrics, tags)`` of one log row.

    - params: the settings (``PARAM_COLUMNS``), typed as the schema declares (a whole number
      of an integer column is an int: seed 0, not 0.0); missing settings (an empty cell, e.g.
      no ``patience``) are left out.
    - metrics: ``METRIC_COLUMNS`` and unknown numeric columns, as floats; missing and
      non-finite values (a diverged epoch: the row's ``status`` says so) are left out.
    - tags: environment, outcome, source and note columns (``NOTE_COLUMNS``: the split, the
      data's fingerprint) and unknown text columns, as text; empty ones are left out.

    Identity columns (``run_id``, ``attempt``, ``epoch``, ``timestamp``) are in none of them.
    """
    params, metrics, tags = {}, {}, {}
    for name, value in row.items():
        if name in IDENTITY_COLUMNS or _missing(value):
            continue
        if name in PARAM_COLUMNS:
            params[name] = setting_value(name, value)
        elif name in TAG_COLUMNS:
            tags[name] = str(value).strip()
        else:
            number = as_number(value)
            if number is None and name not in METRIC_COLUMNS:
                tags[name] = str(value).strip()
            elif number is not None and math.isfinite(number):
                metrics[name] = number
    return params, metrics, tags
