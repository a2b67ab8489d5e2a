"""Exact decimal arithmetic for rankings: the CSV's values as integers over one denominator.

A value read from a log is a decimal (``0.3``); in binary it is not, so ``0.3 - 0.1`` and
``0.8 - 0.6`` differ in their last bits and a tie of the log's numbers becomes a strict order.
Here every value is taken at its shortest decimal form (the digits the CSV holds: ``repr``
round-trips) and held exactly as an integer numerator over a common denominator ``den``
(``10**p`` for values of at most ``p`` decimals, times the counts of the means taken since).
Sums, means, differences, Walsh sums and comparisons with a ROPE are then exact integer
operations, and a float is made once, at the end (``to_floats``: correctly rounded), so equal
decimals give equal floats and exact zeros stay zeros, whatever the order of the rows.

Numerators are ``int64`` while they fit (vectorised), Python integers in an object array
beyond (still exact, slower). Nothing here knows of logs or rankings.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from pernode_cli.stats.arguments import invalid_argument, vector

_EXACT_FLOAT = 2**53  # integers up to this are doubles exactly
_INT64_SAFE = 2**62  # numerators up to this can be added pairwise in int64 without overflow
MAX_DECIMALS = 20  # beyond this many decimals a value is taken as its exact binary fraction


@dataclass(frozen=True)
class Exact:
    """Exact values ``nums / den`` (any shape); ``nums`` int64 or an object array of Python ints."""

    nums: np.ndarray
    den: int

    @property
    def shape(self) -> tuple:
        return self.nums.shape

    def __len__(self) -> int:
        return len(self.nums)

    def __getitem__(self, index) -> "Exact":
        return Exact(np.asarray(self.nums[index]), self.den)

    def floats(self) -> np.ndarray:
        return to_floats(self.nums, self.den)

    def fraction(self, index) -> Fraction:
        return Fraction(int(self.nums[index]), self.den)


def _decimals(values: np.ndarray) -> int:
    """Fewest decimals ``p`` with which every value is the double nearest to a ``p``-decimal
    number (its shortest decimal form has at most ``p`` decimals), or -1 when none up to
    ``MAX_DECIMALS`` is, or the scaled values would not be exact doubles."""
    if values.size == 0:
        return 0
    top = float(np.max(np.abs(values)))
    for p in range(MAX_DECIMALS + 1):
        scale = 10.0**p
        if top * scale >= _EXACT_FLOAT or scale >= _EXACT_FLOAT:
            return -1
        scaled = np.round(values * scale)
        if np.array_equal(scaled / scale, values):
            return p
    return -1


def from_floats(values) -> Exact:
    """Finite floats exactly: at their shortest decimal forms (``nums / 10**p``) when every value
    has at most ``MAX_DECIMALS`` decimals there (what a log or a table holds), else as the binary
    fractions they are (``nums / 2**q``: the noise of a simulation, say, has no decimals to keep)."""
    v = np.asarray(values, dtype="float64")
    if v.size and not np.all(np.isfinite(v)):
        raise ValueError("Invalid value received for argument `values`. Expected finite numbers. Received: "
                         f"{int((~np.isfinite(v)).sum())} non-finite value(s)")
    p = _decimals(v)
    if p >= 0:
        return Exact(np.round(v * 10.0**p).astype(np.int64), 10**p)
    return _binary(v)


def _binary(v: np.ndarray) -> Exact:
    """Doubles as integers over a common power of two, exactly."""
    mantissa, exponent = np.frexp(v)  # v = mantissa * 2**exponent, 0.5 <= |mantissa| < 1
    ints = (mantissa * 2.0**53).astype(np.int64)  # exact: 53 significant bits
    nonzero = ints != 0
    low = int(exponent[nonzero].min()) if nonzero.any() else 0
    shift = np.where(nonzero, exponent - low, 0)
    den_bits = 53 - low
    if shift.max(initial=0) <= 8 and den_bits >= 0:  # 61 bits at most: int64, pairwise sums too
        return Exact(ints << shift.astype(np.int64), 2**den_bits)
    nums = np.array([int(i) << int(s) for i, s in zip(ints.ravel(), shift.ravel())], dtype=object).reshape(v.shape)
    if den_bits < 0:
        return Exact(_compact(nums * (2 ** -den_bits)), 1)
    return Exact(_compact(nums), 2**den_bits)


def from_fractions(fractions) -> Exact:
    """An object array of ``Fraction`` on one denominator (their least common multiple)."""
    f = np.asarray(fractions, dtype=object)
    den = 1
    for x in f.ravel():
        den = den * x.denominator // math.gcd(den, x.denominator)
    nums = np.array([x.numerator * (den // x.denominator) for x in f.ravel()], dtype=object).reshape(f.shape)
    return Exact(_compact(nums), den)


def _compact(nums: np.ndarray) -> np.ndarray:
    """int64 where every numerator fits with room for pairwise sums, else Python integers."""
    if nums.dtype != object:
        return nums
    if nums.size == 0:
        return nums.astype(np.int64)
    if max(abs(int(x)) for x in nums.ravel()) < _INT64_SAFE:
        return nums.astype(np.int64)
    return nums


def _widen(nums: np.ndarray, factor) -> np.ndarray:
    """``nums * factor`` exactly (an object array where int64 could overflow)."""
    factor = np.asarray(factor, dtype=object)
    top = int(np.max(np.abs(nums.astype(object)))) if nums.size else 0
    scale = int(np.max(np.abs(factor))) if factor.size else 1
    if nums.dtype == object or scale >= _INT64_SAFE or top * scale >= _INT64_SAFE:
        return _compact(nums.astype(object) * factor)
    return nums * factor.astype(np.int64)


def to_floats(nums: np.ndarray, den: int) -> np.ndarray:
    """``nums / den`` as doubles, each correctly rounded once."""
    nums = np.asarray(nums)
    if nums.dtype != object and den < _EXACT_FLOAT and (nums.size == 0 or np.max(np.abs(nums)) < _EXACT_FLOAT):
        return nums.astype(np.float64) / float(den)  # two exact doubles: IEEE division rounds once
    if nums.dtype != object and den & (den - 1) == 0 and den < 2**1000:
        return nums.astype(np.float64) / float(den)  # one rounding (to a double), then an exact power of two
    flat = [float(Fraction(int(x), den)) for x in nums.ravel()]
    return np.array(flat, dtype=np.float64).reshape(nums.shape)


def group_means(exact: Exact, groups: np.ndarray) -> tuple[Exact, np.ndarray]:
    """The exact mean of each group (``groups``: codes 0..g-1 per value) and each group's size.

    Vectorised: values sorted by group, one exact integer sum per group (``reduceat``), each
    sum scaled to a common denominator (``den`` times the least common multiple of the sizes).
    """
    groups = np.asarray(groups)
    g = int(groups.max()) + 1 if groups.size else 0
    order = np.argsort(groups, kind="stable")
    sorted_groups = groups[order]
    starts = np.flatnonzero(np.r_[True, sorted_groups[1:] != sorted_groups[:-1]]) if groups.size else np.array([], int)
    counts = np.diff(np.r_[starts, len(groups)])
    nums = exact.nums[order]
    if nums.dtype != object and len(nums) and int(np.max(np.abs(nums))) * int(counts.max()) >= _INT64_SAFE:
        nums = nums.astype(object)
    sums = np.add.reduceat(nums, starts) if len(starts) else nums[:0]
    out = np.empty(g, dtype=sums.dtype)
    counts_out = np.zeros(g, dtype=np.int64)
    present = sorted_groups[starts]
    lcm = 1
    for c in np.unique(counts):
        lcm = lcm * int(c) // math.gcd(lcm, int(c))
    out[present] = _widen(sums, (lcm // counts).astype(object))
    counts_out[present] = counts
    return Exact(_compact(out), exact.den * lcm), counts_out


def mean(exact: Exact, axis: int = 0) -> Exact:
    """The exact mean along ``axis`` of a 2-D ``Exact`` (one denominator for the result)."""
    nums = exact.nums if axis == 0 else exact.nums.T
    n = nums.shape[0]
    total = nums.astype(object).sum(axis=0) if nums.dtype == object or n * (
        int(np.max(np.abs(nums))) if nums.size else 0) >= _INT64_SAFE else nums.sum(axis=0)
    return Exact(_compact(np.asarray(total)), exact.den * n)


def stack(parts: list) -> Exact:
    """Rows of several ``Exact`` matrices (same number of columns) on one denominator."""
    if not parts:
        return Exact(np.empty((0, 0), dtype=np.int64), 1)
    den = 1
    for p in parts:
        den = den * p.den // math.gcd(den, p.den)
    return Exact(_compact(np.vstack([_widen(p.nums, den // p.den).astype(object) for p in parts])), den)


def scaled(value: float, den: int) -> Fraction:
    """A threshold given in metric units (a ROPE), at its shortest decimal form, times ``den``."""
    from decimal import Decimal

    return Fraction(Decimal(repr(float(value)))) * den


def step_above(sums: np.ndarray, threshold: Fraction) -> np.ndarray:
    """``1`` where ``sums > threshold``, ``1/2`` where equal, ``0`` below: exact for integer ``sums``."""
    floor = threshold.numerator // threshold.denominator
    integral = threshold.denominator == 1
    above = sums > floor
    return above + (0.5 * (sums == floor) if integral else 0.0)


def exact_vector(x, name: str = "d") -> Exact:
    """A vector of block values (or differences) held exactly: an ``Exact`` as given, floats at
    their shortest decimal forms (``stats.exact``), so equal decimals tie and zeros are zeros."""
    if isinstance(x, Exact):
        if x.nums.ndim != 1 or len(x.nums) < 1:
            raise invalid_argument(name, "a vector of block values", f"array of shape {x.nums.shape}")
        return x
    return from_floats(vector(x, name))


def exact_pair(a, b) -> tuple[Exact, Exact]:
    x, y = exact_vector(a, "a"), exact_vector(b, "b")
    if len(x.nums) != len(y.nums):
        raise invalid_argument("b", f"as many block values as `a` ({len(x.nums)})", f"{len(y.nums)} values")
    den = x.den * y.den // math.gcd(x.den, y.den)
    return Exact(_widen(x.nums, den // x.den), den), Exact(_widen(y.nums, den // y.den), den)


def exact_difference(a, b) -> Exact:
    """``a - b`` exactly (block values as ``Exact`` or floats at their shortest decimals)."""
    x, y = exact_pair(a, b)
    return Exact(_compact(x.nums - y.nums), x.den)


def exact_median(d: Exact) -> float:
    """The median of exact values, rounded once."""
    v = np.sort(d.nums)
    m = len(v)
    middle = v[m // 2] * 2 if m % 2 else v[m // 2 - 1] + v[m // 2]
    return float(to_floats(np.array([middle], dtype=v.dtype), 2 * d.den)[0])
