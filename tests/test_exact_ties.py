"""Exact ties: differences, zeros, midranks, Walsh averages, ROPE edges and means computed on the
log's decimals, checked against exact enumerations done here with Python's ``Fraction``.

Every reference below works on the values as the CSV writes them (decimal strings), never on
binary floats: ``0.3 - 0.1`` and ``0.8 - 0.6`` are both ``1/5`` there."""

import itertools
import json
from decimal import Decimal
from fractions import Fraction

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from pernode_cli import rank
from pernode_cli.cli import app
from pernode_cli.stats import exact
from pernode_cli.stats.bayes import region_masses
from pernode_cli.stats.effects import hodges_lehmann, hodges_lehmann_interval, walsh_averages
from pernode_cli.stats.procedures import friedman, signed_rank

runner = CliRunner()


def frac(x) -> Fraction:
    return Fraction(Decimal(repr(float(x))))


def midranks(values):
    order = sorted(values)
    return [Fraction(2 * order.index(v) + 1 + order.count(v), 2) for v in values]


def signed_rank_reference(d, zero_method="wilcox"):
    """Exact two-sided p of T+ by enumerating every sign pattern, midranks on exact values."""
    d = [frac(x) for x in d]
    if zero_method == "wilcox":
        d = [x for x in d if x != 0]
    ranks = midranks([abs(x) for x in d])
    signed = [(r, x) for r, x in zip(ranks, d) if x != 0]
    t_plus = sum(r for r, x in signed if x > 0)
    total = sum(r for r, _ in signed)
    far = abs(2 * t_plus - total)
    hits = sum(abs(2 * sum(r for (r, _), s in zip(signed, signs) if s) - total) >= far
               for signs in itertools.product((0, 1), repeat=len(signed)))
    return float(t_plus), hits / 2 ** len(signed)


def decimal_differences(rng, n, decimals):
    """Pairs of decimal values whose differences repeat (ties) and vanish (zeros), as a CSV has them."""
    step = 10.0**-decimals
    base = np.round(rng.integers(1, 9, n) * step + rng.integers(0, 3, n) * 0.1, decimals + 1)
    gap = rng.choice([-2, -1, 0, 1, 2], n) * step
    return np.round(base + gap, decimals + 1), base


def test_the_issues_example_gives_midranks_and_the_exact_p():
    a = np.array([0.3, 0.1, 0.7, 0.8, 0.5, 0.9])
    b = np.array([0.1, 0.3, 0.6, 0.6, 0.3, 0.7])  # differences (2, -2, 1, 2, 2, 2) / 10
    assert len(set((a - b).tolist())) > 3  # in binary they are not equal: the fault this guards
    d = exact.from_floats(a).nums - exact.from_floats(b).nums  # on the log's decimals
    t = signed_rank(exact.Exact(d, 10))
    assert (t.statistic, t.p) == (17.0, 0.21875) == signed_rank_reference([0.2, -0.2, 0.1, 0.2, 0.2, 0.2])
    assert signed_rank(a - b).p != 0.21875  # differences formed in binary first lose the ties


@pytest.mark.parametrize("zero_method", ["wilcox", "pratt"])
def test_signed_rank_equals_the_exact_enumeration_on_decimal_data(zero_method):
    rng = np.random.default_rng(3)
    for case in range(120):
        n, decimals = int(rng.integers(3, 11)), int(rng.integers(1, 4))
        a, b = decimal_differences(rng, n, decimals)
        d = np.array([float(frac(x) - frac(y)) for x, y in zip(a, b)])  # the differences, rounded once
        got = signed_rank(exact.from_floats(a).nums - exact.from_floats(b).nums, zero_method)
        want = signed_rank_reference(d, zero_method)
        assert (got.statistic, got.p) == pytest.approx(want, abs=1e-12), (case, a, b)


def test_walsh_averages_and_the_hodges_lehmann_interval_tie_exactly():
    # (0.3 - 0.1, 0.8 - 0.6, 0.1, 0.7 - 0.6, 0.5 - 0.3, -0.2) on the decimals: 1/5 twice, 1/10 three times
    exact_d = [frac(0.3) - frac(0.1), frac(0.8) - frac(0.6), Fraction(1, 10), frac(0.7) - frac(0.6),
               frac(0.5) - frac(0.3), Fraction(-1, 5)]
    ex = exact.from_fractions(np.array(exact_d, dtype=object))
    walsh = sorted((x + y) / 2 for x, y in itertools.combinations_with_replacement(exact_d, 2))
    assert walsh_averages(ex).tolist() == [float(w) for w in walsh]
    assert len(set(walsh_averages(ex).tolist())) == len(set(walsh))  # equal decimals stay equal
    m = len(walsh)
    assert hodges_lehmann(ex) == float((walsh[(m - 1) // 2] + walsh[m // 2]) / 2)
    low, high, _ = hodges_lehmann_interval(ex, 0.9)
    assert low in [float(w) for w in walsh] and high in [float(w) for w in walsh]


def test_a_walsh_average_exactly_at_the_rope_is_on_its_edge():
    # 0.3 - 0.2 is 0.1 exactly in the log's decimals; in binary it is 0.09999999999999998.
    z = exact.from_fractions(np.array([frac(0.3) - frac(0.2)] * 3, dtype=object))
    assert float(0.3 - 0.2) < 0.1
    w = np.full((1, 4), 0.25)
    masses = region_masses(z, 0.1, w)[0]
    # Reference: twice each Walsh average (0 and the three z) against twice the ROPE.
    d = [Fraction(0)] + [Fraction(1, 10)] * 3
    above = sum(Fraction(1, 16) * (1 if x + y > Fraction(1, 5) else Fraction(1, 2) if x + y == Fraction(1, 5) else 0)
                for x in d for y in d)
    assert masses[0] == pytest.approx(float(above), abs=1e-15)
    assert masses[0] > 0  # the float differences would have put every average inside the ROPE


def friedman_reference(rows):
    """Exact p of sum R_j^2 over every within-block permutation, midranks on exact values."""
    ranks = [midranks(list(row)) for row in rows]
    stat = lambda rs: sum(sum(col) ** 2 for col in zip(*rs))  # noqa: E731
    observed = stat(ranks)
    patterns = list(itertools.product(*(list(itertools.permutations(r)) for r in ranks)))
    return sum(stat(p) >= observed for p in patterns) / len(patterns)


def test_friedman_on_seed_means_ties_exactly_and_matches_the_enumeration():
    """Block values that are means of two seeds: (0.1, 0.2) and (0.15, 0.15) both average 0.15,
    which binary sums make 0.15000000000000002 and 0.15."""
    rng = np.random.default_rng(5)
    pairs = [(0.1, 0.2), (0.15, 0.15), (0.05, 0.25), (0.3, 0.4), (0.35, 0.35), (0.2, 0.3)]
    for case in range(20):
        n = int(rng.integers(3, 5))
        rows, means = [], []
        for c in range(n):
            pick = rng.integers(0, len(pairs), 3)
            means.append([sum(map(frac, pairs[i])) / 2 for i in pick])
            for m, i in zip("ABC", pick):
                rows += [dict(dataset="x", method=m, rate=c / 10, seed=s, loss=v) for s, v in enumerate(pairs[i])]
        (d,) = rank(_table(rows), block_columns=("rate", "seed"), metric="loss", seeds="average",
                    design="configs").datasets
        assert d.omnibus.method == "exact"
        assert d.omnibus.p == pytest.approx(friedman_reference(means), abs=1e-12), case
        assert friedman(exact.from_fractions(np.array(means, dtype=object)), maximize=False).p == d.omnibus.p


def _table(rows) -> pd.DataFrame:
    return pd.DataFrame(rows)


def test_across_data_sets_a_mean_is_rounded_once_so_an_exact_tie_stays_a_tie():
    rows = []
    for d in range(6):
        for j, m in enumerate("ABC"):
            vals = [0.1, 0.7, 0.7] if (d + j) % 2 else [0.3, 0.6, 0.6]  # every mean is 0.5 exactly
            rows += [dict(dataset=f"d{d}", method=m, fold=f, auc=v) for f, v in enumerate(vals)]
    result = rank(_table(rows), block_columns=("fold",), across="datasets")
    a = result.across
    assert a.omnibus.chi2 == 0.0 and a.omnibus.p == 1.0
    assert all(p.p_improvement == 0.5 for p in a.posthoc.pairs)
    assert {v for row in a.blocks.values for v in row} == {0.5}


def test_seed_means_equal_in_decimals_tie_in_every_design():
    # Seeds (0.1, 0.2) and (0.15, 0.15): both average 0.15 exactly; in binary the first is 0.15000000000000002.
    rows = []
    for c in range(6):
        for m, seeds in (("A", (0.1, 0.2)), ("B", (0.15, 0.15)), ("C", (0.3, 0.4))):
            rows += [dict(dataset="x", method=m, rate=c / 10, seed=s, loss=v) for s, v in enumerate(seeds)]
    result = rank(_table(rows), block_columns=("rate", "seed"), metric="loss", seeds="average")
    (d,) = result.datasets
    ab = next(p for p in d.posthoc.pairs if {p.a, p.b} == {"A", "B"})
    assert ab.n_used == 0 and ab.p == 1.0 and ab.hodges_lehmann == 0.0 and ab.p_improvement == 0.5


def test_across_data_sets_names_the_variants_left_out():
    rows = [dict(dataset=f"d{d}", method=m, auc=0.5 + 0.01 * d + 0.1 * j) for d in range(4)
            for j, m in enumerate("ABC")] + [dict(dataset="d0", method="Z", auc=0.9)]
    text = " ".join(json.dumps(rank(_table(rows)).to_dict()["across_datasets"]["warnings"]).split())
    assert "Left out across data sets, for not having run on every data set: Z (not on d1, d2, d3)." in text


def test_rank_cli_prints_the_exact_p_of_the_issue(tmp_path):
    csv = "dataset,method,auc\n" + "".join(
        f"d{i},A,{a}\nd{i},B,{b}\n" for i, (a, b) in enumerate([(0.3, 0.1), (0.1, 0.3), (0.7, 0.6), (0.8, 0.6),
                                                                 (0.5, 0.3), (0.9, 0.7)]))
    (tmp_path / "t.csv").write_text(csv)
    out = json.loads(runner.invoke(app, ["rank", str(tmp_path / "t.csv"), "--format", "json"]).output)
    (pair,) = out["across_datasets"]["posthoc"]["pairs"]
    assert (pair["statistic"], pair["p"]) == (17.0, 0.21875) and pair["tied"] is True
    assert any("rest on zero or tied differences" in w for w in out["across_datasets"]["warnings"])
    assert any("rest on 6 block(s)" in w for w in out["across_datasets"]["warnings"])
