"""Is the planner's power interval honest? Pilots drawn from a known model, planned, checked.

    python benchmarks/plan_power_interval.py [--pilots 100] [--quick] [--out FILE.md]

A true model of block values (configuration level, configuration x variant interaction,
seed noise with heavy tails; one variant better by ``delta``) gives the true power of every
design by direct Monte Carlo. Each simulated pilot (``configs x seeds`` drawn from the same
model, variant effects of its own) is planned as `pernode plan` plans it
(``stats.power.plan_sizes`` with its default interval over resampled pilots). Printed:

1. per design, the true power, the mean and spread of the planner's point estimates, and how
   often the interval covers the truth (nominal: ``INTERVAL``);
2. for the design each pilot recommends, its true power: the share of pilots whose
   recommendation truly reaches the target power, on the lower bound (what `plan` does) and
   on the point estimate alone (what it did before).

Everything is seeded; the machine and the time taken are printed.
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import sys
import time

import numpy as np

from _common import publish  # noqa: E402
from pernode_cli.stats.power import INTERVAL, friedman_p, plan_sizes

K, TARGET, DELTA, GOAL = 4, 0, 0.4, 0.8
CONFIGS, SEEDS = (5, 10, 15, 20, 30), (1, 2, 3)


def model(rng, configs: int, seeds: int, shift) -> np.ndarray:
    """``(configs, seeds, K)`` values: mu_c ~ N(0, 1), interaction N(0, 0.3^2), t5 seed noise (sd 0.5)."""
    y = (rng.normal(0, 1, (configs, 1, 1)) + rng.normal(0, 0.3, (configs, 1, K))
         + 0.5 * rng.standard_t(5, (configs, seeds, K)) * math.sqrt(3 / 5))
    return y + shift


def true_power(c: int, s: int, designs: int = 4000) -> float:
    rng = np.random.default_rng(100 + 10 * c + s)
    shift = np.zeros(K)
    shift[TARGET] = DELTA
    blocks = model(rng, designs * c, s, shift).mean(axis=1).reshape(designs, c, K)
    return float(np.mean(friedman_p(blocks) <= 0.05))


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return (f"{platform.machine()}, {cpu}, {os.cpu_count()} CPU(s), load {os.getloadavg()[0]:.1f}, "
            f"Python {sys.version.split()[0]}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pilots", type=int, default=100)
    ap.add_argument("--quick", action="store_true", help="20 pilots, fewer pilot shapes")
    ap.add_argument("--out", default=None, help="also write the tables to this Markdown file")
    args = ap.parse_args()
    pilots = 20 if args.quick else args.pilots
    started = time.perf_counter()
    truth = {(c, s): true_power(c, s) for c in CONFIGS for s in SEEDS}
    lines = [f"{machine()}; {pilots} pilots per shape, seed 0; interval {INTERVAL:.0%} over resampled pilots; "
             f"target power {GOAL:.0%}, delta {DELTA}, k = {K}, alpha 0.05 (Friedman, the ranking's p).", ""]
    shapes = ((10, 2), (20, 3)) if args.quick else ((10, 2), (20, 3), (40, 3))
    lines += ["| pilot | design | true power | estimate: mean (sd) | interval covers the truth |",
              "|---|---|---|---|---|"]
    picks = []
    rng = np.random.default_rng(0)
    for c0, s0 in shapes:
        est = {d: [] for d in truth}
        hit = {d: 0 for d in truth}
        chosen_low, chosen_point = [], []
        for i in range(pilots):
            tau = rng.normal(0, 0.2, K)
            plan = plan_sizes(model(rng, c0, s0, tau), DELTA, True, target=TARGET, n_configs=CONFIGS, n_seeds=SEEDS,
                              power=GOAL, seed=i, n_resamples=400)
            for (c, s), t in truth.items():
                j, r = CONFIGS.index(c), SEEDS.index(s)
                est[c, s].append(plan.omnibus_power[r][j])
                hit[c, s] += plan.omnibus_power_low[r][j] <= t <= plan.omnibus_power_high[r][j]
            chosen_low.append(truth.get(plan.omnibus_smallest) if plan.omnibus_smallest else None)
            chosen_point.append(truth.get(plan.omnibus_smallest_estimate) if plan.omnibus_smallest_estimate else None)
        for d in ((10, 1), (10, 2), (20, 1), (20, 3), (30, 2)):
            e = np.array(est[d])
            lines.append(f"| {c0} x {s0} | {d[0]} x {d[1]} | {truth[d]:.3f} | {e.mean():.3f} ({e.std():.3f}) | "
                         f"{hit[d] / pilots:.2f} |")
        picks.append((c0, s0, chosen_low, chosen_point))
    lines += ["", "| pilot | recommended on | recommendation truly reaches 80% | true power: median (min) | "
              "no recommendation |", "|---|---|---|---|---|"]
    for c0, s0, low, point in picks:
        for name, chosen in (("lower bound (plan)", low), ("point estimate", point)):
            got = np.array([x for x in chosen if x is not None])
            none = sum(x is None for x in chosen)
            share = float(np.mean(got >= GOAL)) if len(got) else float("nan")
            lines.append(f"| {c0} x {s0} | {name} | {share:.2f} | "
                         f"{np.median(got) if len(got) else float('nan'):.3f} "
                         f"({got.min() if len(got) else float('nan'):.3f})"
                         f" | {none} of {len(chosen)} |")
    lines += ["", f"Took {time.perf_counter() - started:.0f} s."]
    publish("\n".join(lines), args.out, "The planner's power interval, checked by simulation")


if __name__ == "__main__":
    main()
