"""Block matrices: from cleaned log rows to one value per (block, variant).

Every number here is the same for the same rows in any order and any split into files:

- a run's value is a value of the CSV (the metric at the epoch chosen on ``select_on``:
  its best, ties to the earliest epoch; or the last epoch), never a sum;
- averages (repeats of a configuration, seeds, configurations of a data set) are exact:
  the decimal values the CSV holds are summed exactly and the mean rounded once, so two
  averages that are equal on the CSV's values are equal here, whatever the row order;
- blocks and variants are put in a canonical order (blocks by their settings, variants by
  name) before any seeded computation (permutation p-values, bootstraps) sees them.

Designs built here: configuration blocks (a block is the data set and every setting but the
variant; seeds averaged first or each its own block), data-set blocks (Demsar 2006: one
value per variant per data set, the data sets as blocks), and pooled configuration blocks of
several data sets.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from pernode_cli.schema import BLOCK_COLUMNS
from pernode_cli.stats import exact
from pernode_cli.stats.exact import Exact

# Settings that, with the data set, define a configuration (``schema.BLOCK_COLUMNS``):
# ``mc_samples`` is left out (it changes the Monte Carlo evaluation only);
# ``data_fingerprint`` keeps runs on different data of one data set name in different blocks.
CONFIG_COLUMNS = BLOCK_COLUMNS
SELECTS = ("best", "last")
SEED_MODES = ("average", "blocks")
PER_DATASET = ("mean", "best")


def exact_mean(values) -> float:
    """The mean of ``values`` computed exactly on their shortest decimal forms (what the CSV
    holds) and rounded once: independent of order, and equal for equal decimal means."""
    values = np.asarray(list(values), dtype="float64")
    if not len(values) or not np.all(np.isfinite(values)):
        return math.nan if not len(values) or np.isnan(values).any() else float(np.mean(values))
    return float(exact.mean(exact.from_floats(values[:, None])).floats()[0])


def _group_means(values: np.ndarray, groups: np.ndarray):
    """Per group: the exact mean of ``values`` (``Exact``, NaN groups flagged) and its size."""
    finite = np.isfinite(values)
    ex, counts = exact.group_means(exact.from_floats(np.where(finite, values, 0.0)), groups)
    g = len(counts)
    nonfinite = np.bincount(groups[~finite], minlength=g) > 0 if g else np.zeros(0, dtype=bool)
    floats = ex.floats()
    floats[nonfinite] = np.nan  # a missing cell makes its mean missing, as the CSV's empty cell
    return ex, floats, counts


def sort_key(value):
    """A total order over settings values: numbers numerically, then text, missing last."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return (2, 0.0, "")
    if isinstance(value, (bool, np.bool_)):
        return (0, float(value), "")
    if isinstance(value, (int, float, np.integer, np.floating)):
        return (0, float(value), "")
    return (1, 0.0, str(value))


def _cell(value):
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return value  # kept float: 128.0 and 128 are one setting either way (sort_key, equality)
    return value


def config_columns(rows) -> list:
    return [c for c in CONFIG_COLUMNS if c in rows.columns]


def run_values(rows, metric: str, select: str, select_on: str, select_maximize: bool,
               columns: Optional[list] = None):
    """One row per run: ``dataset``, ``variant``, the config ``columns``, ``value`` (the metric
    at the chosen epoch), ``chooser`` (``select_on`` there) and ``runs`` (repeats averaged).

    A run is a run id (or, in tables without one, a configuration); its epoch is the last
    (``select="last"``) or the best by ``select_on`` (ties: the earliest epoch)."""
    import pandas as pd

    columns = config_columns(rows) if columns is None else list(columns)
    keys = ["dataset", "variant", *columns]
    run_keys = keys + (["run_id"] if "run_id" in rows.columns else [])
    frame = rows.reset_index(drop=True)
    epoch = (pd.to_numeric(frame["epoch"], errors="coerce").to_numpy(dtype="float64", na_value=np.inf)
             if "epoch" in frame.columns else np.zeros(len(frame)))
    chooser = pd.to_numeric(frame[select_on], errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
    if select == "last":
        first = -epoch  # the latest epoch first
    else:
        first = np.where(np.isnan(chooser), np.inf, -chooser if select_maximize else chooser)
    group = frame.groupby(run_keys, dropna=False, sort=False).ngroup().to_numpy()
    order = np.lexsort((epoch, first, group))  # within a run: best first, then earliest epoch
    chosen = order[np.r_[True, group[order][1:] != group[order][:-1]]]
    picked = frame.iloc[chosen][keys].reset_index(drop=True)
    # Repeated runs of one configuration (same settings, another run id) count once: their exact mean.
    return _averaged(picked, keys, frame[metric].to_numpy(dtype="float64")[chosen], chooser[chosen],
                     np.ones(len(chosen), dtype=np.int64))


def _averaged(rows, keys: list, values: np.ndarray, chooser: np.ndarray, runs: np.ndarray, nums=None, den=1):
    """One row per distinct ``keys``: the exact mean of ``values`` (or of ``nums / den``, exact
    values already) and of ``chooser``, each rounded once, and the runs averaged.
    ``value_num`` holds the exact means' numerators over ``attrs["value_den"]``."""
    groups = rows.groupby(keys, dropna=False, sort=False).ngroup().to_numpy() if len(rows) else np.zeros(0, int)
    first = np.unique(groups, return_index=True)[1] if len(groups) else np.zeros(0, int)
    out = rows.iloc[first][keys].reset_index(drop=True)
    finite = np.isfinite(values)
    if not finite.all():  # seconds to a target never met (inf): no exact value, the plain mean
        out["value"] = _plain_means(values, groups, len(out))
        out["chooser"] = _group_means(chooser, groups)[1]
        out["runs"] = np.bincount(groups, weights=runs, minlength=len(out)).astype(np.int64)
        out["value_num"] = 0
        out.attrs["value_den"] = None
        return out
    ex = exact.from_floats(values) if nums is None else exact.Exact(nums, den)
    means, counts = exact.group_means(ex, groups) if len(groups) else (exact.Exact(ex.nums[:0], ex.den), ex.nums[:0])
    out["value"] = means.floats()
    out["chooser"] = _group_means(chooser, groups)[1] if len(groups) else chooser[:0]
    out["runs"] = np.bincount(groups, weights=runs, minlength=len(out)).astype(np.int64) if len(groups) else runs[:0]
    out["value_num"] = pd_column(means.nums)
    out.attrs["value_den"] = means.den
    return out


def _plain_means(values: np.ndarray, groups: np.ndarray, g: int) -> np.ndarray:
    out = np.full(g, np.nan)
    for code in range(g):
        out[code] = float(np.mean(values[groups == code]))
    return out


def pd_column(nums: np.ndarray):
    """Numerators as a column (int64, or Python integers where they outgrow it)."""
    return nums if nums.dtype != object else list(nums)


@dataclass(frozen=True)
class BlockMatrix:
    """``values[i, j]``: variant ``variants[j]`` in block ``keys[i]`` (complete blocks only)."""

    values: np.ndarray  # each cell's exact value rounded once (``exact``)
    chooser: np.ndarray  # the selection metric's value in each cell (for choosing configurations)
    variants: tuple
    keys: tuple  # one tuple of settings per block, in ``columns`` order
    columns: tuple  # names of the settings that tell blocks apart
    dropped: int = 0  # blocks where some ranked variant has no value
    unequal_seeds: int = 0  # blocks whose variants averaged different numbers of seeds
    strata: tuple = ()  # the data set of each block
    seeds: str = "average"
    kind: str = "configurations"  # configurations | data sets | pooled configurations
    cells: Optional[np.ndarray] = field(default=None, repr=False)  # runs averaged per cell
    exact: Optional[Exact] = field(default=None, repr=False, compare=False)  # the cells' exact decimal values

    def exact_values(self) -> Exact:
        """The cells exactly (``stats.exact``): as computed, or ``values`` at their shortest decimals."""
        return self.exact if self.exact is not None else exact.from_floats(self.values)

    @property
    def n(self) -> int:
        return int(self.values.shape[0])

    @property
    def k(self) -> int:
        return int(self.values.shape[1])


def _seed_averaged(values, columns: list):
    """A configuration's seeds averaged exactly: the mean of their exact values, rounded once."""
    keys = ["dataset", "variant", *[c for c in columns if c != "seed"]]
    den = values.attrs.get("value_den")
    nums = values["value_num"].to_numpy() if den is not None else None
    out = _averaged(values, keys, values["value"].to_numpy(dtype="float64"), values["chooser"].to_numpy(
        dtype="float64"), np.ones(len(values), dtype=np.int64), nums=nums, den=den or 1)
    return out, [c for c in columns if c != "seed"]


def block_matrices(rows, metric: str, select: str, select_on: str, select_maximize: bool, seeds: str = "average",
                   variants: Optional[list] = None, columns: Optional[list] = None, values=None) -> dict:
    """``{data set: BlockMatrix}`` of configuration blocks, each data set apart.

    ``variants``: the variants to rank (default: every variant of the data set's rows).
    ``values``: ``run_values`` of these rows and columns, when already computed."""
    columns = config_columns(rows) if columns is None else list(columns)
    if values is None:
        values = run_values(rows, metric, select, select_on, select_maximize, columns)
    if seeds == "average" and "seed" in columns:
        values, columns = _seed_averaged(values, columns)
    out = {}
    for name, group in sorted(values.groupby("dataset", sort=False), key=lambda g: str(g[0])):
        ranked = sorted(str(v) for v in group["variant"].unique()) if variants is None else sorted(variants)
        out[str(name)] = _matrix(group, ranked, columns, seeds, str(name))
    return out


def _serve_every_rate(cells: dict, columns: list) -> None:
    """A run with no rate (a variant that takes none, ``Dense``: an empty ``rate`` cell) is its
    variant's value in every block that differs from its settings only by the rate; its own
    rate-less block goes once it serves one."""
    if "rate" not in columns:
        return
    r = list(columns).index("rate")
    free = [key for key in cells if key[r] is None]
    if not free:
        return
    by_rest: dict = {}
    for k in cells:
        if k[r] is not None:
            by_rest.setdefault(k[:r] + k[r + 1:], []).append(k)
    for key in free:
        served = by_rest.get(key[:r] + key[r + 1:], [])
        for k in served:
            for variant, cell in cells[key].items():
                cells[k].setdefault(variant, cell)
        if served:
            del cells[key]


def _matrix(group, ranked: list, columns: list, seeds: str, name: str) -> BlockMatrix:
    cells: dict = {}
    for row in group.itertuples(index=False):
        key = tuple(_cell(getattr(row, c)) for c in columns) if columns else ()
        cells.setdefault(key, {})[str(row.variant)] = (row.value, row.chooser, row.runs, row.value_num)
    _serve_every_rate(cells, columns)
    keys = sorted(cells, key=lambda key: tuple(sort_key(v) for v in key))
    complete = [key for key in keys if all(v in cells[key] for v in ranked)]
    touched = [key for key in keys if any(v in cells[key] for v in ranked)]
    shape = (len(complete), len(ranked))
    vals, chooser, runs = np.empty(shape), np.empty(shape), np.empty(shape, dtype=np.int64)
    nums = np.empty(shape, dtype=object)
    for i, key in enumerate(complete):
        for j, v in enumerate(ranked):
            vals[i, j], chooser[i, j], runs[i, j], nums[i, j] = cells[key][v]
    unequal = int(np.sum(np.any(runs != runs[:, :1], axis=1))) if len(complete) else 0
    return BlockMatrix(values=vals, chooser=chooser, variants=tuple(ranked), keys=tuple(complete),
                       columns=tuple(columns), dropped=len(touched) - len(complete), unequal_seeds=unequal,
                       strata=(name,) * len(complete), seeds=seeds, cells=runs,
                       exact=None if group.attrs.get("value_den") is None else exact.Exact(
                           exact._compact(nums), group.attrs["value_den"]))


def dataset_blocks(
    matrices: dict, per_dataset: str, select_maximize: bool, variants: Optional[list] = None
) -> BlockMatrix:
    """Demsar's design: one value per variant per data set, the data sets as blocks.

    ``per_dataset="mean"``: the exact mean of the variant's values over the data set's
    complete configuration blocks; ``"best"``: its value in the configuration that is best on
    the selection metric (``chooser``; ties: the first in canonical order). Data sets that
    lack a ranked variant are dropped and counted."""
    names = sorted(matrices)
    ranked = sorted(variants) if variants is not None else sorted(
        set.intersection(*(set(matrices[n].variants) for n in names)) if names else set())
    rows, chooser, keys, dropped = [], [], [], 0
    for name in names:
        m = matrices[name]
        if m.n == 0 or any(v not in m.variants for v in ranked):
            dropped += 1
            continue
        cols = [m.variants.index(v) for v in ranked]
        cells = m.exact_values()[:, cols]
        if per_dataset == "mean":  # the exact mean of the exact configuration values: one rounding in all
            rows.append(exact.mean(cells, axis=0))
            chooser.append([exact_mean(m.chooser[:, j]) for j in cols])
        else:
            pick = [int(np.argmax(m.chooser[:, j]) if select_maximize else np.argmin(m.chooser[:, j])) for j in cols]
            rows.append(exact.Exact(np.array([cells.nums[i, c] for c, i in enumerate(pick)], dtype=cells.nums.dtype),
                                    cells.den))
            chooser.append([m.chooser[i, j] for i, j in zip(pick, cols)])
        keys.append((name,))
    shape = (len(rows), len(ranked))
    table = exact.stack([exact.Exact(r.nums[None, :], r.den) for r in rows]) if rows else exact.Exact(
        np.empty(shape, dtype=np.int64), 1)
    return BlockMatrix(values=table.floats().reshape(shape),
                       chooser=np.array(chooser, dtype="float64").reshape(shape), variants=tuple(ranked),
                       keys=tuple(keys), columns=("dataset",), dropped=dropped,
                       strata=tuple(k[0] for k in keys), kind="data sets", exact=table)


def pooled_blocks(matrices: dict, variants: Optional[list] = None) -> BlockMatrix:
    """The configuration blocks of every data set in one matrix (variants every data set ran)."""
    names = sorted(matrices)
    ranked = sorted(variants) if variants is not None else sorted(
        set.intersection(*(set(matrices[n].variants) for n in names)) if names else set())
    values, chooser, keys, strata, dropped, unequal, exacts = [], [], [], [], 0, 0, []
    for name in names:
        m = matrices[name]
        if any(v not in m.variants for v in ranked):
            dropped += m.n
            continue
        cols = [m.variants.index(v) for v in ranked]
        values.append(m.values[:, cols])
        exacts.append(m.exact_values()[:, cols])
        chooser.append(m.chooser[:, cols])
        keys += [(name, *key) for key in m.keys]
        strata += [name] * m.n
        dropped += m.dropped
        unequal += m.unequal_seeds
    k = len(ranked)
    columns = ("dataset", *(matrices[names[0]].columns if names else ()))
    return BlockMatrix(values=np.vstack(values) if values else np.empty((0, k)),
                       chooser=np.vstack(chooser) if chooser else np.empty((0, k)), variants=tuple(ranked),
                       keys=tuple(keys), columns=columns, dropped=dropped, unequal_seeds=unequal,
                       strata=tuple(strata), seeds=matrices[names[0]].seeds if names else "average",
                       kind="pooled configurations", exact=exact.stack(exacts) if exacts else None)
