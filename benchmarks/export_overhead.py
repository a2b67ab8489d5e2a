"""What a live export costs a sweep: the caller's time per epoch, and the sweep's wall time.

    python benchmarks/export_overhead.py [--runs 4] [--epochs 5] [--repeats 2] [--no-mlflow]

Trains a small digits sweep in this process (``run_sweep`` with the local runner, Keras'
default backend) with and without a live export, alternating the order between repeats
so that a busy machine slows both alike. With export, a sweep hook calls
``Exporters.run_start``, ``.epoch`` and ``.run_end`` where the trainers will (each row is
already in the CSV when ``epoch`` is called), sending to a TensorBoard folder and to a
local ``mlflow server`` (SQLite store; started here, ``--no-mlflow`` leaves it out). Each
call is timed with ``perf_counter_ns``. Prints the caller's time per call (median, 99th
percentile, max) and per epoch, the time ``close()`` waits for the trackers after the last
row, and each sweep's wall time with and without export.
"""

from __future__ import annotations

import argparse
import os
import platform
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from pernode_cli.export import open_exporters  # noqa: E402
from pernode_cli.sweeps.config import load_config  # noqa: E402
from pernode_cli.sweeps.loop import SweepEvents, run_sweep  # noqa: E402

CONFIG = """dataset = "digits"
[grid]
variants = {variants}
rates = {rates}
units = [16]
batch_sizes = [64]
[fixed]
epochs = {epochs}
max_train_samples = 512
"""


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def start_mlflow(folder: Path) -> tuple[subprocess.Popen, str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", f"sqlite:///{folder}/mlflow.db",
         "--artifacts-destination", str(folder / "artifacts"), "--host", "127.0.0.1", "--port", str(port),
         "--workers", "1"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        env=dict(os.environ, MLFLOW_SERVER_ENABLE_JOB_EXECUTION="false"))  # tracking only: no GenAI job runner
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2):
                return server, url
        except OSError:
            time.sleep(0.3)
    raise SystemExit("mlflow server did not start")


class ExportingEvents(SweepEvents):
    """The sweep's hooks, exporting as the integration will, each call timed."""

    def __init__(self, exporters):
        self.ex, self.rows = exporters, {}
        self.ns = {"run_start": [], "epoch": [], "run_end": []}

    def run_start(self, run, epochs: int) -> None:
        t = time.perf_counter_ns()
        self.ex.run_start(run.run_id, 1, tags={"source": "benchmark"})  # a fresh log: attempt 1
        self.ns["run_start"].append(time.perf_counter_ns() - t)

    def epoch(self, row: dict) -> None:
        t = time.perf_counter_ns()
        self.ex.epoch(row["run_id"], row["attempt"], row)
        self.ns["epoch"].append(time.perf_counter_ns() - t)
        self.rows.setdefault((row["run_id"], row["attempt"]), []).append(row)

    def run_end(self, run, message: str) -> None:
        key = next(k for k in self.rows if k[0] == run.run_id)
        t = time.perf_counter_ns()
        self.ex.run_end(*key, self.rows[key])
        self.ns["run_end"].append(time.perf_counter_ns() - t)


def sweep_once(folder: Path, config_text: str, exporters=None):
    folder.mkdir(parents=True)
    (folder / "c.toml").write_text(config_text)
    events = ExportingEvents(exporters) if exporters is not None else SweepEvents()
    t = time.perf_counter()
    report = run_sweep(load_config(folder / "c.toml"), folder / "c.csv", events=events)
    wall = time.perf_counter() - t
    assert not report.failures, report.failures
    close_s, problems = 0.0, []
    if exporters is not None:
        t = time.perf_counter()
        problems = exporters.close(timeout_s=120)
        close_s = time.perf_counter() - t
    return wall, close_s, events, problems


def us(ns_list, q=None) -> str:
    if not ns_list:
        return "-"
    xs = sorted(ns_list)
    value = xs[min(len(xs) - 1, int(q * len(xs)))] if q is not None else statistics.median(xs)
    return f"{value / 1000:.1f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=4, help="runs per sweep (variants x rates)")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--no-mlflow", action="store_true")
    args = parser.parse_args()
    variants = ["Dropout", "PerNodeBernoulli"][: max(1, min(2, args.runs))]
    rates = [round(0.1 + 0.2 * i, 1) for i in range((args.runs + len(variants) - 1) // len(variants))]
    config = CONFIG.format(variants=variants, rates=rates, epochs=args.epochs)
    root = Path(tempfile.mkdtemp(prefix="pernode-export-bench-"))
    server, url = (None, None) if args.no_mlflow else start_mlflow(root / "mlflow")
    load_start = os.getloadavg()
    walls = {"export": [], "plain": []}
    closes, calls = [], {"run_start": [], "epoch": [], "run_end": []}
    try:
        sweep_once(root / "warmup", config)  # backend start-up and data loading, once, outside the timings
        for r in range(args.repeats):
            for kind in (("export", "plain") if r % 2 == 0 else ("plain", "export")):
                # Each repeat trains the same run ids again: a tracker of its own (an experiment, a
                # folder), or the tracker would rightly refuse rows that differ from those it holds.
                ex = (open_exporters(tensorboard=str(root / f"tb-{r}"), mlflow=url, experiment=f"bench-{r}")
                      if kind == "export" else None)
                wall, close_s, events, problems = sweep_once(root / f"{kind}-{r}", config, ex)
                walls[kind].append(wall)
                if ex is not None:
                    closes.append(close_s)
                    for k, v in events.ns.items():
                        calls[k] += v
                    assert not problems, problems
    finally:
        if server is not None:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=60)
    load_end = os.getloadavg()
    epochs = len(calls["epoch"])
    per_epoch_ns = (sum(calls["epoch"]) + sum(calls["run_start"]) + sum(calls["run_end"])) / max(1, epochs)
    trackers = "TensorBoard folder" + ("" if args.no_mlflow else " + local mlflow server (SQLite)")
    print(f"machine: {cpu_model()}, {os.cpu_count()} CPUs, {platform.system()} {platform.machine()}, "
          f"Python {platform.python_version()}; load average {load_start[0]:.2f} at start, {load_end[0]:.2f} at end")
    print(f"sweep: digits, {args.runs} runs x {args.epochs} epochs, units 16, batch 64, 512 training samples; "
          f"export to {trackers}; {args.repeats} repeat(s), order alternating\n")
    print("| call | n | median us | p99 us | max us |")
    print("|---|---|---|---|---|")
    for k in ("run_start", "epoch", "run_end"):
        v = calls[k]
        print(f"| {k} | {len(v)} | {us(v)} | {us(v, 0.99)} | {max(v) / 1000 if v else 0:.1f} |")
    print(f"\ncaller's time per epoch (all three calls, summed over the sweeps / epochs): {per_epoch_ns / 1000:.1f} us")
    print(f"close() waiting for the trackers after the last row: {', '.join(f'{c:.2f}' for c in closes)} s")
    print("sweep wall time without export: " + ", ".join(f"{w:.2f}" for w in walls["plain"]) + " s")
    print("sweep wall time with export:    " + ", ".join(f"{w:.2f}" for w in walls["export"]) + " s"
          " (close() not included)")
    if walls["plain"] and walls["export"]:
        ratio = statistics.median(walls["export"]) / statistics.median(walls["plain"])
        print(f"median ratio with / without: {ratio:.3f}")


if __name__ == "__main__":
    main()
