"""Rendering of the planner's records (``stats.planning``): how many configurations and seeds."""

from __future__ import annotations

import json

from pernode_cli.rendering.document import Heading, Table, Text, print_rich, to_markdown
from pernode_cli.rendering.numbers import fixed, short
from pernode_cli.stats.direction import direction_text


def _power_cell(point: float, low, high, i: int, j: int) -> str:
    if low is None:
        return fixed(point, 2)
    return f"{fixed(point, 2)} ({fixed(low[i][j], 2)}-{fixed(high[i][j], 2)})"


def _power_table(d, kind: str):
    p = d.plan
    grid = getattr(p, f"{kind}_power")
    low, high = getattr(p, f"{kind}_power_low"), getattr(p, f"{kind}_power_high")
    rows = tuple({"seeds": s, **{f"{c} configs": _power_cell(grid[i][j], low, high, i, j)
                                 for j, c in enumerate(p.n_configs)}}
                 for i, s in enumerate(p.n_seeds))
    what = ("Friedman's test over the blocks (seeds averaged)" if kind == "omnibus" else
            f"Wilcoxon-Holm of {d.shifted} against {d.control}")
    how = (f"; in brackets the {p.interval:.0%} interval over {p.pilot_resamples} resampled pilots"
           if p.omnibus_power_low is not None else "")
    return Table(rows, f"{d.dataset}: estimated power of {what} to detect {d.shifted} better by {d.delta:g} "
                       f"({d.metric}), alpha {p.alpha:g}{how}")


def smallest_text(d, kind: str) -> str:
    """The smallest design the planner recommends for `kind` (omnibus or control), in a sentence."""
    p = d.plan
    best = getattr(p, f"{kind}_smallest")
    estimate = getattr(p, f"{kind}_smallest_estimate")
    what = "the omnibus test" if kind == "omnibus" else f"the comparison with {d.control}"
    sure = p.omnibus_power_low is not None
    reach = (f"whose power's lower {p.interval:.0%} bound reaches {p.power:.0%}" if sure else
             f"reaching {p.power:.0%} power")
    if best is None:
        text = (f"No design in the grid {'has a power whose lower bound reaches' if sure else 'reaches'} "
                f"{p.power:.0%} for {what}: the difference is too small for these sizes, or the pilot too noisy "
                "or too small to say.")
    else:
        c, s = best
        text = f"Smallest design {reach} for {what}: {c} configurations x {s} seed(s) ({c * s} runs per variant)."
    if sure and estimate is not None and estimate != best:
        text += (f" On the point estimate alone {estimate[0]} configurations x {estimate[1]} seed(s) would do, but "
                 "the pilot cannot vouch for it.")
    return text


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
            f"{'unknown (one seed per configuration)' if pc.seed_sd is None else short(pc.seed_sd)}, "
            f"configuration x variant spread {short(pc.interaction_sd)}, in {d.metric}."))
        blocks += [_power_table(d, "omnibus"), Text(smallest_text(d, "omnibus"))]
        if d.plan.control_power is not None:
            blocks += [_power_table(d, "control"), Text(smallest_text(d, "control"))]
        blocks.append(Text("Power is that of the tests pernode rank runs on such a design: Friedman's test with the "
                           "p-value it prints (exact, permutation or Iman-Davenport by size) and, against a control, "
                           "Wilcoxon-Holm; a Monte Carlo estimate (standard error at most "
                           f"{fixed(0.5 / d.plan.n_resamples ** 0.5, 3)}). The pilot is itself a sample: its estimate "
                           "of the spread can be far off, so the power is given with an interval over resampled pilots "
                           "(its configurations drawn again) and designs are recommended on its lower end.", "note"))
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
