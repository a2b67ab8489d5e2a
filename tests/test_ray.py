"""Sweeps on a real local Ray instance (2 CPUs, the digits backbone, no mocks of Ray).

One sweep of smoke.toml lives through both faults, so that Ray starts only twice: a
worker SIGKILLed mid-run is retried by Ray and its rows are written once; the driver
SIGKILLed after some runs reached the log is started again and resumes exactly once. The
finished log then holds the same run ids, epochs and metric values as a local sweep.
"""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

ray = pytest.importorskip("ray")
psutil = pytest.importorskip("psutil")

from pernode_cli.sweeps.config import load_config  # noqa: E402
from pernode_cli.sweeps.loop import run_sweep  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SMOKE = ROOT / "sample_configs" / "smoke.toml"
METRICS = ["val_loss", "val_acc", "train_loss", "train_acc", "fit_loss", "fit_acc", "val_ece", "val_brier"]
KEYS = ["run_id", "epoch", "attempt", "run_end", *METRICS]


def _finished(log: Path) -> pd.DataFrame:
    df = pd.read_csv(log, dtype={"run_end": str}, keep_default_na=False)
    assert not df.duplicated(["run_id", "attempt", "epoch"]).any(), "a row was written twice"
    done = df[df["run_end"] != ""][["run_id", "attempt"]]
    assert not done["run_id"].duplicated().any(), "a run finished twice"
    return df.merge(done, on=["run_id", "attempt"]).sort_values(["run_id", "epoch"]).reset_index(drop=True)


def _workers() -> list:
    return [p for p in psutil.process_iter(["pid", "cmdline"])
            if "ray::train_task" in " ".join(p.info["cmdline"] or [])]


def _wait(condition, seconds: float, proc) -> bool:
    deadline = time.time() + seconds
    while time.time() < deadline and proc.poll() is None:
        if condition():
            return True
        time.sleep(0.05)
    return False


@pytest.mark.slow
def test_ray_sweep_survives_a_killed_worker_and_driver_and_matches_local(tmp_path):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    cmd = [sys.executable, "-m", "pernode_cli", "sweep", str(SMOKE), "--ray", "--cpus-per-run", "1",
           "--log", "ray.csv", "--quiet"]
    log = tmp_path / "ray.csv"
    driver = subprocess.Popen(cmd, cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    # A worker killed while it trains: Ray retries the task on a new worker.
    assert _wait(lambda: _workers(), 240, driver), "no worker was seen training"
    time.sleep(1.0)
    victim = _workers()[0].info["pid"]
    os.kill(victim, signal.SIGKILL)
    # The driver killed once a run's rows are in the log.
    assert _wait(lambda: log.exists() and len(log.read_text().splitlines()) >= 1 + 2, 300, driver), \
        driver.stderr.read() if driver.poll() is not None else "no run reached the log"
    driver.send_signal(signal.SIGKILL)
    driver.wait()
    written = pd.read_csv(log)["run_id"].nunique()
    assert 1 <= written < 4
    resumed = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert "Token authentication" not in resumed.stderr  # Ray's start-up notices stay hidden
    on_ray = _finished(log)
    assert on_ray["run_id"].nunique() == 4 and len(on_ray) == 4 * 2
    # The same rows as a local sweep with the same seeds and backend.
    run_sweep(load_config(SMOKE), tmp_path / "local.csv")
    pd.testing.assert_frame_equal(_finished(tmp_path / "local.csv")[KEYS], on_ray[KEYS])
