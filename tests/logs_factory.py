"""Logs as `train` and `sweep` write them, made in memory for the ranking and report tests."""

import csv

import numpy as np

from pernode_cli.schema import TRAIN_COLUMNS

VARIANTS = ("Dropout", "GaussianDropout", "PerNodeBernoulli", "PerNodeGaussian")


def log_rows(dataset="digits", variants=VARIANTS, rates=(0.2, 0.4, 0.6), seeds=(0,), epochs=4, units=64,
             batch_size=128, seed=0, effects=None, test=True, schema=4):
    """Every variant x rate x seed, finished, with loss curves (test_loss a little above val_loss)."""
    rng = np.random.default_rng(seed)
    effects = effects or {v: 0.05 * j for j, v in enumerate(variants)}
    rows, t = [], 0
    for v in variants:
        for rate in rates:
            for s in seeds:
                run_effect = rng.normal(0, 0.03)
                for e in range(1, epochs + 1):
                    t += 1
                    val = 0.3 + effects[v] + 0.2 * rate + run_effect + 1.0 / e + 0.01 * e + rng.normal(0, 0.01)
                    row = {
                        "run_id": f"{v}-{dataset}-{rate}-{units}-{batch_size}-{s}", "dataset": dataset,
                        "timestamp": f"2026-01-{1 + t // 1000:02d}T00:{(t // 60) % 60:02d}:{t % 60:02d}+00:00",
                        "variant": v, "rate": rate, "units": units, "batch_size": batch_size, "seed": s,
                        "epoch": e, "attempt": 1, "val_loss": round(val, 6), "val_acc": round(1 - val / 3, 6),
                        "train_loss": round(val * 0.8, 6), "train_acc": round(1 - val / 4, 6),
                        "fit_loss": round(val * 0.9, 6), "fit_acc": 0.5, "val_ece": 0.05, "val_brier": 0.2,
                        "mc_samples": 0, "mc_passes": "", "epoch_seconds": 1.5, "status": "ok",
                        "run_end": "epochs" if e == epochs else "", "lr": 0.001, "epochs": epochs, "patience": "",
                        "max_train_samples": "", "train_samples": 1077, "sampler": "", "backend": "tensorflow",
                        "backend_version": "2.21.0", "device": "CPU", "machine": "Linux x86_64, 2 CPUs",
                        "pernode_version": "0.1.0", "schema_version": schema,
                    }
                    if test and schema >= 4:
                        row.update(test_loss=round(val + 0.02 + rng.normal(0, 0.01), 6),
                                   test_acc=round(1 - val / 3 - 0.01, 6), data_fingerprint=f"{dataset}@2",
                                   split="train 1077 / val 360 / test 360, stratified, seed 0")
                    rows.append(row)
    return rows


def write_log(path, rows, columns=TRAIN_COLUMNS):
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(columns), lineterminator="\n", extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)
    return path


SCHEMA3_COLUMNS = [c for c in TRAIN_COLUMNS if c not in ("test_loss", "test_acc", "data_fingerprint", "split")]
