"""pernode from Python: the records the commands render, for notebooks.

``pernode_cli.rank(paths_or_frame, **options)`` returns the ranking `pernode rank` prints (a
``Ranked``: the ``stats.ranking.RankResult`` record with its renderings, the same numbers:
``.to_frame()``, ``.to_json()``, ``.to_markdown()``, ``.to_latex()``, ``.to_dict()``);
``options`` are ``stats.ranking.RankOptions``' keywords, plus ``method_column`` and
``dataset_column`` for a results table produced elsewhere. The records stay plain data; the
renderings come from ``rendering`` and are composed here.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

from pernode_cli.stats.ranking.records import RankResult


@dataclass(frozen=True, kw_only=True)
class Ranked(RankResult):
    """A ``RankResult`` with the renderings of `pernode rank`."""

    @classmethod
    def of(cls, result: RankResult) -> "Ranked":
        return cls(**{f.name: getattr(result, f.name) for f in fields(result)})

    def to_frame(self):
        import pandas as pd

        from pernode_cli.rendering.ranking import result_rows

        return pd.DataFrame(result_rows(self))

    def to_json(self) -> str:
        from pernode_cli.rendering.ranking import to_json

        return to_json(self)

    def to_markdown(self) -> str:
        from pernode_cli.rendering.ranking import to_text

        return to_text(self, "markdown")

    def to_latex(self) -> str:
        from pernode_cli.rendering.ranking import to_text

        return to_text(self, "latex")


def _check_options(options: dict, exclude=()) -> None:
    """Keywords that name no ranking option are refused, naming those there are."""
    from pernode_cli.errors import PernodeError
    from pernode_cli.stats.ranking.options import RankOptions

    known = [f.name for f in fields(RankOptions) if f.name not in exclude]
    unknown = [k for k in options if k not in known]
    if unknown:
        raise PernodeError(f"Unknown option {', '.join(f'`{k}`' for k in unknown)}; the ranking options are: "
                           f"{', '.join(known)}.")


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

    _check_options(options)
    return Ranked.of(rank_logs(_frame(paths_or_frame, method_column, dataset_column), **options))


def plan(paths_or_frame, delta: float, method_column=None, dataset_column=None, **options):
    """The planner (``stats.planning.plan_logs``) on logs or a data frame."""
    from pernode_cli.stats.planning import plan_logs

    _check_options({k: v for k, v in options.items() if k not in ("control", "shifted", "power", "n_resamples")})
    return plan_logs(_frame(paths_or_frame, method_column, dataset_column), delta, **options)


def report(paths_or_frame, out, timings=None, delta=None, method_column=None, dataset_column=None, **options):
    """Write the report `pernode report` writes (``out``: a new or empty folder, or an earlier
    report); returns the paths written. ``options``: ``RankOptions``' keywords but ``design``,
    ``dataset`` and ``across`` (the report shows every design and data set)."""
    from pernode_cli.rendering.benchmark import collect_benchmark, read_timings
    from pernode_cli.argchecks import as_items
    from pernode_cli.rendering.folder import check_target
    from pernode_cli.rendering.pages import write_report

    check_target(out, "out", "report")  # refused before any work
    _check_options(options, exclude=("design", "dataset", "across"))
    frame = _frame(paths_or_frame, method_column, dataset_column)
    timing = read_timings(list(as_items(timings, "timings"))) if timings else None
    bench = collect_benchmark(frame, timings=timing, delta=delta, **options)
    return write_report(bench, out=out)
