"""Rankings of variants: one immutable result record per data set, whatever the design.

``rank_logs(frame, **options)`` cleans the rows (``stats.rows``), resolves the metric's
direction (``stats.direction``: known names, or ``maximize`` given), separates the epoch's
selection from the compared metric (``select_on``), builds block matrices
(``stats.blocks``), runs the procedures (``stats.procedures``) and returns a ``RankResult``
of ``Ranking`` records. Every record has the same fields under every design:

- ``configs``: a block is one configuration (the data set and every setting but the variant),
  seeds averaged first, or each seed a block where that is valid (one configuration);
  Friedman's test (exact or permutation p-value), Wilcoxon signed-rank tests with Holm's
  correction (all pairs or against a control), Nemenyi's critical difference for reference.
- ``datasets`` (across data sets, Demsar 2006): one value per variant per data set, the data
  sets as blocks; ``pooled``: the configuration blocks of all data sets in one matrix, which
  tests whether the variants differ on these configurations, not across data sets.
- ``paper``: the paper's layout, descriptive only (chi-square and W, no p-value).

No display labels here: the renderers (``report``) lay the record out.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any, Optional

import numpy as np

from pernode_cli.checks import LIMITS
from pernode_cli.errors import PernodeError
from pernode_cli.stats import blocks as blk
from pernode_cli.stats.effects import exact_difference, exact_median
from pernode_cli.stats.exact import Exact
from pernode_cli.stats import procedures as proc
from pernode_cli.stats.direction import (
    direction_note,
    direction_word,
    known_direction,
    resolve_direction,
    selection_column,
)
from pernode_cli.stats.paper import MIN_TOP, paper_statistics, top_values
from pernode_cli.stats.rows import (
    REASONS,
    LeftOut,
    Record,
    clean_rows,
    fairness_text,
    left_out_text,
    match_names,
    mixed_settings,
    mixed_text,
    plain,
    require_columns,
    variant_list,
)
from pernode_cli.stats.tables import best_records, seed_table, top_rows

DESIGNS = ("auto", "configs", "paper")
ACROSS = ("datasets", "pooled")
# ``auto`` runs the configs design on a data set with at least this many complete blocks.
AUTO_MIN_BLOCKS = 3
ACROSS_NAME = "all data sets"


@dataclass(frozen=True, kw_only=True)
class Omnibus(Record):
    """Friedman's test over the blocks (``p`` None: the paper's layout, descriptive only)."""

    test: str = "friedman"
    chi2: float
    df: int
    iman_davenport_f: Optional[float]  # None when every block ranks the variants alike
    kendall_w: float
    p: Optional[float]
    method: str  # exact | permutation | iman-davenport | descriptive
    n_resamples: Optional[int] = None
    min_attainable_p: Optional[float] = None


@dataclass(frozen=True, kw_only=True)
class PairTest(Record):
    """Two-sided Wilcoxon signed-rank test of ``a`` against ``b`` over the blocks."""

    a: str
    b: str
    statistic: float  # T+: sum of the ranks of the positive differences a - b
    p: float
    p_holm: float  # Holm step-down adjusted over the family
    reject: bool  # p_holm <= alpha
    method: str  # exact | normal
    n_used: int  # differences with a sign
    median_difference: Optional[float]  # a minus b, metric units (None where the units are not real: time to target)
    tied: bool = False  # some differences are zero or equal in size (exactly, on the log's decimals)
    # How large and how sure (``stats.effects``, ``stats.bayes``): None with fewer than 2 blocks.
    hodges_lehmann: Optional[float] = None  # of a - b: the median of the Walsh averages
    hodges_lehmann_ci: Optional[tuple] = None  # exact signed-rank interval (None bounds: too few blocks)
    hodges_lehmann_confidence: Optional[float] = None  # the level that interval reaches
    p_improvement: Optional[float] = None  # P(a better than b) over blocks, ties 1/2
    p_improvement_ci: Optional[tuple] = None  # Wilson interval
    bayes_a_better: Optional[float] = None  # with a ROPE: Bayesian signed-rank test
    bayes_equivalent: Optional[float] = None
    bayes_b_better: Optional[float] = None


@dataclass(frozen=True, kw_only=True)
class PostHoc(Record):
    test: str = "wilcoxon signed-rank"
    correction: str = "holm"
    zero_method: str
    alpha: float
    family: str  # all pairs | against control
    control: Optional[str]
    pairs: tuple  # PairTest
    min_attainable_p_holm: float  # the smallest adjusted p this many blocks can give
    blocks_needed: Optional[int]  # fewest blocks at which a pair could be declared different (None: enough)
    rope: Optional[float] = None  # the region of practical equivalence of the Bayesian test (metric units)


@dataclass(frozen=True, kw_only=True)
class VariantRank(Record):
    variant: str
    mean_rank: float  # within-block, 1 = best
    median: Optional[float] = None  # median block value (metric units)
    mean: Optional[float] = None  # of the block values, with a bootstrap interval (``stats.effects``)
    mean_ci: Optional[tuple] = None
    iqm: Optional[float] = None  # interquartile mean of the block values
    iqm_ci: Optional[tuple] = None
    pooled_mean_rank: Optional[float] = None  # the paper's layout: ranks over all n k records
    best: Optional[float] = None  # the paper's layout: the variant's best record


@dataclass(frozen=True, kw_only=True)
class Blocks(Record):
    kind: str  # configurations | data sets | pooled configurations | rank positions
    n: int
    k: int
    columns: tuple  # the settings that tell blocks apart
    seeds: Optional[str] = None  # average | blocks (configuration blocks)
    dropped: int = 0  # blocks lacking a ranked variant
    unequal_seeds: int = 0
    per_dataset: Optional[str] = None  # data-set blocks: mean | best
    variants: tuple = ()  # the matrix's columns
    keys: tuple = ()  # the settings of each block (``columns`` order, all of them)
    values: tuple = ()  # the block matrix: one tuple per block, in ``variants`` order
    strata: tuple = ()  # the data set of each block


@dataclass(frozen=True, kw_only=True)
class Ranking(Record):
    """One data set (or all data sets) ranked under one design."""

    dataset: str
    metric: str
    direction: str  # maximize | minimize
    select: str  # best | last: which epoch of each run
    select_on: str  # the column that picks the best epoch
    design: str  # configs | paper | datasets | pooled
    design_reason: str
    ranked: bool
    reason: str = ""  # why it could not be ranked
    alpha: float = 0.05
    blocks: Optional[Blocks] = None
    omnibus: Optional[Omnibus] = None
    variants: tuple = ()
    posthoc: Optional[PostHoc] = None
    nemenyi_cd: Optional[float] = None  # for reference: conclusions come from ``posthoc``
    conditions: str = ""
    warnings: tuple = ()
    top_rows: tuple = ()
    seed_table: tuple = ()
    left_out: Optional[LeftOut] = None
    mixed_settings: dict = field(default_factory=dict)
    source: str = "logs"  # logs | results table (values produced elsewhere: no epochs, no runs)

    @property
    def maximize(self) -> bool:
        return self.direction == "maximize"


@dataclass(frozen=True, kw_only=True)
class RankOptions:
    """The keywords of ``rank_logs``; ``check`` refuses a bad value, naming it."""

    design: str = "auto"
    metric: Optional[str] = None  # default: test_loss where every row has it, else val_loss
    maximize: Optional[bool] = None  # default: the metric's known direction
    select: Optional[str] = None  # default: best when select_on is another column, else last
    select_on: Optional[str] = None  # default: the validation counterpart of a test metric
    seeds: Optional[str] = None  # default: average (blocks where one configuration has several seeds)
    control: Optional[str] = None
    variants: Any = None
    dataset: Optional[str] = None
    across: Optional[str] = None  # datasets | pooled
    per_dataset: str = "mean"
    alpha: float = 0.05
    zero_method: str = "wilcox"
    rope: Optional[float] = None  # metric units: adds the Bayesian signed-rank test
    target: Optional[str] = None  # "val_acc>=0.95": also rank by training seconds to reach it
    top: int = 5
    table_top: int = 3
    block_columns: Optional[tuple] = None  # a results table's settings that tell blocks apart

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


@dataclass(frozen=True, kw_only=True)
class RankResult(Record):
    datasets: tuple  # Ranking, by data set name
    across: Optional[Ranking] = None
    not_ranked: tuple = ()  # LeftOut of data sets whose every row was left out
    rows_without_dataset: int = 0
    versions: dict = field(default_factory=dict)
    options: dict = field(default_factory=dict)
    kind: str = "logs"  # logs | results table (no epochs: one value per method and block)
    targets: tuple = ()  # Ranking by seconds to ``options["target"]``, per data set
    target_times: Any = field(default=None, repr=False, compare=False)  # stats.target.TargetTimes
    rows: Any = field(default=None, repr=False, compare=False)  # the cleaned rows that were read

    # The renderings of `pernode rank`, for notebooks: the same numbers the command prints.
    def to_frame(self):
        import pandas as pd

        from pernode_cli.report.ranking import result_rows

        return pd.DataFrame(result_rows(self))

    def to_json(self) -> str:
        from pernode_cli.report.ranking import to_json

        return to_json(self)

    def to_markdown(self) -> str:
        from pernode_cli.report.ranking import to_text

        return to_text(self, "markdown")

    def to_latex(self) -> str:
        from pernode_cli.report.ranking import to_text

        return to_text(self, "latex")

    def to_dict(self) -> dict:
        return {"kind": self.kind, "versions": plain(self.versions), "options": plain(self.options),
                "datasets": [d.to_dict() for d in self.datasets],
                "across_datasets": None if self.across is None else self.across.to_dict(),
                "time_to_target": [d.to_dict() for d in self.targets],
                "target_runs": [] if self.target_times is None else [r.to_dict() for r in self.target_times.runs],
                "not_ranked": [x.to_dict() for x in self.not_ranked],
                "rows_without_dataset": self.rows_without_dataset}


def versions() -> dict:
    """What computed the numbers (recorded in every output: p-values depend on them)."""
    import pandas
    import scipy

    from pernode_cli import __version__

    return {"pernode": __version__, "numpy": np.__version__, "scipy": scipy.__version__, "pandas": pandas.__version__}


# --- the settings a ranking resolves from the rows ------------------------------------------


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


# --- the pieces of a record ------------------------------------------------------------------


def _omnibus(m, maximize: bool):
    f = proc.friedman(m, maximize)
    n, k = m.shape
    return Omnibus(chi2=f.chi2, df=k - 1, iman_davenport_f=f.iman_davenport_f, kendall_w=f.kendall_w, p=f.p,
                   method=f.method, n_resamples=f.n_resamples, min_attainable_p=f.min_attainable_p), f.mean_ranks


def _effects(m: Exact, pairs_idx, maximize: bool, rope) -> list:
    """Hodges-Lehmann, P(improvement) and (with a ROPE) the Bayesian probabilities per pair."""
    from pernode_cli.stats.effects import compare_pairs

    if m.nums.shape[0] < 2 or not pairs_idx:
        return [{} for _ in pairs_idx]
    out = []
    for e in compare_pairs(m, maximize, pairs=pairs_idx, rope=rope).pairs:
        out.append(dict(hodges_lehmann=e.hodges_lehmann, hodges_lehmann_ci=e.hodges_lehmann_ci,
                        hodges_lehmann_confidence=e.hodges_lehmann_confidence, p_improvement=e.p_improvement,
                        p_improvement_ci=e.p_improvement_ci, bayes_a_better=e.bayes_a_better,
                        bayes_equivalent=e.bayes_equivalent, bayes_b_better=e.bayes_b_better))
    return out


def _tied(d: Exact) -> bool:
    size = np.abs(d.nums)
    return bool((size == 0).any() or len(np.unique(size)) < len(size))


# Coverage of the mean's 95% expanded-percentile bootstrap interval at few blocks, measured in
# benchmarks/effects_coverage.py (4,000 data sets per cell): normal values / lognormal(0, 1).
FEW_BLOCKS_COVERAGE = {3: (0.75, 0.63), 5: (0.92, 0.81), 10: (0.94, 0.86)}
FEW_BLOCKS = 10  # below this many blocks an interval is flagged as rough


def _interval_warnings(n: int, posthoc) -> list:
    out = []
    if 2 <= n < FEW_BLOCKS:
        at = max(x for x in FEW_BLOCKS_COVERAGE if x <= n) if n >= 3 else 3
        normal, skewed = FEW_BLOCKS_COVERAGE[at]
        out.append(f"The mean and IQM intervals rest on {n} block(s): in simulation a 95% bootstrap interval of the "
                   f"mean at {at} blocks covered {normal:.2f} of the time with normal values and {skewed:.2f} with "
                   f"skewed ones; read them as rough ranges, not as 95% intervals.")
    tied = [f"{x.a} - {x.b}" for x in posthoc.pairs if x.tied and x.hodges_lehmann_ci is not None]
    if tied:
        out.append(f"Hodges-Lehmann intervals of {len(tied)} pair(s) ({', '.join(tied[:6])}"
                   f"{', ...' if len(tied) > 6 else ''}) rest on zero or tied differences: the exact level they state "
                   "assumes no ties, so there it is approximate.")
    return out


def _posthoc(m: Exact, variants, order, control, alpha: float, zero_method: str, maximize: bool = False,
             rope=None) -> PostHoc:
    column = {v: j for j, v in enumerate(variants)}
    if control is None:
        pairs = [(a, b) for i, a in enumerate(order) for b in order[i + 1:]]
    else:
        pairs = [(v, control) for v in order if v != control]
    raw = []
    for a, b in pairs:  # differences exact on the log's decimals (``stats.exact``): ties and zeros are
        d = exact_difference(m[:, column[a]], m[:, column[b]])
        t = proc.signed_rank(d, zero_method)
        raw.append((a, b, t, exact_median(d), _tied(d)))
    adjusted = proc.holm([t.p for _, _, t, _, _ in raw])
    effects = _effects(m, [(column[a], column[b]) for a, b in pairs], maximize, rope)
    tests = tuple(PairTest(a=a, b=b, statistic=t.statistic, p=t.p, p_holm=ph, reject=bool(ph <= alpha),
                           method=t.method, n_used=t.n_used, median_difference=md, tied=tied, **e)
                  for (a, b, t, md, tied), ph, e in zip(raw, adjusted, effects))
    n, family = m.nums.shape[0], len(pairs)
    floor = min(1.0, family * proc.min_signed_rank_p(n)) if family else 1.0
    return PostHoc(zero_method=zero_method, alpha=alpha, family="against control" if control else "all pairs",
                   control=control, pairs=tests, min_attainable_p_holm=floor, rope=rope,
                   blocks_needed=proc.blocks_needed_for_family(family, alpha) if floor > alpha else None)


def _tested(m: blk.BlockMatrix, maximize: bool, control, o: RankOptions):
    """Omnibus, variants (best mean rank first), post-hoc family, Nemenyi CD and the warnings
    that the numbers themselves call for."""
    from pernode_cli.stats.effects import variant_intervals

    ex = m.exact_values()  # the cells exactly: ties and differences on the log's decimals
    omnibus, ranks = _omnibus(ex, maximize)
    intervals = {}
    if m.n >= 2:
        # Pooled blocks of several data sets are resampled within their data set (rliable's
        # stratified bootstrap); data sets as blocks, or one data set's blocks, are one group.
        strata = m.strata if m.kind == "pooled configurations" and len(set(m.strata)) > 1 else None
        for e in variant_intervals(m.values, strata=strata).variants:
            intervals[e.variant] = dict(mean=e.mean, mean_ci=e.mean_ci, iqm=e.iqm, iqm_ci=e.iqm_ci)
    variants = sorted((VariantRank(variant=v, mean_rank=r, median=float(np.median(np.sort(m.values[:, j]))),
                                   **intervals.get(j, {}))
                       for j, (v, r) in enumerate(zip(m.variants, ranks))), key=lambda x: (x.mean_rank, x.variant))
    order = [x.variant for x in variants]
    posthoc = _posthoc(ex, m.variants, order, control, o.alpha, o.zero_method, maximize, o.rope)
    warnings = []
    if omnibus.min_attainable_p is not None and omnibus.min_attainable_p > o.alpha:
        head = (f"With {m.n} block(s) of {m.k} variants the exact Friedman test cannot reach p <= {o.alpha:g} (its "
                f"smallest p here is {omnibus.min_attainable_p:.3g}): no difference can be shown. ")
        if proc.min_friedman_p(m.n, m.k) <= o.alpha:  # enough blocks: their ties are what bind
            warnings.append(head + "The blocks are enough; their tied values leave too few distinct rank patterns.")
        else:
            warnings.append(head + f"It needs at least {proc.friedman_blocks_needed(m.k, o.alpha)} blocks.")
    if posthoc.blocks_needed is not None and posthoc.pairs:
        k1 = m.k - 1
        control_need = proc.blocks_needed_for_family(k1, o.alpha)
        warnings.append(
            f"With {m.n} block(s) the smallest two-sided signed-rank p is {proc.min_signed_rank_p(m.n):.3g}, and Holm "
            f"over {len(posthoc.pairs)} test(s) needs p <= {o.alpha / len(posthoc.pairs):.3g} at its first step: no "
            f"pair can be declared different at alpha {o.alpha:g}. That needs at least {posthoc.blocks_needed} "
            f"blocks" + ("" if control is not None else
                         f"; comparing against one control ({k1} tests) needs {control_need}")
            + ", or rank fewer variants.")
    warnings += _interval_warnings(m.n, posthoc)
    cd = proc.nemenyi_cd(m.k, m.n, o.alpha) if m.k >= 2 and m.n >= 1 else None
    return omnibus, tuple(variants), posthoc, cd, warnings


def _design_warnings(m: blk.BlockMatrix, r: Resolved, configurations: int) -> list:
    out = []
    if r.select == "best" and r.select_on == r.metric:
        out.append(
            f"Each run's epoch is chosen on {r.metric}, the metric compared: that favours variants whose "
            "epoch-to-epoch noise is larger (in simulation a variant twice as noisy with the same mean was "
            "declared different in 14-19% of null logs). Log a test split and compare test_loss, or compare "
            "each run's last epoch (`select` last).")
    if m.seeds == "blocks" and configurations > 1:
        out.append(
            f"Seeds are blocks although the rows hold {configurations} configurations: seeds of one configuration "
            "share its settings and any variant-by-setting interaction, so these p-values can exceed their level "
            "(36% rejections at 0.05 in simulation). Average the seeds instead (`seeds` average).")
    if m.unequal_seeds:
        out.append(f"{m.unequal_seeds} block(s) average different numbers of seeds (or repeats) for different "
                   "variants, so their values are not equally precise.")
    return out


CONDITIONS = {
    "configs": ("The p-values hold their level when the blocks are independent (separate runs with independent "
                "seeds), each run's epoch is chosen on another split than the one compared (or the last epoch is "
                "compared), and the ranked rows do not mix settings. Which pairs differ is read from the "
                "Wilcoxon-Holm tests, which control the family-wise error over the tests made; the Nemenyi "
                "critical difference (mean-rank based) is shown for reference only."),
    "datasets": ("Demsar's design: one value per variant per data set, the data sets as blocks. The p-values hold "
                 "their level when the data sets are independent and each value was chosen without looking at the "
                 "compared split. Which pairs differ is read from the Wilcoxon-Holm tests; the Nemenyi critical "
                 "difference is for reference only."),
    "pooled": ("Pooled configuration blocks of several data sets: blocks of one data set share its effects, so this "
               "tests whether the variants differ on these data sets' configurations, not whether they differ "
               "across data sets (under a variant-by-data-set interaction alone it rejected 94% of simulated "
               "logs). Use the data-set design for a claim across data sets."),
    "paper": ("The paper's layout is descriptive: its blocks are each variant's best records, order statistics of "
              "one sample, so its chi-square and W describe those records and no p-value is given (on logs where "
              "no variant differs it would reject almost always). Use the configs design for any claim that one "
              "variant beats another."),
}


def _varying(m: blk.BlockMatrix) -> tuple:
    """The settings whose values differ between blocks (the others are constant)."""
    return tuple(c for i, c in enumerate(m.columns) if len({repr(key[i]) for key in m.keys}) > 1)


def _blocks_record(m: blk.BlockMatrix, per_dataset=None) -> Blocks:
    return Blocks(kind=m.kind, n=m.n, k=m.k, columns=_varying(m), seeds=m.seeds if m.kind != "data sets" else None,
                  dropped=m.dropped, unequal_seeds=m.unequal_seeds, per_dataset=per_dataset, variants=m.variants,
                  keys=tuple(tuple(plain(v) for v in key) for key in m.keys),
                  values=tuple(tuple(float(x) for x in row) for row in m.values), strata=tuple(m.strata))


def _not_ranked(name: str, r: Resolved, design: str, reason: str, o: RankOptions, **extra) -> Ranking:
    return Ranking(dataset=name, metric=r.metric, direction=direction_word(r.maximize), select=r.select,
                   select_on=r.select_on, design=design, design_reason=extra.pop("design_reason", ""), ranked=False,
                   reason=reason, alpha=o.alpha, conditions=CONDITIONS.get(design, ""), **extra)


def _configurations(group) -> int:
    """Configurations (settings other than the variant and seed) in a data set's rows."""
    cols = [c for c in blk.config_columns(group) if c != "seed"]
    if not cols:
        return 1
    return int(group.groupby(cols, dropna=False, sort=False).ngroups)


def _configs_ranking(name, m: blk.BlockMatrix, r: Resolved, o: RankOptions, control, reason: str,
                     configurations: int, **common) -> Ranking:
    if m.n == 0:
        return _not_ranked(name, r, "configs", (
            f"no complete block: no configuration was run by every one of the {m.k} variants ({m.dropped} "
            "incomplete); run every variant at the same settings, or rank fewer variants"), o,
            design_reason=reason, blocks=_blocks_record(m), **common)
    omnibus, variants, posthoc, cd, warnings = _tested(m, r.maximize, control, o)
    warnings = _design_warnings(m, r, configurations) + warnings
    return Ranking(dataset=name, metric=r.metric, direction=direction_word(r.maximize), select=r.select,
                   select_on=r.select_on, design="configs", design_reason=reason, ranked=True, alpha=o.alpha,
                   blocks=_blocks_record(m), omnibus=omnibus, variants=variants, posthoc=posthoc, nemenyi_cd=cd,
                   conditions=CONDITIONS["configs"], warnings=tuple(warnings + list(common.pop("warnings", ()))),
                   **common)


def _paper_ranking(name, group, variants, r: Resolved, o: RankOptions, reason: str, **common) -> Ranking:
    counts = {v: int((group["variant"] == v).sum()) for v in variants}
    short = {v: c for v, c in counts.items() if c < o.top}
    if short:
        worst = min(short.values())
        fix = (f"set `top` to {worst} or fewer" if worst >= MIN_TOP else
               f"the paper's layout needs at least {MIN_TOP} records of every variant")
        return _not_ranked(name, r, "paper", (
            f"variant(s) {', '.join(f'{v} ({c})' for v, c in sorted(short.items()))} have fewer than {o.top} records "
            f"(`top`); {fix}"), o, design_reason=reason, **common)
    m = top_values(group, r.metric, o.top, r.maximize, variants)
    s = paper_statistics(m, r.maximize)
    n, k = m.shape
    ranked = sorted((VariantRank(variant=v, mean_rank=float(s["mean_ranks"][j]),
                                 pooled_mean_rank=float(s["pooled_mean_ranks"][j]), best=float(s["best"][j]))
                     for j, v in enumerate(variants)), key=lambda x: (x.pooled_mean_rank, x.mean_rank, x.variant))
    omnibus = Omnibus(chi2=float(s["chi2"]), df=k - 1, iman_davenport_f=None, kendall_w=float(s["kendall_w"]),
                      p=None, method="descriptive")
    return Ranking(dataset=name, metric=r.metric, direction=direction_word(r.maximize), select=r.select,
                   select_on=r.select_on, design="paper", design_reason=reason, ranked=True, alpha=o.alpha,
                   blocks=Blocks(kind="rank positions", n=n, k=k, columns=(), seeds=None),
                   omnibus=omnibus, variants=tuple(ranked), nemenyi_cd=float(s["critical_difference"]),
                   conditions=CONDITIONS["paper"], **common)


def _choose(o: RankOptions, averaged: blk.BlockMatrix, as_blocks: blk.BlockMatrix, configurations: int):
    """``(design, matrix, reason)``: the design that runs on this data set and why."""
    if o.seeds is not None:  # asked for
        m = averaged if o.seeds == "average" else as_blocks
        if o.design == "configs" or (o.design == "auto" and m.n >= AUTO_MIN_BLOCKS):
            return "configs", m, "asked for" if o.design == "configs" else (
                f"chosen automatically: {m.n} complete blocks, at least {AUTO_MIN_BLOCKS} needed")
    elif averaged.n >= AUTO_MIN_BLOCKS or (o.design == "configs" and configurations > 1):
        return "configs", averaged, ("asked for" if o.design == "configs" else
                                     f"chosen automatically: {averaged.n} complete blocks (configurations every "
                                     f"variant ran, seeds averaged), at least {AUTO_MIN_BLOCKS} needed")
    elif configurations == 1 and as_blocks.n >= (1 if o.design == "configs" else AUTO_MIN_BLOCKS):
        return "configs", as_blocks, (
            f"{'asked for' if o.design == 'configs' else 'chosen automatically'}: one configuration, so its "
            f"{as_blocks.n} seeds are the blocks (independent runs with no other setting to interact with)")
    if o.design == "configs":
        return "configs", averaged, "asked for"
    return "paper", None, (
        f"chosen automatically: {averaged.n} complete block(s) of configurations (fewer than {AUTO_MIN_BLOCKS}) "
        "and no single configuration with enough seeds, so the paper's layout describes the best records instead")


def _rank_dataset(group, name: str, left: LeftOut, r: Resolved, o: RankOptions, control, table: bool = False) -> Ranking:
    present = sorted(str(v) for v in group["variant"].unique())
    variants = sorted(o.variants) if o.variants is not None else present
    cols = list(o.block_columns) if o.block_columns is not None else None
    runs = blk.run_values(group, r.metric, r.select, r.select_on, r.select_maximize,
                          blk.config_columns(group) if cols is None else cols)  # once: every table below reads it
    common = dict(top_rows=top_rows(group, r.metric, o.table_top, r.maximize), left_out=left,
                  seed_table=seed_table(group, r.metric, r.select, r.select_on, r.maximize, r.select_maximize,
                                        o.table_top, values=runs if cols is None else None),
                  mixed_settings=mixed_settings(group))
    mixed = mixed_text(common["mixed_settings"])
    fair = fairness_text(common["mixed_settings"])
    common["warnings"] = tuple(w for w in (fair, mixed) if w)
    if len(variants) < 2:
        design = "paper" if o.design == "paper" else "configs"
        return _not_ranked(name, r, design, (
            f"one variant ({', '.join(variants)}): a ranking needs at least 2 variants run at the same settings; "
            "log more variants"), o, design_reason="" if o.design == "auto" else "asked for", **common)
    if control is not None and control not in variants:
        return _not_ranked(name, r, "configs", f"`control` {control} has no rows in this data set", o, **common)
    averaged = blk.block_matrices(group, r.metric, r.select, r.select_on, r.select_maximize, "average", variants,
                                  cols, values=runs)[name]
    as_blocks = blk.block_matrices(group, r.metric, r.select, r.select_on, r.select_maximize, "blocks", variants,
                                   cols, values=runs)[name]
    configurations = _configurations(group)
    if table and averaged.n + averaged.dropped <= 1:
        return _not_ranked(name, r, "configs", (
            "one value per method: in a results table such a data set is one block of the ranking across data "
            "sets (give `block_columns` for blocks within it)"), o, design_reason="a results table", **common)
    if o.design == "paper":
        design, m, reason = "paper", None, "asked for"
    else:
        design, m, reason = _choose(o, averaged, as_blocks, configurations)
    if design == "paper":
        paper = _paper_ranking(name, group, variants, r, o, reason, **common)
        if control is not None and paper.ranked:
            paper = replace(paper, design_reason=paper.design_reason + "; `control` is not used by the paper's layout")
        return paper
    return _configs_ranking(name, m, r, o, control, reason, configurations, **common)


def _not_everywhere(matrices: dict, ranked) -> dict:
    """``{variant: [data sets without it]}`` of the variants some data set ran but the ranking left out."""
    present = {v for m in matrices.values() for v in m.variants if m.n}
    return {v: [name for name, m in sorted(matrices.items()) if v not in m.variants or not m.n]
            for v in sorted(present - set(ranked))}


def _rank_across(clean, r: Resolved, o: RankOptions, control) -> Ranking:
    groups = dict(clean.groups())
    matrices = {}
    for name, group in groups.items():
        matrices.update(blk.block_matrices(group, r.metric, r.select, r.select_on, r.select_maximize,
                                           o.seeds or "average", o.variants,
                                           list(o.block_columns) if o.block_columns is not None else None))
    totals = {k: sum(getattr(x, k) for x in clean.left_out) for k in ("rows", "ranked", *REASONS)}
    left = LeftOut(dataset=ACROSS_NAME, **totals)
    design = "datasets" if o.across == "datasets" else "pooled"
    if o.across == "datasets":
        m = blk.dataset_blocks(matrices, o.per_dataset, r.select_maximize, o.variants)
        reason = (f"asked for: the data sets are the blocks, each variant's value per data set is the "
                  f"{'mean over its configurations' if o.per_dataset == 'mean' else 'best configuration, chosen on ' + r.select_on}")
    else:
        m = blk.pooled_blocks(matrices, o.variants)
        reason = "asked for: the configuration blocks of every data set in one matrix"
    mixed = mixed_settings(clean.frame)
    base = dict(left_out=left, mixed_settings=mixed, design_reason=reason)
    if len(groups) < 2:
        return _not_ranked(ACROSS_NAME, r, design, f"a ranking across data sets needs at least 2 data sets; the "
                           f"rows hold {len(groups)}", o, **base)
    if m.k < 2 or m.n == 0:
        return _not_ranked(ACROSS_NAME, r, design, (
            f"{m.n} data set(s) with a value for every one of {m.k} variant(s) that all data sets ran "
            f"({m.dropped} dropped); run the same variants on every data set"), o,
            blocks=_blocks_record(m, o.per_dataset if design == "datasets" else None), **base)
    if control is not None and control not in m.variants:
        return _not_ranked(ACROSS_NAME, r, design, f"`control` {control} was not run on every data set", o, **base)
    omnibus, variants, posthoc, cd, warnings = _tested(m, r.maximize, control, o)
    design_warnings = _design_warnings(m, r, 2) if design == "pooled" else (
        [w for w in _design_warnings(m, r, 1)])
    if design == "pooled":
        design_warnings.append(CONDITIONS["pooled"])
    missing = _not_everywhere(matrices, m.variants)
    if missing:
        design_warnings.append(
            "Left out across data sets, for not having run on every data set: " + "; ".join(
                f"{v} (not on {', '.join(where)})" for v, where in missing.items()) + ".")
    text = mixed_text(mixed)
    return Ranking(dataset=ACROSS_NAME, metric=r.metric, direction=direction_word(r.maximize), select=r.select,
                   select_on=r.select_on, design=design, design_reason=reason, ranked=True, alpha=o.alpha,
                   blocks=_blocks_record(m, o.per_dataset if design == "datasets" else None), omnibus=omnibus,
                   variants=variants, posthoc=posthoc, nemenyi_cd=cd, conditions=CONDITIONS[design],
                   warnings=tuple(design_warnings + warnings + ([text] if text else [])), left_out=left,
                   mixed_settings=mixed)


def rank_logs(frame, **options) -> RankResult:
    """Rank a merged log frame (``RankOptions`` lists the keywords): one ``Ranking`` per data
    set, and one across data sets when ``across`` is given. A data set that cannot be ranked
    (one variant, no complete block) gets a record that says why; it never stops the others."""
    o = RankOptions(**options).check()
    r = resolve(frame, o)
    clean = clean_rows(frame, r.metric, o.dataset, o.variants)
    groups = clean.groups()
    if not groups:
        raise PernodeError(f"The log(s) hold no finished rows with status ok to rank ({_all_left_out(clean)}).")
    present = sorted(str(v) for v in clean.frame["variant"].unique())
    names = None if o.variants is None else match_names(variant_list(o.variants), present, "variants")
    if o.control is not None and names is not None and str(o.control).lower() not in {n.lower() for n in names}:
        raise PernodeError(f"`control` {o.control!r} is not one of the variants named in `variants`.")
    control = None if o.control is None else match_names([o.control], present, "control")[0]
    o = replace(o, variants=names)
    kind = "logs" if "epoch" in frame.columns else "results table"
    auto_across = (kind == "results table" and o.across is None and len(groups) >= 2
                   and all(_single_block(g, r, o) for _, g in groups))
    if auto_across:
        o = replace(o, across="datasets")  # one value per method and data set: the data sets are the blocks
    table = kind == "results table"
    datasets = tuple(_rank_dataset(g, n, clean.of(n), r, o, control, table) for n, g in groups)
    across = _rank_across(clean, r, o, control) if o.across is not None else None
    if table:
        datasets = tuple(replace(d, source=kind) for d in datasets)
        across = None if across is None else replace(across, source=kind)
        if auto_across and across is not None:
            across = replace(across, design_reason="a results table with one value per method and data set, so the "
                                                   "data sets are the blocks (Demsar 2006)")
    if r.default_note:
        datasets = tuple(replace(d, warnings=(f"Defaults: {r.default_note}.",) + d.warnings) for d in datasets)
    if r.direction_note:
        datasets = tuple(replace(d, warnings=(r.direction_note,) + d.warnings) for d in datasets)
        across = None if across is None else replace(across, warnings=(r.direction_note,) + across.warnings)
    targets, times = _rank_targets(frame, o, control) if o.target is not None else ((), None)
    return RankResult(datasets=datasets, across=across, not_ranked=tuple(x for x in clean.left_out if x.ranked == 0),
                      rows_without_dataset=clean.no_dataset, versions=versions(),
                      options=_echo(o, r), kind=kind, targets=targets, target_times=times, rows=clean.frame)


def _rank_targets(frame, o: RankOptions, control) -> tuple:
    """Per data set, the configs design over each run's training seconds to the target (a
    run that never meets it ranks last: ``stats.target``)."""
    import pandas as pd

    from pernode_cli.stats.target import censored_as_worst, parse_target, time_to_target

    t = parse_target(o.target)
    times = time_to_target(frame, t, dataset=o.dataset, variants=o.variants)
    metric = f"seconds to {t.text}"
    rows = pd.DataFrame([{"dataset": r.dataset, "variant": r.variant, "run_id": f"{r.run_id}#{r.attempt}",
                          **dict(r.settings), metric: r.block_value} for r in times.runs])
    r = Resolved(metric, False, "target", t.text, False, "")
    out = []
    for name, group in sorted(rows.groupby("dataset", sort=False), key=lambda g: str(g[0])):
        variants = sorted(o.variants) if o.variants is not None else sorted(set(group["variant"]))
        if len(variants) < 2:
            out.append(_not_ranked(str(name), r, "configs", "one variant: nothing to rank it against", o))
            continue
        cols = [c for c in blk.config_columns(group)]
        m = blk.block_matrices(group, metric, "last", metric, False, o.seeds or "average", variants, cols)[str(name)]
        finite = replace(m, values=censored_as_worst(m.values), exact=None)  # ranks as censored; exact from these
        reason = ("the configs design over each run's training seconds to the first epoch that meets "
                  f"{t.text}; a run that never meets it ranks last (censored)")
        # --rope is in the metric's units, not seconds: no Bayesian comparison of times.
        ranked = _configs_ranking(str(name), finite, r, replace(o, rope=None), control, reason,
                                  _configurations(group))
        if ranked.ranked:  # a censored run's stand-in value is a rank, not seconds: no sizes in seconds
            ranked = replace(ranked, variants=tuple(replace(v, median=None, mean=None, mean_ci=None, iqm=None,
                                                            iqm_ci=None) for v in ranked.variants),
                             posthoc=replace(ranked.posthoc, pairs=tuple(
                                 replace(t, median_difference=None, hodges_lehmann=None, hodges_lehmann_ci=None,
                                         hodges_lehmann_confidence=None) for t in ranked.posthoc.pairs)),
                             blocks=replace(ranked.blocks, values=tuple(
                                 tuple(float(x) if np.isfinite(x) else None for x in row) for row in m.values)))
        out.append(replace(ranked, warnings=ranked.warnings + ((
            "Runs that never met the target are tied below every run that met it (null in the block values); the "
            "tests and P(A better) are rank-based, so they hold, but no difference is given in seconds (a censored "
            "run has none)" + ("" if o.rope is None else ", and no Bayesian comparison (the ROPE is in units of "
                                                        f"{o.metric or 'the metric'}, not seconds)") + "."),)))
    return tuple(out), times


def _single_block(group, r: Resolved, o: RankOptions) -> bool:
    columns = list(o.block_columns) if o.block_columns is not None else None
    (m,) = blk.block_matrices(group, r.metric, r.select, r.select_on, r.select_maximize, "average", None,
                              columns).values()
    return m.n + m.dropped <= 1


def _echo(o: RankOptions, r: Resolved) -> dict:
    return {"design": o.design, "metric": r.metric, "direction": direction_word(r.maximize), "select": r.select,
            "select_on": r.select_on, "seeds": o.seeds, "control": o.control, "variants": o.variants,
            "dataset": o.dataset, "across": o.across, "per_dataset": o.per_dataset, "alpha": o.alpha,
            "zero_method": o.zero_method, "rope": o.rope, "top": o.top, "table_top": o.table_top}


def _all_left_out(clean) -> str:
    parts = [f"{x.dataset}: {left_out_text(x)}" for x in clean.left_out]
    if clean.no_dataset:
        parts.append(f"{clean.no_dataset} row(s) with an empty data set")
    return "; ".join(parts) or "no rows"


def best_records_of(d: Ranking, rows, n: int = 3):
    """The rows behind Table I / Fig. 2: each variant's ``n`` best records by the metric."""
    return best_records(rows, d.metric, n, d.maximize)


__all__ = ["ACROSS", "DESIGNS", "Blocks", "Omnibus", "PairTest", "PostHoc", "RankOptions", "RankResult", "Ranking",
           "VariantRank", "best_records_of", "rank_logs", "resolve", "versions"]
_ = math
