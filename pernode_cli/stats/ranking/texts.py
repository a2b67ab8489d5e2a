"""The words of a ranking: the conditions under which each design's p-values hold, and the
warnings its numbers call for."""

from __future__ import annotations



from pernode_cli.stats import blocks as blk
from pernode_cli.stats.rows import (
    left_out_text,
)
from pernode_cli.stats.ranking.options import Resolved


# Coverage of the mean's 95% expanded-percentile bootstrap interval at few blocks, measured in
# benchmarks/effects_coverage.py (4,000 data sets per cell): normal values / lognormal(0, 1).
FEW_BLOCKS_COVERAGE = {3: (0.75, 0.63), 5: (0.92, 0.81), 10: (0.94, 0.86)}


FEW_BLOCKS = 10  # below this many blocks an interval is flagged as rough


def interval_warnings(n: int, posthoc) -> list:
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


def design_warnings(m: blk.BlockMatrix, r: Resolved, configurations: int) -> list:
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


def all_left_out(clean) -> str:
    parts = [f"{x.dataset}: {left_out_text(x)}" for x in clean.left_out]
    if clean.no_dataset:
        parts.append(f"{clean.no_dataset} row(s) with an empty data set")
    return "; ".join(parts) or "no rows"
