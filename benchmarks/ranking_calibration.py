"""Type I error of the two ranking designs on simulated logs where no variant differs.

    python benchmarks/ranking_calibration.py [--sims 1000] [--check 20] [--seed 0]

Each simulated log is a full grid: k variants x rates x seeds x epochs. A run's loss curve is
a shared rate effect plus a shared (rate, seed) effect, an optional variant-by-rate
interaction with mean zero, a run effect and epoch noise on a learning curve. No variant is
better than another, so a calibrated test rejects at 0.05 in about 5% of the logs.

Designs: the paper's layout (each variant's 5 best records as blocks, chi-square p of
Friedman's test) and the configs design (`pernode_cli.stats.configs`: one best-epoch value
per run, blocks = configurations, seeds averaged or taken as blocks). The first ``--check``
logs of each shape also go through `rank_configs` on a data frame, which must give the same
p-values as the array path used for the rest. Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time

import numpy as np
import pandas as pd
from scipy.stats import friedmanchisquare

from pernode_cli.stats.configs import block_statistics, rank_configs, select_epoch
from pernode_cli.stats.ranking import rank_matrix

# (label, variants, rates, seeds, epochs, interaction sd)
SHAPES = [
    ("k=8, 10 rates x 3 seeds x 20 epochs", 8, 10, 3, 20, 0.0),
    ("k=8, 10 rates x 3 seeds x 20 epochs, variant x rate interaction", 8, 10, 3, 20, 0.5),
    ("k=8, 10 rates x 1 seed x 20 epochs", 8, 10, 1, 20, 0.0),
    ("k=3, 10 rates x 3 seeds x 20 epochs", 3, 10, 3, 20, 0.0),
]


def simulate(rng, k, rates, seeds, epochs, interaction):
    """Loss curves ``(rates, variants, seeds, epochs)`` under the null of no variant effect."""
    rate = rng.normal(0.0, 1.0, (rates, 1, 1, 1))
    shared_seed = rng.normal(0.0, 0.3, (rates, 1, seeds, 1))
    inter = rng.normal(0.0, interaction, (rates, k, 1, 1)) if interaction else 0.0
    run = rng.normal(0.0, 0.5, (rates, k, seeds, 1))
    e = np.arange(1, epochs + 1)
    curve = 1.0 / e + 0.01 * e  # falls, then overfits a little
    noise = rng.normal(0.0, 0.1, (rates, k, seeds, epochs))
    return 2.0 + rate + shared_seed + inter + run + curve + noise


def to_frame(values):
    b, v, s, e = (a.ravel() for a in np.indices(values.shape))
    return pd.DataFrame({
        "run_id": (b * 10000 + v * 100 + s).astype(str), "dataset": "sim", "variant": v.astype(str),
        "rate": b / 10, "units": 128, "seed": s, "epoch": e + 1, "val_loss": values.ravel(), "status": "ok",
    })


def paper(values, top=5):
    """Chi-square p and W of the paper's layout over every record of each variant."""
    _, m = rank_matrix({str(j): values[:, j].ravel() for j in range(values.shape[1])}, top)
    res = friedmanchisquare(*m.T)
    return float(res.pvalue), float(res.statistic) / (m.shape[0] * (m.shape[1] - 1))


def configs(values):
    """Block statistics with seeds averaged and with seeds as blocks."""
    best = select_epoch(values, "best")  # (rates, variants, seeds)
    averaged = block_statistics(best.mean(axis=2))
    as_blocks = block_statistics(best.transpose(0, 2, 1).reshape(-1, best.shape[1]))
    return averaged, as_blocks


def check(values, averaged, as_blocks):
    """The data-frame path gives the array path's p-values."""
    frame = to_frame(values)
    (a,) = rank_configs(frame, seeds="average")
    (b,) = rank_configs(frame, seeds="blocks")
    assert abs(a.p - averaged.p) < 1e-12 and abs(b.p - as_blocks.p) < 1e-12, (a.p, averaged.p, b.p, as_blocks.p)
    assert a.n_blocks == averaged.n and b.n_blocks == as_blocks.n


def run_shape(rng, shape, sims, n_check):
    _, k, rates, seeds, epochs, interaction = shape
    p_paper, w_paper, p_avg, f_avg, w_avg, p_blocks = [], [], [], [], [], []
    for i in range(sims):
        values = simulate(rng, k, rates, seeds, epochs, interaction)
        p, w = paper(values)
        averaged, as_blocks = configs(values)
        if i < n_check:
            check(values, averaged, as_blocks)
        p_paper.append(p)
        w_paper.append(w)
        p_avg.append(averaged.p)
        f_avg.append(averaged.iman_davenport_p)
        w_avg.append(averaged.kendall_w)
        p_blocks.append(as_blocks.p)
    rej = lambda ps: float(np.mean(np.asarray(ps) < 0.05))  # noqa: E731
    return rej(p_paper), rej(p_avg), rej(f_avg), rej(p_blocks), float(np.median(w_paper)), float(np.median(w_avg))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sims", type=int, default=1000, help="simulated logs per shape")
    ap.add_argument("--check", type=int, default=20, help="logs per shape also run through rank_configs")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    rng = np.random.default_rng(args.seed)
    t0 = time.perf_counter()
    print(f"{platform.machine()}, {os.cpu_count()} CPU(s), Python {sys.version.split()[0]}; "
          f"{args.sims} null logs per shape, seed {args.seed}, alpha 0.05\n")
    print("| shape | sims | paper layout, chi2 p | configs, seeds averaged, chi2 p | configs, seeds averaged, "
          "Iman-Davenport p | configs, seeds as blocks, chi2 p | median W paper | median W configs |")
    print("|---|---|---|---|---|---|---|---|")
    for shape in SHAPES:
        r = run_shape(rng, shape, args.sims, min(args.check, args.sims))
        cells = [f"{x:.3f}" for x in r[:4]] + [f"{x:.2f}" for x in r[4:]]
        print(f"| {shape[0]} | {args.sims} | {' | '.join(cells)} |")
    print(f"\nRejection rates at 0.05 (a calibrated test: about 0.05, +-{2 * np.sqrt(0.0475 / args.sims):.3f} "
          f"at two standard errors). {min(args.check, args.sims)} logs per shape checked through rank_configs. "
          f"{time.perf_counter() - t0:.0f} s.")


if __name__ == "__main__":
    main()
