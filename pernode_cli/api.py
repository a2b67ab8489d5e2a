"""pernode from Python: the records the commands render, for notebooks.

``pernode_cli.rank(paths_or_frame, **options)`` returns the ``RankResult`` `pernode rank`
prints (the same numbers: ``.to_frame()``, ``.to_json()``, ``.to_markdown()``,
``.to_latex()``, ``.to_dict()``); ``options`` are ``stats.ranking.RankOptions``' keywords,
plus ``method_column`` and ``dataset_column`` for a results table produced elsewhere.
"""

from __future__ import annotations


def _frame(paths_or_frame, method_column=None, dataset_column=None):
    from pernode_cli.logs import read_logs
    from pernode_cli.stats.rows import named_columns

    if isinstance(paths_or_frame, (str, bytes)) or hasattr(paths_or_frame, "__fspath__"):
        frame = read_logs([str(paths_or_frame)])
    elif isinstance(paths_or_frame, (list, tuple)):
        frame = read_logs([str(p) for p in paths_or_frame])
    else:
        frame = paths_or_frame
    return named_columns(frame, method_column, dataset_column)


def rank(paths_or_frame, method_column=None, dataset_column=None, **options):
    """Rank the variants (or methods) of logs, or of a data frame, under ``options``."""
    from pernode_cli.stats.ranking import rank_logs

    return rank_logs(_frame(paths_or_frame, method_column, dataset_column), **options)


def plan(paths_or_frame, delta: float, method_column=None, dataset_column=None, **options):
    """The planner (``stats.planning.plan_logs``) on logs or a data frame."""
    from pernode_cli.stats.planning import plan_logs

    return plan_logs(_frame(paths_or_frame, method_column, dataset_column), delta, **options)
