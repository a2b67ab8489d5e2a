"""Time to target: the configs design over each run's training seconds to a target."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from pernode_cli.stats import blocks as blk
from pernode_cli.stats.ranking.designs import configs_ranking, configurations_in, not_ranked
from pernode_cli.stats.ranking.options import RankOptions, Resolved


def rank_targets(frame, o: RankOptions, control) -> tuple:
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
            out.append(not_ranked(str(name), r, "configs", "one variant: nothing to rank it against", o))
            continue
        cols = [c for c in blk.config_columns(group)]
        m = blk.block_matrices(group, metric, "last", metric, False, o.seeds or "average", variants, cols)[str(name)]
        finite = replace(m, values=censored_as_worst(m.values), exact=None)  # ranks as censored; exact from these
        reason = ("the configs design over each run's training seconds to the first epoch that meets "
                  f"{t.text}; a run that never meets it ranks last (censored)")
        # --rope is in the metric's units, not seconds: no Bayesian comparison of times.
        ranked = configs_ranking(str(name), finite, r, replace(o, rope=None), control, reason,
                                  configurations_in(group))
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
