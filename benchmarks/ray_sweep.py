"""One 8-run digits sweep, local against `--ray` on this machine's CPUs, measured in one run.

    python benchmarks/ray_sweep.py [--cpus 2] [--epochs 5]

Prints a table of wall times (process start included: what a user waits for) and the
ratio of each to the local sweep.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CONFIG = """dataset = "digits"
[grid]
variants = ["Dropout", "GaussianDropout", "PerNodeBernoulli", "PerNodeGaussian"]
rates = [0.2, 0.5]
units = [64]
batch_sizes = [64]
[fixed]
epochs = {epochs}
"""


def timed(cmd, cwd) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, cwd=cwd, check=True, env=dict(os.environ, PYTHONPATH=str(ROOT)),
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cpus", type=int, default=os.cpu_count())
    parser.add_argument("--epochs", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        Path(tmp, "eight.toml").write_text(CONFIG.format(epochs=args.epochs))
        base = [sys.executable, "-m", "pernode_cli", "sweep", "eight.toml", "--quiet"]
        local = timed([*base, "--log", "local.csv"], tmp)
        ray = timed([*base, "--log", "ray.csv", "--ray", "--cpus-per-run", "1"], tmp)
    print(f"| 8-run digits sweep, {args.epochs} epochs, {args.cpus} CPUs | wall time (s) | x local |")
    print("|---|---|---|")
    print(f"| local (one run at a time) | {local:.1f} | 1.00 |")
    print(f"| --ray, 1 CPU per run | {ray:.1f} | {ray / local:.2f} |")


if __name__ == "__main__":
    main()
