"""Faults against real `pernode` processes: a second writer, a deleted or truncated log, a
mended tail, a full disk, and SIGKILL at random moments. The log must end with exactly one
complete attempt per run and never lose or double a row."""

import errno
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]
EPOCHS = 3
CONFIG = f"""dataset = "digits"
[grid]
variants = ["Dropout", "Dense"]
rates = [0.1]
units = [4]
batch_sizes = [32]
[fixed]
epochs = {EPOCHS}
max_train_samples = 64
"""


def _cmd(*args):
    return [sys.executable, "-m", "pernode_cli", *args]


def _env():
    return dict(os.environ, PYTHONPATH=str(ROOT))


def _run(tmp, *args, timeout=300):
    return subprocess.run(_cmd(*args), cwd=tmp, env=_env(), capture_output=True, text=True, timeout=timeout)


def _sweep_dir(tmp_path):
    (tmp_path / "c.toml").write_text(CONFIG)
    return tmp_path


def _assert_exactly_once(log: Path, runs: int = 2):
    """Every run has one finished attempt with every epoch once; no row is torn or doubled."""
    df = pd.read_csv(log, dtype={"run_end": str}, keep_default_na=False)
    assert not df.duplicated(["run_id", "attempt", "epoch"]).any()
    finished = df[df["run_end"] != ""][["run_id", "attempt"]]
    assert finished["run_id"].nunique() == runs and not finished["run_id"].duplicated().any()
    done = df.merge(finished, on=["run_id", "attempt"])
    assert done.groupby("run_id")["epoch"].apply(sorted).map(lambda e: e == list(range(1, EPOCHS + 1))).all()
    return df


@pytest.mark.slow
def test_one_writer_and_the_log_decides_what_finished_and_its_tail_is_mended(tmp_path):
    tmp = _sweep_dir(tmp_path)
    log = tmp / "c.csv"
    # Two sweeps on one log: the second is refused at once, naming the first.
    first = subprocess.Popen(_cmd("sweep", "c.toml", "--quiet"), cwd=tmp, env=_env(),
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    lock = tmp / "c.csv.lock"
    deadline = time.time() + 120
    while time.time() < deadline and not (lock.exists() and lock.read_text()):
        time.sleep(0.05)
    second = _run(tmp, "sweep", "c.toml", "--quiet")
    assert first.wait(timeout=300) == 0, first.stderr.read()
    assert second.returncode == 2
    assert "is being written by another process" in second.stderr and f"pid {first.pid}" in second.stderr
    assert len(second.stderr.strip().splitlines()) == 1
    df = _assert_exactly_once(log)
    assert (df["attempt"] == 1).all() and len(df) == 2 * EPOCHS
    full = log.read_bytes()
    lines = full.splitlines(keepends=True)
    # Truncated to the header and the first run's first epoch, the state file kept.
    log.write_bytes(b"".join(lines[:2]))
    again = _run(tmp, "sweep", "c.toml")
    assert again.returncode == 0, again.stderr
    assert "2 run(s) recorded as finished are not complete" in again.stderr
    # Only pernode's own lines: the backend's start-up chatter (CUDA probing, absl) is hidden.
    assert "cuda" not in again.stderr.lower() and "absl" not in again.stderr
    _assert_exactly_once(log)
    assert log.read_bytes().startswith(b"".join(lines[:2]))  # nothing written is removed
    # Deleted, the state file kept: every run again.
    log.unlink()
    assert _run(tmp, "sweep", "c.toml", "--quiet").returncode == 0
    _assert_exactly_once(log)
    # A last row without its newline is a whole row: kept, the newline added.
    whole = log.read_bytes()
    log.write_bytes(whole[:-1])
    mended = _run(tmp, "sweep", "c.toml")
    assert mended.returncode == 0 and "lacked its final newline" in mended.stderr
    assert log.read_bytes() == whole
    # A torn last row is moved aside to a file beside the log and reported.
    log.write_bytes(whole + b"Dense-0123,2026-11-29T00:00:00+00:00,dig")
    torn = _run(tmp, "sweep", "c.toml")
    assert torn.returncode == 0 and "moved a torn last line" in torn.stderr
    assert log.read_bytes() == whole
    (aside,) = tmp.glob("c.csv.torn-*")
    assert aside.read_bytes() == b"Dense-0123,2026-11-29T00:00:00+00:00,dig"


def _mount_tmpfs(folder: Path, size: str) -> bool:
    folder.mkdir()
    if os.geteuid() != 0:
        return False
    return subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)],
                          capture_output=True).returncode == 0


@pytest.mark.slow
def test_a_full_disk_leaves_no_torn_row(tmp_path):
    disk = tmp_path / "disk"
    if not _mount_tmpfs(disk, "64k"):
        pytest.skip("cannot mount a tmpfs here; test_short_write_is_undone simulates it")
    try:
        from pernode_cli.logs import CsvLog

        log = CsvLog(disk / "l.csv")  # the header and rows of another run, in a 4 KiB page
        for epoch in range(4):
            log.append({"run_id": "other", "epoch": epoch + 1, "machine": "x" * 600, "schema_version": 3})
        log.close()
        with open(disk / "filler", "wb", buffering=0) as f:  # then the disk is filled up
            try:
                while True:
                    f.write(b"x" * 1024)
            except OSError:
                pass
        result = _run(tmp_path, "train", "--epochs", "12", "--max-train-samples", "64", "--units", "4",
                      "--variant", "Dense", "--log", str(disk / "l.csv"))
        assert result.returncode == 1, result.stderr
        assert "the disk is full" in result.stderr and "Traceback" not in result.stderr
        text = (disk / "l.csv").read_text()
        assert text.endswith("\n")
        rows = pd.read_csv(disk / "l.csv")
        rows = rows[rows["run_id"] != "other"]
        assert 1 <= len(rows) < 12 and rows["epoch"].tolist() == list(range(1, len(rows) + 1))
    finally:
        subprocess.run(["umount", str(disk)], capture_output=True)


def test_short_write_is_undone(tmp_path, monkeypatch):
    from pernode_cli import logs
    from pernode_cli.errors import RunFailed

    log = logs.CsvLog(tmp_path / "l.csv")
    log.append({"run_id": "r", "epoch": 1})
    before = (tmp_path / "l.csv").read_bytes()
    real_write = os.write

    def half_then_full(fd, data):
        if len(data) > 10:
            real_write(fd, bytes(data[: len(data) // 2]))
            return len(data) // 2
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(logs.os, "write", half_then_full)
    with pytest.raises(RunFailed, match="the disk is full"):
        log.append({"run_id": "r", "epoch": 2})
    monkeypatch.undo()
    assert (tmp_path / "l.csv").read_bytes() == before
    log.close()


@pytest.mark.slow
def test_sigkill_at_random_moments_then_resume(tmp_path):
    tmp = _sweep_dir(tmp_path)
    log = tmp / "c.csv"
    rng = np.random.default_rng(7)
    # Kill moments stratified over 0-9 s (one drawn in each sixth): every phase of the sweep is
    # hit with fewer kills than uniform draws need.
    moments = (np.arange(6) + rng.uniform(0, 1, 6)) * 9.0 / 6
    for moment in rng.permutation(moments):
        proc = subprocess.Popen(_cmd("sweep", "c.toml", "--quiet"), cwd=tmp, env=_env(),
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        lock = tmp / "c.csv.lock"
        deadline = time.time() + 120
        while time.time() < deadline and proc.poll() is None and not (lock.exists() and lock.read_text()):
            time.sleep(0.02)
        # A moment between taking the lock and the sweep's end: the backend's start, a run's
        # build, its epochs and its row writes all take place in those seconds.
        time.sleep(moment)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        if log.exists():
            pd.read_csv(log)  # readable after every kill
    final = _run(tmp, "sweep", "c.toml", "--quiet")
    assert final.returncode == 0, final.stderr
    _assert_exactly_once(log)


@pytest.mark.slow
def test_interrupts_say_what_is_saved(tmp_path):
    """Ctrl-C (exit 130) and SIGTERM (exit 143), each on its own sweep, run side by side."""
    procs = {}
    for sig, code, word in ((signal.SIGINT, 130, "interrupted"), (signal.SIGTERM, 143, "terminated")):
        tmp = tmp_path / word
        tmp.mkdir()
        (tmp / "c.toml").write_text(CONFIG)
        proc = subprocess.Popen(_cmd("sweep", "c.toml"), cwd=tmp, env=_env(), stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        procs[word] = (proc, sig, code, tmp / "c.csv")
    deadline = time.time() + 180
    for _, (proc, sig, _, log) in procs.items():
        lock = log.with_name("c.csv.lock")
        while time.time() < deadline and not (lock.exists() and lock.read_text()):
            time.sleep(0.05)
        time.sleep(0.5)  # the sweep has begun: its log is locked and its first run is starting
        proc.send_signal(sig)
    for word, (proc, _, code, _) in procs.items():
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == code, err
        assert err.strip().startswith(f"{word}: c.csv holds") and "run the same command again to resume" in err
        assert "Traceback" not in err and len(err.strip().splitlines()) == 1
        assert "\x1b[?25l" not in out or out.rstrip().endswith("\x1b[?25h")  # the cursor is shown again
