"""The records of a ranking: one immutable record per data set and design, and the result of a
whole ranking. Plain data with strict JSON (``to_dict``); rendering lives in ``rendering``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional


from pernode_cli.stats.effects import PairStatistics
from pernode_cli.schema import plain
from pernode_cli.stats.rows import LeftOut, Record


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
class _Test(Record):
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


@dataclass(frozen=True, kw_only=True)
class PairTest(PairStatistics, _Test):
    """Two-sided Wilcoxon signed-rank test of ``a`` against ``b`` over the blocks, and how large and
    how sure the difference is (``stats.effects.PairStatistics``: None with fewer than 2 blocks)."""


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

    def to_dict(self) -> dict:
        return {"kind": self.kind, "versions": plain(self.versions), "options": plain(self.options),
                "datasets": [d.to_dict() for d in self.datasets],
                "across_datasets": None if self.across is None else self.across.to_dict(),
                "time_to_target": [d.to_dict() for d in self.targets],
                "target_runs": [] if self.target_times is None else [r.to_dict() for r in self.target_times.runs],
                "not_ranked": [x.to_dict() for x in self.not_ranked],
                "rows_without_dataset": self.rows_without_dataset}
