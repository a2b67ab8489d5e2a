"""Type I error of pernode's rankings on simulated logs where no variant differs, at the
shapes real studies have. Prints a Markdown table of rejection rates at alpha 0.05.

    python benchmarks/ranking_calibration.py [--sims 1000] [--resamples 2000] [--seed 0] [--check 10]

Every p-value is the one `pernode rank` prints (``pernode_cli.stats.procedures``: exact
Friedman where enumerable, else a permutation p-value; exact Wilcoxon), computed here on the
block matrices directly; the first ``--check`` logs of the grid shapes also go through
``rank_logs`` on a data frame, which must give the same p-value.

Shapes:
- full grids (k variants x 10 rates x seeds x 20 epochs): a rate effect, a shared
  (rate, seed) effect, an optional variant-by-rate interaction with mean zero, a run effect,
  epoch noise on a learning curve; seeds averaged (the default), seeds as blocks, and the
  paper's layout (whose chi-square p is shown only to say why pernode prints none);
- 3 blocks of k variants: the approximations pernode no longer prints (chi-square,
  Iman-Davenport) against the printed p-value;
- one configuration with 5 seeds: seeds as blocks (what `auto` runs there);
- a variant with twice the epoch-to-epoch noise and the same mean: the best epoch chosen on
  the compared metric, against chosen on validation and compared on test (the default);
- 4 data sets with a variant x data set interaction and no overall variant effect: the
  configurations of all data sets pooled, against data sets as blocks (Demsar 2006).
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time

import numpy as np
import pandas as pd
from scipy.stats import chi2 as chi2_dist
from scipy.stats import f as f_dist
from scipy.stats import rankdata

from pernode_cli.stats import procedures as proc
from pernode_cli.stats.blocks import exact_mean
from pernode_cli.stats.ranking import rank_logs

ALPHA = 0.05


def grid(rng, k, rates, seeds, epochs, interaction, noisy=None, test=False):
    """Loss curves ``(rates, variants, seeds, epochs)`` (and test curves) under the null."""
    rate = rng.normal(0.0, 1.0, (rates, 1, 1, 1))
    shared_seed = rng.normal(0.0, 0.3, (rates, 1, seeds, 1))
    inter = rng.normal(0.0, interaction, (rates, k, 1, 1)) if interaction else 0.0
    run = rng.normal(0.0, 0.5, (rates, k, seeds, 1))
    e = np.arange(1, epochs + 1)
    curve = 1.0 / e + 0.01 * e
    sd = np.full((1, k, 1, 1), 0.1)
    if noisy is not None:
        sd[0, noisy] = 0.2
    base = 2.0 + rate + shared_seed + inter + run + curve
    val = base + sd * rng.normal(size=(rates, k, seeds, epochs))
    if not test:
        return val
    return val, base + sd * rng.normal(size=(rates, k, seeds, epochs))


def to_frame(values):
    b, v, s, e = (a.ravel() for a in np.indices(values.shape))
    return pd.DataFrame({
        "run_id": (b * 10000 + v * 100 + s).astype(str), "dataset": "sim", "variant": v.astype(str),
        "rate": b / 10, "units": 128, "seed": s, "epoch": e + 1, "val_loss": values.ravel(), "status": "ok",
    })


def p_of(m, resamples, seed):
    return proc.friedman(m, maximize=False, resamples=resamples, seed=seed).p


def paper_chi2_p(values, top=5):
    k = values.shape[1]
    m = np.column_stack([np.sort(values[:, j].ravel())[:top] for j in range(k)])
    r = rankdata(m, axis=1)
    n = m.shape[0]
    chi2 = 12.0 / (n * k * (k + 1)) * (r.sum(axis=0) ** 2).sum() - 3 * n * (k + 1)
    return chi2_dist.sf(chi2, k - 1)


def rate(flags) -> str:
    return f"{np.mean(flags):.3f}"


def grid_rows(rng, sims, resamples, n_check):
    rows = []
    for label, k, seeds, interaction in (("k=8, 10 rates x 3 seeds x 20 epochs", 8, 3, 0.0),
                                         ("same, with a variant x rate interaction", 8, 3, 0.5),
                                         ("k=3, 10 rates x 3 seeds x 20 epochs", 3, 3, 0.0)):
        avg, blocks, paper = [], [], []
        for i in range(sims):
            v = grid(rng, k, 10, seeds, 20, interaction)
            last = v[..., -1]  # no separate selection split: each run's last epoch (the default)
            m_avg = np.array([[exact_mean(last[b, j]) for j in range(k)] for b in range(10)])
            p_avg = p_of(m_avg, resamples, i)
            avg.append(p_avg <= ALPHA)
            blocks.append(p_of(last.transpose(0, 2, 1).reshape(-1, k), resamples, i) <= ALPHA)
            paper.append(paper_chi2_p(v) <= ALPHA)
            if i < n_check:
                (d,) = rank_logs(to_frame(v), design="configs", select="last").datasets
                assert abs(d.omnibus.p - proc.friedman(m_avg, False).p) < 1e-12
        rows.append((label, "configs, seeds averaged (printed p)", rate(avg)))
        rows.append((label, "configs, seeds as blocks (printed p)", rate(blocks)))
        rows.append((label, "paper layout, chi-square p (not printed: descriptive)", rate(paper)))
    return rows


def small_rows(rng, sims, resamples):
    rows = []
    for k in (3, 4, 5, 8):
        printed, chi, idav = [], [], []
        for i in range(sims):
            m = rng.normal(size=(3, k))
            printed.append(p_of(m, resamples, i) <= ALPHA)
            r = rankdata(m, axis=1)
            c2 = 12.0 / (3 * k * (k + 1)) * (r.sum(axis=0) ** 2).sum() - 3 * 3 * (k + 1)
            chi.append(chi2_dist.sf(c2, k - 1) <= ALPHA)
            most = 3 * (k - 1)
            fval = np.inf if most - c2 <= 1e-9 else 2 * c2 / (most - c2)
            idav.append((0.0 if np.isinf(fval) else f_dist.sf(fval, k - 1, 2 * (k - 1))) <= ALPHA)
        label = f"3 blocks, k={k}"
        rows += [(label, "Friedman, printed p", rate(printed)), (label, "chi-square approximation", rate(chi)),
                 (label, "Iman-Davenport approximation", rate(idav))]
    return rows


def seeds_rows(rng, sims, resamples):
    printed, paper = [], []
    for i in range(sims):
        v = grid(rng, 4, 1, 5, 20, 0.0)  # one configuration, 5 seeds
        printed.append(p_of(v[0, :, :, -1].T, resamples, i) <= ALPHA)
        paper.append(paper_chi2_p(v) <= ALPHA)
    label = "one configuration, k=4, 5 seeds"
    return [(label, "configs, seeds as blocks (auto)", rate(printed)),
            (label, "paper layout, chi-square p (not printed)", rate(paper))]


def noisy_rows(rng, sims, resamples):
    same, separated, first = [], [], []
    for i in range(sims):
        val, test = grid(rng, 8, 10, 1, 20, 0.0, noisy=0, test=True)
        val, test = val[:, :, 0], test[:, :, 0]  # (rates, variants, epochs)
        best = val.argmin(axis=-1)
        m_same = val.min(axis=-1)
        m_sep = np.take_along_axis(test, best[..., None], axis=-1)[..., 0]
        same.append(p_of(m_same, resamples, i) <= ALPHA)
        separated.append(p_of(m_sep, resamples, i) <= ALPHA)
        first.append(rankdata(m_same, axis=1).mean(axis=0).argmin() == 0)
    label = "k=8, 10 rates, one variant twice as noisy"
    return [(label, "best epoch on the compared metric", rate(same)),
            (label, "chosen on val, compared on test (default)", rate(separated)),
            (label, "noisy variant ranked first (same metric; 1/8 by chance)", rate(first))]


def across_rows(rng, sims, resamples):
    pooled, demsar = [], []
    for i in range(sims):
        inter = rng.normal(0, 0.5, (4, 1, 5))
        values = rng.normal(0, 1, (4, 10, 1)) + inter + rng.normal(0, 0.2, (4, 10, 5))
        pooled.append(p_of(values.reshape(40, 5), resamples, i) <= ALPHA)
        per = np.array([[exact_mean(values[d, :, j]) for j in range(5)] for d in range(4)])
        demsar.append(p_of(per, resamples, i) <= ALPHA)
    label = "4 data sets x 10 configurations, k=5, interaction only"
    return [(label, "configurations of all data sets pooled", rate(pooled)),
            (label, "data sets as blocks (Demsar 2006)", rate(demsar))]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sims", type=int, default=1000, help="simulated logs per shape")
    ap.add_argument("--resamples", type=int, default=2000, help="permutations where the p-value is not exact")
    ap.add_argument("--check", type=int, default=10, help="grid logs per shape also run through rank_logs")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    rng = np.random.default_rng(args.seed)
    t0 = time.perf_counter()
    print(f"{platform.machine()}, {os.cpu_count()} CPU(s), Python {sys.version.split()[0]}; {args.sims} null logs "
          f"per shape, seed {args.seed}, alpha {ALPHA}, {args.resamples} permutations where not exact\n")
    print("| logs where no variant differs | procedure | rejected at 0.05 |")
    print("|---|---|---|")
    for make in (grid_rows, small_rows, seeds_rows, noisy_rows, across_rows):
        kwargs = dict(n_check=args.check) if make is grid_rows else {}
        for label, what, value in make(rng, args.sims, args.resamples, **kwargs):
            print(f"| {label} | {what} | {value} |", flush=True)
    band = 2 * np.sqrt(0.05 * 0.95 / args.sims)
    print(f"\nA calibrated test rejects about 0.05 (+-{band:.3f} at two standard errors, plus the permutation "
          f"p-value's own Monte Carlo error). {time.perf_counter() - t0:.0f} s.")


if __name__ == "__main__":
    main()
