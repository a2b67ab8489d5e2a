"""What a training run produces: one ``EpochRow`` per epoch (the log's columns, declared
once) and the ``RunResult`` of the whole run. No Keras here: `rank` and `sweep` read these."""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from typing import Optional

from pernode_cli import SCHEMA_VERSION, __version__


@dataclass(kw_only=True)
class EpochRow:
    """One row of a training log; the field order is the column order."""

    run_id: str
    timestamp: str = ""  # UTC time the row was written
    dataset: str
    data_fingerprint: str = ""  # the data trained on: NAME@VERSION, +dir:HASH, or npz:HASH of the file
    variant: str
    rate: float
    realised_rate: Optional[float] = None  # the drop probability that ran (Bernoulli: a multiple of 2^-15)
    units: int
    batch_size: int
    seed: int
    epoch: int
    attempt: int = 1  # 1 + the earlier attempts of this run in the log (an interrupted one stays)
    val_loss: float = math.nan
    val_acc: float = math.nan
    test_loss: Optional[float] = None  # the held-out test split (empty where the data have none)
    test_acc: Optional[float] = None
    train_loss: float = math.nan  # epoch-end: the updated model in inference mode
    train_acc: float = math.nan
    fit_loss: float = math.nan  # Keras' running value during the epoch
    fit_acc: float = math.nan
    val_ece: Optional[float] = None
    val_brier: Optional[float] = None
    mc_samples: Optional[int] = None
    mc_passes: Optional[int] = None
    mc_val_loss: Optional[float] = None
    mc_val_acc: Optional[float] = None
    mc_val_ece: Optional[float] = None
    epoch_seconds: float = math.nan  # training pass only, device-synced
    status: str = "ok"  # ok | nonfinite
    run_end: str = ""  # on the attempt's last row only: epochs | patience | nonfinite
    lr: float
    epochs: int
    patience: Optional[int] = None
    max_train_samples: Optional[int] = None
    train_samples: Optional[int] = None  # training samples used (a seeded stratified subset when cut)
    split: str = ""  # how train / validation / test were split (sizes, stratification, seed)
    sampler: str = ""
    backend: str = ""
    backend_version: str = ""
    device: str = ""
    machine: str = ""
    pernode_version: str = __version__
    schema_version: int = SCHEMA_VERSION


TRAIN_COLUMNS = [f.name for f in fields(EpochRow)]


@dataclass
class RunResult:
    run_id: str
    rows: list = field(default_factory=list)  # one dict per epoch, keys TRAIN_COLUMNS
    failed: bool = False
    message: str = ""

    @property
    def best(self) -> Optional[dict]:
        ok = [r for r in self.rows if math.isfinite(r["val_loss"])]
        return min(ok, key=lambda r: r["val_loss"]) if ok else None
