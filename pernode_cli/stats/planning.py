"""How many seeds, how many configurations: the planner (``stats.power``) on a pilot log.

``plan_logs(frame, delta, **options)`` reads the rows a ranking reads (same cleaning, metric,
direction and epoch selection as ``rank_logs``), makes each data set's pilot tensor
``pilot[configuration, seed, variant]`` (``NaN`` where a run is missing) and estimates, by
resampling its configurations and seeds, the power of the configs design (seeds averaged)
to detect a difference of ``delta`` in metric units: for Friedman's omnibus test with the
p-value the ranking prints (exact, permutation or Iman-Davenport by size:
``procedures.friedman_p_stack``) and, with a ``control``, for the Wilcoxon-Holm comparison
against it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Optional

import numpy as np

from pernode_cli.errors import PernodeError
from pernode_cli.stats import blocks as blk
from pernode_cli.stats import procedures as proc
from pernode_cli.stats.direction import direction_word
from pernode_cli.stats.ranking import RankOptions, resolve, versions
from pernode_cli.stats.rows import Record, clean_rows, match_names, variant_list


SMALL_PILOT = 20  # configurations below which a pilot's power interval is flagged as too narrow


@dataclass(frozen=True, kw_only=True)
class DatasetPlan(Record):
    dataset: str
    metric: str
    direction: str
    select: str
    select_on: str
    delta: float
    variants: tuple  # the pilot's columns
    shifted: str  # the variant shifted by delta in the simulated designs
    control: Optional[str]
    planned: bool
    reason: str = ""
    plan: Any = None  # stats.power.PowerPlan
    warnings: tuple = ()  # what bears on the plan, in words


@dataclass(frozen=True, kw_only=True)
class PlanResult(Record):
    datasets: tuple
    versions: dict


def pilot_tensor(rows, r, variants) -> tuple[np.ndarray, tuple]:
    """``pilot[c, s, v]`` from one data set's cleaned rows, and the configurations' keys."""
    columns = blk.config_columns(rows)
    values = blk.run_values(rows, r.metric, r.select, r.select_on, r.select_maximize, columns)
    config_cols = [c for c in columns if c != "seed"]
    configs: dict = {}
    for row in values.itertuples(index=False):
        key = tuple(blk._cell(getattr(row, c)) for c in config_cols)
        seed = blk._cell(row.seed) if "seed" in columns else 0
        configs.setdefault(key, {}).setdefault(seed, {})[str(row.variant)] = row.value
    keys = sorted(configs, key=lambda k: tuple(blk.sort_key(v) for v in k))
    max_seeds = max((len(configs[k]) for k in keys), default=0)
    pilot = np.full((len(keys), max_seeds, len(variants)), np.nan)
    for c, key in enumerate(keys):
        for s, seed in enumerate(sorted(configs[key], key=blk.sort_key)):
            for v, name in enumerate(variants):
                if name in configs[key][seed]:
                    pilot[c, s, v] = configs[key][seed][name]
    return pilot, tuple(keys)


def plan_logs(frame, delta: float, control: Optional[str] = None, shifted: Optional[str] = None,
              power: float = 0.8, n_resamples: int = 1000, **options) -> PlanResult:
    """The planner on every data set of a merged log frame (``options`` as ``RankOptions``)."""
    from pernode_cli.stats.power import check_plan_arguments, plan_sizes

    o = RankOptions(**options).check()
    # Arguments are checked before any data set, so bad input is an error, not a data set "not planned".
    check_plan_arguments(delta, o.alpha, power, n_resamples)
    r = resolve(frame, o)
    clean = clean_rows(frame, r.metric, o.dataset, o.variants)
    groups = clean.groups()
    if not groups:
        raise PernodeError("The log(s) hold no finished rows with status ok to plan from.")
    present = sorted(set(clean.frame["variant"]))
    names = None if o.variants is None else match_names(variant_list(o.variants), present, "variants")
    control = None if control is None else match_names([control], present, "control")[0]
    shifted = None if shifted is None else match_names([shifted], present, "shifted")[0]
    if shifted is not None and shifted == control:
        raise PernodeError(f"`shifted` is the `control` ({control}): the variant shifted by `delta` must be another "
                           "one.")
    out = []
    for name, group in groups:
        variants = tuple(sorted(names if names is not None else set(group["variant"])))
        base = dict(dataset=name, metric=r.metric, direction=direction_word(r.maximize), select=r.select,
                    select_on=r.select_on, delta=float(delta), variants=variants, control=control,
                    warnings=(r.direction_note,) if r.direction_note else ())
        pick = shifted or next((v for v in variants if v != control), variants[0])
        base["shifted"] = pick
        if len(variants) < 3:
            out.append(DatasetPlan(planned=False, reason=f"{len(variants)} variant(s): Friedman's test, which the "
                                                         "planner sizes, needs at least 3", **base))
            continue
        pilot, _ = pilot_tensor(group, r, variants)
        try:
            plan = plan_sizes(pilot, float(delta), r.maximize, alpha=o.alpha, block_test=proc.friedman_p_stack,
                              vectorized=True,
                              control=None if control is None else variants.index(control),
                              target=variants.index(pick), power=power, n_resamples=n_resamples)
        except PernodeError as exc:
            out.append(DatasetPlan(planned=False, reason=str(exc).rstrip("."), **base))
            continue
        if plan.pilot.configs_used < SMALL_PILOT:
            base["warnings"] = base["warnings"] + (
                f"A pilot of {plan.pilot.configs_used} configurations says little about the spread of block values: "
                "in simulation (benchmarks/plan_power_interval.py) the 80% power interval of pilots of 10 "
                "configurations covered the true power 62-75% of the time, and the design recommended on its "
                "lower end truly reached 80% power for 74% of pilots (51% on the point estimate alone). Plan again "
                "from a larger pilot before committing to a design.",)
        out.append(DatasetPlan(planned=True, plan=plan, **base))
    return PlanResult(datasets=tuple(out), versions=versions())


_ = replace
