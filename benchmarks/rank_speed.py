"""Wall time of `pernode rank` on a large synthetic log, beside reading it with pandas.

    python benchmarks/rank_speed.py [--rows 1000000] [--repeats 3] [--out FILE.md]

Writes a log of every column of the current schema (runs of 20 epochs, 3 data sets, 8
variants, 10 rates, 5 seeds, one row per epoch as `sweep` writes it) to a temporary folder,
then times, in fresh processes and alternating so that drift spreads over both:

- `pandas.read_csv` of the file (imports included): the floor any reader pays;
- `pernode rank LOG --format json` (imports, the checks of every cell, cleaning, blocks,
  the tests and the JSON).

Target: rank within twice the pandas read plus 5 s. Prints the machine and the times.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from _common import cpu_description, publish  # noqa: E402

VARIANTS = ["Dropout", "GaussianDropout", "DropConnect", "MaskEnsemble", "PerNodeBernoulli",
            "PerNodeGaussian", "PerNodeBernoulli_Fixed", "PerNodeGaussian_Fixed"]
EPOCHS = 20


def make_log(path: Path, rows: int, seed: int = 0) -> int:
    """A log of ``rows`` rows (whole runs), every column of the schema; returns the row count."""
    from pernode_cli.schema import TRAIN_COLUMNS, row

    rng = np.random.default_rng(seed)
    runs = max(1, rows // EPOCHS)
    n = runs * EPOCHS
    run = np.repeat(np.arange(runs), EPOCHS)
    dataset = np.array(["cifar10", "rcv1", "speech_commands"])[run % 3]
    variant = np.array(VARIANTS)[(run // 3) % len(VARIANTS)]
    rate = ((run // 24) % 10) / 10
    seed_col = (run // 240) % 5
    epoch = np.tile(np.arange(1, EPOCHS + 1), runs)
    effect = rng.normal(0, 0.03, runs)[run]
    val = np.round(0.3 + 0.2 * rate + effect + 1.0 / epoch + rng.normal(0, 0.01, n), 6)
    defaults = row(run_id="", epoch=1, dataset="", variant="")
    frame = pd.DataFrame({c: defaults[c] for c in TRAIN_COLUMNS}, index=np.arange(n))
    frame["run_id"] = np.char.add(np.char.add(variant.astype(str), "-"), run.astype(str))
    frame["epoch"], frame["dataset"], frame["variant"] = epoch, dataset, variant
    frame["rate"], frame["seed"], frame["realised_rate"] = rate, seed_col, rate
    frame["val_loss"], frame["test_loss"] = val, np.round(val + 0.02, 6)
    frame["val_acc"] = frame["test_acc"] = np.round(1 - val / 3, 6)
    frame["train_loss"] = frame["fit_loss"] = np.round(val * 0.8, 6)
    frame["train_acc"] = frame["fit_acc"] = np.round(1 - val / 4, 6)
    frame["val_ece"], frame["val_brier"], frame["epoch_seconds"] = 0.05, 0.2, 1.5
    frame["run_end"] = np.where(epoch == EPOCHS, "epochs", "")
    frame["data_fingerprint"] = np.char.add(dataset.astype(str), "@2")
    frame["split"], frame["train_samples"], frame["module_params"] = (
        "train 45000 / val 5000 / test 10000", 45000, 524416)
    frame["timestamp"] = "2026-12-07T00:00:00+00:00"
    frame["sources"], frame["backend"], frame["device"] = "pernode 0.2.0", "tensorflow", "CPU"
    frame.to_csv(path, index=False)
    return n


def timed(args) -> float:
    t0 = time.perf_counter()
    subprocess.run(args, check=True, capture_output=True)
    return time.perf_counter() - t0


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rows", type=int, default=1_000_000)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--out", default=None)
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "log.csv"
        n = make_log(log, args.rows)
        size = log.stat().st_size / 2**20
        read = [sys.executable, "-c", f"import pandas as pd; pd.read_csv({str(log)!r})"]
        rank = [sys.executable, "-m", "pernode_cli", "rank", str(log), "--format", "json"]
        pandas_t, rank_t = [], []
        for r in range(args.repeats):
            for which in ((read, pandas_t), (rank, rank_t))[:: 1 if r % 2 == 0 else -1]:
                which[1].append(timed(which[0]))
    pm, rm = statistics.median(pandas_t), statistics.median(rank_t)
    target = 2 * pm + 5
    text = "\n".join([
        f"{platform.machine()}, {os.cpu_count()} CPU(s), {cpu_description()}; Python {sys.version.split()[0]}, "
        f"pandas {pd.__version__}; 1-minute load {os.getloadavg()[0]:.1f} at the end", "",
        "| what | log | median of runs (s) | runs (s) |", "|---|---|---|---|",
        f"| pandas.read_csv (fresh process) | {n:,} rows, {size:.0f} MiB | {pm:.2f} | "
        f"{', '.join(f'{t:.2f}' for t in pandas_t)} |",
        f"| pernode rank --format json (fresh process) | same | {rm:.2f} | {', '.join(f'{t:.2f}' for t in rank_t)} |",
        "", f"Target: rank <= 2 x read + 5 s = {target:.1f} s: {'met' if rm <= target else 'NOT met'} "
            f"(rank / read = {rm / pm:.2f}).",
    ])
    publish(text, args.out, "pernode rank on a large log")


if __name__ == "__main__":
    main()
