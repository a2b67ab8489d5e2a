"""The report's opening section: per data set the best variant, which pairs differ (or that
none can with this many blocks, and how many it would take), the planner's design where it
ran, and every warning that bears on these claims. Everything is read from the records of
``stats`` (rankings, post-hoc families, plans); nothing is computed here."""

from __future__ import annotations

from pernode_cli.rendering.document import Heading, Items, Text
from pernode_cli.rendering.numbers import p_equation, p_value, rank_text
from pernode_cli.rendering.ranking import rows_line
from pernode_cli.stats.direction import direction_text
from pernode_cli.stats.procedures import blocks_needed_for_family


def _names(names: list) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + f" and {names[-1]}"


def best_line(d) -> str:
    """The best variant(s) of a ranking, ties named together."""
    top = d.variants[0].mean_rank
    best = [v.variant for v in d.variants if v.mean_rank == top]
    who = f"Best: {_names(best)}" + (", tied" if len(best) > 1 else "")
    how = "descriptive, no test" if d.posthoc is None else f"{d.design} design"
    return (f"{who} (mean rank {rank_text(top)} of {len(d.variants)} variants over {d.blocks.n} {d.blocks.kind}; "
            f"{d.metric}, {direction_text(d.maximize)}; {how}).")


def pairs_line(d) -> str:
    """Which pairs the Wilcoxon-Holm tests tell apart, or why none can be."""
    h = d.posthoc
    if h is None:
        return "No pair is tested under this design: its blocks are not independent."
    if not h.pairs:
        return "No pair to test."
    rank = {v.variant: v.mean_rank for v in d.variants}
    differ = [t for t in h.pairs if t.reject]
    if differ:
        shown = [f"{a} ahead of {b} ({p_equation(t.p_holm, 'p (Holm)')})"
                 for t in differ for a, b in [sorted((t.a, t.b), key=lambda v: (rank[v], v))]]
        return f"Pairs that differ (Wilcoxon signed-rank, Holm, alpha {h.alpha:g}): " + "; ".join(shown) + "."
    if h.blocks_needed is not None:
        other = ("" if h.control is not None else
                 f", or {blocks_needed_for_family(len(d.variants) - 1, h.alpha)} comparing against one control")
        return (f"No pair can be declared different with {d.blocks.n} blocks (the smallest Holm-adjusted p they can "
                f"give is {p_value(h.min_attainable_p_holm)}, above alpha {h.alpha:g}): that takes at least "
                f"{h.blocks_needed} blocks{other}.")
    low = min(t.p_holm for t in h.pairs)
    return (f"No pair differs at alpha {h.alpha:g} with {d.blocks.n} blocks (smallest {p_equation(low, 'p (Holm)')}; "
            f"{len(h.pairs)} test(s)).")


def plan_lines(plan) -> list:
    """The planner's recommendation (`--delta`), in the words of `pernode plan`."""
    from pernode_cli.rendering.planning import smallest_text

    if plan is None:
        return []
    if not plan.planned:
        return [f"Planner: not planned ({plan.reason})."]
    lines = [f"Planner (a difference of {plan.delta:g} in {plan.metric}): {smallest_text(plan, 'omnibus')}"]
    if plan.plan.control_power is not None:
        lines.append(f"Planner: {smallest_text(plan, 'control')}")
    return lines


def ranking_summary(d, title: str, plan=None, fallback=None) -> list:
    """One ranking's findings and warnings; ``fallback`` (the paper design) where it could not rank."""
    lines, warnings = [], list(d.warnings)
    if d.left_out is not None and d.left_out.left_out:  # rows the claim does not rest on
        warnings.append(rows_line(d))
    if d.ranked:
        lines += [best_line(d), pairs_line(d)]
    else:
        lines.append(f"Not ranked under the {d.design} design: {d.reason}.")
        if fallback is not None and fallback.ranked:
            lines.append(f"Paper design: {best_line(fallback)}")
            warnings += [w for w in fallback.warnings if w not in warnings]
    lines += plan_lines(plan)
    if plan is not None:
        warnings += [w for w in plan.warnings if w not in warnings]
    out = [Heading(3, title), Items(tuple(lines))]
    return out + ([Items(tuple(warnings), "caution")] if warnings else [])


def summary_blocks(bench) -> list:
    """The Summary section (the page's first level-2 heading)."""
    plans = {d.dataset: d for d in bench.plan.datasets} if bench.plan is not None else {}
    blocks: list = [Heading(2, "Summary")]
    for s in bench.sections:
        blocks += ranking_summary(s.configs, f"Data set {s.dataset}", plans.get(s.dataset), fallback=s.paper)
    if bench.across is not None:
        blocks += ranking_summary(bench.across, "Across data sets (data sets as blocks)")
    tested = [s.configs for s in bench.sections] + ([bench.across] if bench.across is not None else [])
    for text in dict.fromkeys(d.conditions for d in tested if d.ranked and d.posthoc is not None and d.conditions):
        blocks.append(Text(text, "note"))  # when these p-values hold their level, said once
    if bench.plan is None:
        blocks.append(Text("Give `--delta` (the difference worth detecting, in the metric's units) for the planner's "
                           "estimate of the configurations and seeds a design needs.", "note"))
    return blocks
