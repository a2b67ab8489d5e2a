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

The pieces, one concept a module: ``records`` (the result records), ``options`` (what is
asked and what is resolved from the rows), ``designs`` (each design to a record), ``targets``
(time to target), ``texts`` (conditions and warnings), ``run`` (``rank_logs``). No display
labels here: the renderers (``rendering``) lay the records out. The names below load their
module on first use, so the command line reads the options' declarations without the rest.
"""

_PUBLIC = {
    **{name: "options" for name in ("ACROSS", "AUTO_MIN_BLOCKS", "DESIGNS", "RankOptions", "resolve", "versions")},
    **{name: "records" for name in ("Blocks", "Omnibus", "PairTest", "PostHoc", "RankResult", "Ranking",
                                    "VariantRank")},
    **{name: "run" for name in ("rank_logs", "ranked", "prepare")},
}


def __getattr__(name):
    if name in _PUBLIC:
        import importlib

        return getattr(importlib.import_module(f"pernode_cli.stats.ranking.{_PUBLIC[name]}"), name)
    raise AttributeError(f"module 'pernode_cli.stats.ranking' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_PUBLIC))


__all__ = sorted(_PUBLIC)
