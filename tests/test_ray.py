"""Sweeps on a real local Ray instance (2 CPUs, the digits backbone): the same rows as a
local sweep, a killed worker retried with its rows written once, a killed driver resumed."""

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pandas as pd
import pytest

ray = pytest.importorskip("ray")
psutil = pytest.importorskip("psutil")

from pernode_cli.sweep.config import load_config  # noqa: E402
from pernode_cli.sweep.loop import run_sweep  # noqa: E402
from pernode_cli.sweep.ray_runner import RayRunner  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SMOKE = ROOT / "sample_configs" / "smoke.toml"
METRICS = ["val_loss", "val_acc", "train_loss", "train_acc", "fit_loss", "fit_acc", "val_ece", "val_brier"]


@pytest.fixture(scope="module")
def local_ray():
    """One local Ray instance for this module's in-process drivers; its workers stay warm."""
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False,
             runtime_env={"env_vars": {"PYTHONPATH": str(ROOT)}})
    yield
    ray.shutdown()


def _finished(log: Path) -> pd.DataFrame:
    df = pd.read_csv(log, dtype={"run_end": str}, keep_default_na=False)
    done = df[df["run_end"] != ""][["run_id", "attempt"]]
    assert not done["run_id"].duplicated().any()
    return df.merge(done, on=["run_id", "attempt"]).sort_values(["run_id", "epoch"]).reset_index(drop=True)


def test_ray_sweep_gives_the_local_sweeps_rows(tmp_path, local_ray):
    config = load_config(SMOKE)
    local = run_sweep(config, tmp_path / "local.csv")
    on_ray = run_sweep(config, tmp_path / "ray.csv", runner=RayRunner())
    assert local.ran == on_ray.ran == 4 and not local.failures and not on_ray.failures
    a, b = _finished(tmp_path / "local.csv"), _finished(tmp_path / "ray.csv")
    assert len(a) == 4 * 2
    pd.testing.assert_frame_equal(a[["run_id", "epoch", "attempt", "run_end", *METRICS]],
                                  b[["run_id", "epoch", "attempt", "run_end", *METRICS]])


def _kill_one_worker(killed: list, stop: threading.Event):
    """SIGKILL the first worker seen training a run, after it has trained a moment."""
    while not stop.is_set() and not killed:
        for proc in psutil.process_iter(["pid", "cmdline"]):
            if "ray::train_task" in " ".join(proc.info["cmdline"] or []):
                time.sleep(1.0)
                os.kill(proc.info["pid"], signal.SIGKILL)
                killed.append(proc.info["pid"])
                return
        time.sleep(0.05)


def test_a_killed_worker_is_retried_and_its_rows_written_once(tmp_path, local_ray):
    killed, stop = [], threading.Event()
    killer = threading.Thread(target=_kill_one_worker, args=(killed, stop))
    killer.start()
    try:
        report = run_sweep(load_config(SMOKE), tmp_path / "ray.csv", runner=RayRunner())
    finally:
        stop.set()
        killer.join()
    assert killed, "no worker was seen training"
    assert report.ran == 4 and not report.failures
    df = pd.read_csv(tmp_path / "ray.csv")
    assert len(df) == 4 * 2 and not df.duplicated(["run_id", "epoch"]).any() and (df["attempt"] == 1).all()


def test_a_killed_driver_resumes_exactly_once(tmp_path):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    cmd = [sys.executable, "-m", "pernode_cli", "sweep", str(SMOKE), "--ray", "--cpus-per-run", "1",
           "--log", "ray.csv", "--quiet"]
    driver = subprocess.Popen(cmd, cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    log = tmp_path / "ray.csv"
    deadline = time.time() + 240
    while time.time() < deadline and driver.poll() is None:
        if log.exists() and len(log.read_text().splitlines()) >= 1 + 2:  # one run's rows are in
            break
        time.sleep(0.05)
    assert driver.poll() is None, "the sweep ended before it could be killed"
    driver.send_signal(signal.SIGKILL)
    driver.wait()
    written = pd.read_csv(log)["run_id"].nunique()
    assert 1 <= written < 4
    resumed = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    df = _finished(log)
    assert df["run_id"].nunique() == 4 and len(df) == 4 * 2
    assert not pd.read_csv(log).duplicated(["run_id", "attempt", "epoch"]).any()
