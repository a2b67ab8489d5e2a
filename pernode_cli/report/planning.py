"""Rendering of the planner's records (``stats.planning``): how many configurations and seeds."""

from __future__ import annotations

import json

from pernode_cli.report.document import Heading, Table, Text, print_rich, to_markdown
from pernode_cli.stats.direction import direction_text


def _power_table(d, kind: str):
    p = d.plan
    grid = getattr(p, f"{kind}_power")
    rows = tuple({"seeds": s, **{f"{c} configs": grid[i][j] for j, c in enumerate(p.n_configs)}}
                 for i, s in enumerate(p.n_seeds))
    what = ("Friedman's test over the blocks (seeds averaged)" if kind == "omnibus" else
            f"Wilcoxon-Holm of {d.shifted} against {d.control}")
    return Table(rows, f"{d.dataset}: estimated power of {what} to detect {d.shifted} better by {d.delta:g} "
                       f"({d.metric}), alpha {p.alpha:g}")


def _smallest(d, kind: str) -> str:
    p = d.plan
    best = getattr(p, f"{kind}_smallest")
    what = "the omnibus test" if kind == "omnibus" else f"the comparison with {d.control}"
    if best is None:
        return (f"No design in the grid reaches {p.power:.0%} power for {what}: the difference is too small for "
                "these sizes, or the pilot too noisy.")
    c, s = best
    return (f"Smallest design reaching {p.power:.0%} power for {what}: {c} configurations x {s} seed(s) "
            f"({c * s} runs per variant).")


def plan_blocks(result) -> list:
    blocks = []
    for d in result.datasets:
        blocks.append(Heading(2, f"How many runs: data set {d.dataset}, {d.metric} "
                                 f"({direction_text(d.direction == 'maximize')})"))
        blocks += [Text(w, "caution") for w in d.warnings]
        if not d.planned:
            blocks.append(Text(f"Not planned: {d.reason}.", "caution"))
            continue
        pc = d.plan.pilot
        blocks.append(Text(
            f"Resampling this pilot's {pc.configs_used} complete configurations (of {pc.n_configs}; up to "
            f"{pc.max_seeds} seeds) with the observed variant effects removed and {d.shifted} made better by "
            f"{d.delta:g}: {d.plan.n_resamples:,} simulated designs per size (seed {d.plan.seed}). Seed spread "
            f"{'unknown (one seed per configuration)' if pc.seed_sd is None else f'{pc.seed_sd:.3g}'}, "
            f"configuration x variant spread {pc.interaction_sd:.3g}, in {d.metric}."))
        blocks += [_power_table(d, "omnibus"), Text(_smallest(d, "omnibus"))]
        if d.plan.control_power is not None:
            blocks += [_power_table(d, "control"), Text(_smallest(d, "control"))]
        blocks.append(Text("Power is that of the tests `pernode rank` runs on such a design: Friedman's test with the "
                           "p-value it prints (exact, permutation or Iman-Davenport by size) and, against a control, "
                           "Wilcoxon-Holm; a Monte Carlo estimate (standard error at most "
                           f"{0.5 / d.plan.n_resamples ** 0.5:.3f}).", "note"))
    return blocks


def print_plan(result, console) -> None:
    print_rich(plan_blocks(result), console)


def render(result, fmt: str):
    if fmt == "json":
        return json.dumps({"versions": result.versions, "datasets": [d.to_dict() for d in result.datasets]},
                          indent=2, allow_nan=False)
    if fmt == "markdown":
        return to_markdown(plan_blocks(result))
    return None
