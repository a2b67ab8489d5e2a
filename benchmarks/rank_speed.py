"""Wall time of `pernode rank` on a synthetic 100,000-row log (target: under 2 s).

    python benchmarks/rank_speed.py [--rows 100000] [--repeats 3]

Writes the log to a temporary folder, runs `pernode rank LOG --format json` in a fresh
process (imports included, as a user would), and prints the times.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

VARIANTS = ["Dropout", "GaussianDropout", "DropConnect", "MaskEnsemble", "PerNodeBernoulli",
            "PerNodeGaussian", "PerNodeBernoulli_Fixed", "PerNodeGaussian_Fixed"]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rows", type=int, default=100_000)
    p.add_argument("--repeats", type=int, default=3)
    args = p.parse_args()
    rng = np.random.default_rng(0)
    runs = args.rows // 20  # runs of 20 epochs, each with its own settings
    n = runs * 20
    per_run = lambda values: np.repeat(values, 20)  # noqa: E731
    frame = pd.DataFrame({
        "run_id": per_run(np.arange(runs)).astype(str),
        "dataset": per_run(rng.choice(["cifar10", "rcv1", "speech_commands"], runs)),
        "variant": per_run(rng.choice(VARIANTS, runs)),
        "rate": per_run(rng.integers(0, 10, runs) / 10),
        "epoch": np.tile(np.arange(1, 21), runs),
        "val_loss": rng.random(n), "val_acc": rng.random(n),
        "train_loss": rng.random(n), "train_acc": rng.random(n),
        "status": "ok",
    })
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "log.csv"
        frame.to_csv(log, index=False)
        times = []
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            subprocess.run([sys.executable, "-m", "pernode_cli", "rank", str(log), "--format", "json"],
                           check=True, capture_output=True)
            times.append(time.perf_counter() - t0)
    print(f"pernode rank on {n} rows (3 data sets, 8 variants): median {statistics.median(times):.2f} s, "
          f"runs {', '.join(f'{t:.2f}' for t in times)} s; target < 2 s")


if __name__ == "__main__":
    main()
