"""Every number that report/ writes, formatted in one place.

A table column shares one format: its decimals are chosen once from the column's values (4
significant digits of its largest value, at least 2 of its smallest, never more decimals than
the values carry, at most ``MAX_DECIMALS``) and applied to every cell, so ``0.1290`` and
``0.1203`` line up; a p-value column is written the usual way (3 decimals, ``< 0.001`` below);
a column of whole numbers has none. Intervals (``Interval``) are formatted like numbers, their
bounds sharing the column's decimals. Text is formatted here as well, with the same rules
(``fixed``, ``p_value``, ``p_equation``).
"""

from __future__ import annotations

import math
import numbers as abc
from dataclasses import dataclass
from typing import Callable, Optional

MISSING = "n/a"
MAX_DECIMALS = 6
P_FLOOR = 0.001  # p-values below are written "< 0.001"


@dataclass(frozen=True)
class Interval:
    """A cell holding an interval ``[low, high]``; ``n/a`` when a bound is missing or not finite."""

    low: Optional[float]
    high: Optional[float]

    @classmethod
    def of(cls, pair) -> "Interval":
        return cls(None, None) if not pair else cls(pair[0], pair[1])

    def bounds(self) -> list:
        return [x for x in (self.low, self.high) if _finite(x)]

    def complete(self) -> bool:
        return len(self.bounds()) == 2


def is_number(value) -> bool:
    """A real number, numpy's included; not a bool."""
    return isinstance(value, abc.Real) and not isinstance(value, bool)


def _finite(value) -> bool:
    return is_number(value) and math.isfinite(float(value))


def fixed(value, decimals: int, missing: str = MISSING) -> str:
    """``value`` with exactly ``decimals`` decimals (never ``-0.00``); ``missing`` for None or NaN,
    ``inf``/``-inf``, ``yes``/``no`` for a bool, any other value as ``str`` gives it."""
    if value is None:
        return missing
    if isinstance(value, bool):
        return "yes" if value else "no"
    if not is_number(value):
        return str(value)
    x = float(value)
    if math.isnan(x):
        return missing
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    text = f"{x:.{max(decimals, 0)}f}"
    return text[1:] if text.startswith("-") and float(text) == 0 else text


def measured(value, decimals: int = 4) -> str:
    """A logged measurement in a line of text: a float with ``decimals`` decimals, ``nan`` for NaN;
    anything else (an epoch, a count) as ``str`` gives it."""
    if isinstance(value, float):
        return "nan" if math.isnan(value) else fixed(value, decimals)
    return str(value)


def scientific(value, digits: int = 3, missing: str = MISSING) -> str:
    """``value`` in scientific notation with ``digits`` significant digits (tiny or huge columns)."""
    if not _finite(value):
        return fixed(value, 0, missing)
    return f"{float(value):.{digits - 1}e}"


def p_value(p, missing: str = MISSING) -> str:
    """A p-value as a table cell: 3 decimals, ``< 0.001`` below."""
    if not _finite(p):
        return fixed(p, 3, missing)
    return f"< {P_FLOOR:g}" if float(p) < P_FLOOR else fixed(p, 3)


def p_equation(p, name: str = "p") -> str:
    """``p = 0.012`` or ``p < 0.001`` in a sentence."""
    text = p_value(p)
    return f"{name} {text}" if text.startswith("<") else f"{name} = {text}"


def interval(value: Interval, decimals: int, missing: str = MISSING) -> str:
    if not value.complete():
        return missing  # too few blocks for this interval (Hodges-Lehmann: 6 at 95%)
    return f"[{fixed(value.low, decimals)}, {fixed(value.high, decimals)}]"


def decimals_for(values) -> Optional[int]:
    """Decimals that give the largest magnitude 4 significant digits and the smallest 2, no
    more than the values carry; None where that exceeds ``MAX_DECIMALS`` (scientific notation)."""
    sizes = [abs(float(x)) for x in values if _finite(x) and float(x) != 0]
    if not sizes:
        return 0
    wanted = max(3 - math.floor(math.log10(max(sizes))), 1 - math.floor(math.log10(min(sizes))), 0)
    if 3 - math.floor(math.log10(max(sizes))) > MAX_DECIMALS:
        return None
    wanted = min(wanted, MAX_DECIMALS)
    for d in range(wanted + 1):
        if all(abs(round(x, d) - x) <= 1e-9 * max(1.0, x) for x in sizes):
            return d
    return wanted


def is_p_column(name) -> bool:
    """A column of p-values: ``p``, ``p (Holm)``, ``p (exact)``; not ``p method``."""
    text = str(name).strip()
    return text == "p" or text.startswith("p (")


def _numbers_of(values) -> list:
    out = []
    for v in values:
        if isinstance(v, Interval):
            out += v.bounds()
        elif _finite(v):
            out.append(float(v))
    return out


def column_format(name, values) -> Callable[[object], str]:
    """The one format of a column named ``name`` holding ``values``."""
    values = list(values)
    if is_p_column(name) and any(is_number(v) for v in values):
        return lambda v: p_value(v) if is_number(v) or v is None else fixed(v, 0)
    nums = _numbers_of(values)
    if all(isinstance(v, abc.Integral) or not is_number(v) for v in values) and \
            not any(isinstance(v, Interval) for v in values):
        return lambda v: fixed(v, 0)
    d = decimals_for(nums)
    if d is None:
        return lambda v: (f"[{scientific(v.low)}, {scientific(v.high)}]" if isinstance(v, Interval) and v.complete()
                          else MISSING if isinstance(v, Interval) else scientific(v) if is_number(v) else fixed(v, 0))
    return lambda v: interval(v, d) if isinstance(v, Interval) else fixed(v, d)


def format_rows(rows) -> list[dict]:
    """``rows`` (dicts with the same keys) as text, each column in its one format."""
    if not rows:
        return []
    keys = list(dict.fromkeys(k for r in rows for k in r))
    formats = {k: column_format(k, [r.get(k) for r in rows]) for k in keys}
    return [{k: formats[k](r.get(k)) for k in keys} for r in rows]


def is_numeric_column(rows, key) -> bool:
    """Numbers (or intervals) and missing values only, at least one number: right-aligned."""
    values = [r.get(key) for r in rows]
    kinds = [is_number(v) or isinstance(v, Interval) for v in values]
    return any(kinds) and all(k or v is None for k, v in zip(kinds, values))


def rank_text(value) -> str:
    """A mean rank in a sentence or on a figure: 2 decimals."""
    return fixed(value, 2)


def stat_text(value) -> str:
    """A test statistic (chi2, F, W) in a sentence: 3 decimals."""
    return fixed(value, 3)


def short(value) -> str:
    """A number in a sentence: 3 significant digits (a spread, a delta)."""
    return MISSING if not _finite(value) else f"{float(value):.3g}"
