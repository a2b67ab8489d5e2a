"""What a ranking is asked (``RankOptions``, each keyword checked) and what it resolves from the
rows: the metric and its direction, the column that selects each run's epoch, the epoch rule."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Optional

import numpy as np

from pernode_cli.checks import LIMITS
from pernode_cli.declarations import comma_list, option
from pernode_cli.errors import PernodeError
from pernode_cli.stats import blocks as blk
from pernode_cli.stats import procedures as proc
from pernode_cli.stats.direction import (
    direction_note,
    known_direction,
    resolve_direction,
    selection_column,
)
from pernode_cli.stats.paper import MIN_TOP
from pernode_cli.stats.rows import (
    require_columns,
)


DESIGNS = ("auto", "configs", "paper")


ACROSS = ("datasets", "pooled")


# ``auto`` runs the configs design on a data set with at least this many complete blocks.
AUTO_MIN_BLOCKS = 3


@dataclass(frozen=True, kw_only=True)
class RankOptions:
    """The keywords of ``rank_logs``; ``check`` refuses a bad value, naming it."""

    design: str = option("auto", "auto: configs where a data set has at least 3 complete blocks (or one "
                         "configuration with 3 seeds), paper elsewhere; configs: blocks are configurations (tests); "
                         "paper: the paper's layout (descriptive only).", choices=DESIGNS)
    metric: Optional[str] = option(None, "Column compared (default: test_loss where every row has it, else "
                                         "val_loss).", metavar="COLUMN")
    maximize: Optional[bool] = option(None, "Higher (True) or lower (False) is better (default: the metric's "
                                            "known direction).", group="direction")
    select: Optional[str] = option(None, "Each run's best epoch (by select_on) or its last (default: best when "
                                         "select_on is another split, else last).", choices=blk.SELECTS)
    select_on: Optional[str] = option(None, "Column that picks each run's best epoch (default: val_X for test_X, "
                                            "else the metric).", metavar="COLUMN")
    seeds: Optional[str] = option(None, "Average a configuration's seeds first, or take each seed as a block "
                                        "(default: average; blocks for a single configuration).",
                                  choices=blk.SEED_MODES)
    control: Optional[str] = option(None, "Test every variant against this one only (fewer tests, more power).",
                                    metavar="VARIANT")
    variants: Any = option(None, "Rank only these variants (names separated by commas, any case).",
                           metavar="V1,V2,...")
    dataset: Optional[str] = option(None, "Rank only this data set.", metavar="NAME")
    across: Optional[str] = option(None, "datasets: also rank with the data sets as blocks (Demsar 2006); "
                                         "pooled: the configuration blocks of all data sets pooled.",
                                   choices=ACROSS, group="across")
    per_dataset: str = option("mean", "Across data sets: each variant's mean over a data set's configurations, or "
                                      "its best configuration (chosen on select_on).", choices=blk.PER_DATASET)
    alpha: float = option(0.05, "Level of the tests (which pairs differ, what the sizes can show).", metavar="ALPHA")
    zero_method: str = option("wilcox", "Wilcoxon: zero differences dropped (wilcox), ranked then dropped (pratt) "
                                        "or split between the signs (zsplit, Demsar 2006).",
                              choices=proc.ZERO_METHODS)
    rope: Optional[float] = option(None, "Region of practical equivalence in metric units: adds the Bayesian "
                                         "signed-rank test per pair (P(A better), P(equivalent), P(B better)).",
                                   metavar="R")
    target: Optional[str] = option(None, "A target such as 'val_acc>=0.95': also rank the variants by training "
                                         "seconds to reach it (runs that never do rank last).", metavar="'COL>=X'")
    top: int = option(5, "Paper design: records per variant in the Friedman matrix (the paper uses 5).",
                      metavar="N")
    table_top: int = option(3, "Rows per variant in the Table I style output.", metavar="N")
    block_columns: Optional[tuple] = option(None, "A results table's columns that tell blocks apart within a data "
                                                  "set (comma-separated, e.g. fold).", metavar="C1,C2",
                                            parse=comma_list)

    def check(self) -> "RankOptions":
        def choice(name, allowed, optional=True):
            value = getattr(self, name)
            if (value is None and optional) or value in allowed:
                return
            raise PernodeError(f"`{name}` must be one of {', '.join(allowed)}; got {value!r}.")

        choice("design", DESIGNS, optional=False)
        choice("select", blk.SELECTS)
        choice("seeds", blk.SEED_MODES)
        choice("across", ACROSS)
        choice("per_dataset", blk.PER_DATASET, optional=False)
        choice("zero_method", proc.ZERO_METHODS, optional=False)
        if isinstance(self.alpha, bool) or not isinstance(self.alpha, (int, float)) or not 0 < self.alpha < 1:
            raise PernodeError(f"`alpha` must be a number in (0, 1); got {self.alpha!r}.")
        if self.rope is not None and (isinstance(self.rope, bool) or not isinstance(self.rope, (int, float))
                                      or not math.isfinite(self.rope) or self.rope < 0):
            raise PernodeError(f"`rope` must be a finite number >= 0 in the metric's units; got {self.rope!r}.")
        for name, low in (("top", MIN_TOP), ("table_top", 1)):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= LIMITS[name]:
                why = (" (the paper's layout takes each variant's `top` best records as its blocks, and needs 2)"
                       if name == "top" else "")
                raise PernodeError(f"`{name}` must be an integer in [{low}, {LIMITS[name]:,}]{why}; got {value!r}.")
        if self.design == "paper" and (self.control is not None or self.across is not None):
            raise PernodeError("`control` and `across_datasets` belong to tests; the paper's layout is descriptive "
                               "and uses neither.")
        return self


def versions() -> dict:
    """What computed the numbers (recorded in every output: p-values depend on them)."""
    import pandas
    import scipy

    from pernode_cli import __version__

    return {"pernode": __version__, "numpy": np.__version__, "scipy": scipy.__version__, "pandas": pandas.__version__}


@dataclass(frozen=True)
class Resolved:
    metric: str
    maximize: bool
    select: str
    select_on: str
    select_maximize: bool
    default_note: str  # how defaults were filled, in words ("" when all given)
    direction_note: str = ""  # a given direction that reverses the metric's known one, in words


def _has_values(frame, column: str) -> bool:
    """Every row has a cell in ``column`` (a bad cell counts: it is then named, not skipped)."""
    return column in frame.columns and len(frame) > 0 and not bool(frame[column].isna().any())


def table_metric(frame, block_columns=None) -> Optional[str]:
    """A results table's one numeric column besides its names and block columns (None: not one)."""
    numeric = numeric_columns(frame, block_columns)
    return numeric[0] if len(numeric) == 1 else None


def numeric_columns(frame, block_columns=None) -> list:
    from pandas.api.types import is_bool_dtype, is_numeric_dtype

    named = {"dataset", "variant", *(block_columns or ())}
    return [c for c in frame.columns
            if c not in named and is_numeric_dtype(frame[c]) and not is_bool_dtype(frame[c])]


def resolve(frame, o: RankOptions) -> Resolved:
    """The metric (and its direction), the selection column and the epoch rule."""
    missing = [c for c in (o.block_columns or ()) if c not in frame.columns]
    if missing:
        raise PernodeError(f"`block_columns`: no column {', '.join(map(str, missing))} in the log(s); name columns "
                           f"they hold ({', '.join(map(str, list(frame.columns)[:12]))}"
                           f"{', ...' if len(frame.columns) > 12 else ''}).")
    notes = []
    metric = o.metric
    if metric is None and "epoch" not in frame.columns:
        metric = table_metric(frame, o.block_columns)
        numeric = numeric_columns(frame, o.block_columns)
        if metric is None and numeric and "val_loss" not in frame.columns:
            raise PernodeError(f"The table has {len(numeric)} value columns ({', '.join(map(str, numeric))}); "
                               "give `metric`, the one to rank by.")
    if metric is None:
        metric = "test_loss" if _has_values(frame, "test_loss") else "val_loss"
        if metric == "val_loss" and "test_loss" in frame.columns:
            notes.append("not every row has a test metric, so val_loss is compared")
    require_columns(frame, metric)  # a missing column is named before anything else
    maximize = resolve_direction(metric, o.maximize)
    select_on = o.select_on or selection_column(metric, frame.columns)
    if o.select_on is not None and o.select_on not in frame.columns:
        raise PernodeError(f"`select_on` column {o.select_on} is not in the log(s); give a column they hold.")
    known = known_direction(select_on)
    select_maximize = maximize if select_on == metric or known is None else known
    select = o.select or ("best" if select_on != metric else "last")
    if o.select is None and select == "last":
        notes.append("the logs have no separate selection split, so each run's last epoch is compared")
    return Resolved(metric, maximize, select, select_on, select_maximize, "; ".join(notes),
                    direction_note(metric, o.maximize))
