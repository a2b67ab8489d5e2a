"""Train one configuration of one variant on one data set, logging every epoch."""

from __future__ import annotations

import hashlib
import json
import math
import time
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timezone
from typing import Callable, Optional

from pernode_cli import __version__
from pernode_cli.errors import PernodeError
from pernode_cli.logs import SCHEMA_VERSION, CsvLog
from pernode_cli.variants import canonical_variant


@dataclass
class TrainConfig:
    dataset: str = "digits"
    variant: str = "PerNodeGaussian"
    rate: float = 0.5
    units: int = 128
    batch_size: int = 128
    epochs: int = 20
    lr: float = 1e-3
    seed: int = 0
    data_dir: Optional[str] = None
    max_train_samples: Optional[int] = None
    patience: Optional[int] = None
    mc_samples: int = 0

    def validate(self) -> "TrainConfig":
        """Check every setting (raising PernodeError) and make the variant name canonical."""
        self.variant = canonical_variant(self.variant)
        if not isinstance(self.rate, (int, float)) or not (0 <= self.rate < 1):
            raise PernodeError(f"--rate must be in [0, 1); got {self.rate}.")
        for name in ("units", "batch_size", "epochs"):
            value = getattr(self, name)
            if not isinstance(value, int) or value <= 0:
                raise PernodeError(f"--{name.replace('_', '-')} must be a positive integer; got {value}.")
        if not (isinstance(self.lr, (int, float)) and self.lr > 0 and math.isfinite(self.lr)):
            raise PernodeError(f"--lr must be a positive number; got {self.lr}.")
        if not isinstance(self.seed, int) or self.seed < 0:
            raise PernodeError(f"--seed must be a non-negative integer; got {self.seed}.")
        if self.max_train_samples is not None and self.max_train_samples <= 0:
            raise PernodeError(f"--max-train-samples must be positive; got {self.max_train_samples}.")
        if not isinstance(self.mc_samples, int) or self.mc_samples < 0:
            raise PernodeError(f"--mc-samples must be 0 (off) or a positive integer; got {self.mc_samples}.")
        if self.patience is not None and self.patience < 0:
            raise PernodeError(f"--patience must be 0 (off) or positive; got {self.patience}.")
        return self

    def settings(self) -> dict:
        """What identifies a run (everything but where the data lives)."""
        s = asdict(self)
        s.pop("data_dir")
        if not s["mc_samples"]:
            s.pop("mc_samples")  # evaluation only: a run without MC keeps its id
        return s


def make_run_id(settings: dict) -> str:
    """Deterministic id of a run: a hash of its settings, readable prefix first."""
    digest = hashlib.sha1(json.dumps(settings, sort_keys=True, default=str).encode()).hexdigest()[:10]
    return f"{settings['variant']}-{digest}"


@dataclass
class RunResult:
    run_id: str
    rows: list = field(default_factory=list)
    failed: bool = False
    message: str = ""

    @property
    def best(self) -> Optional[dict]:
        ok = [r for r in self.rows if math.isfinite(r["val_loss"])]
        return min(ok, key=lambda r: r["val_loss"]) if ok else None


def _finite(*values) -> bool:
    return all(v is not None and math.isfinite(v) for v in values)


def _inputs(x, y, batch_size: int, shuffle: bool, seed: int):
    """numpy arrays go to Keras as they are; sparse matrices are densified per batch."""
    from scipy import sparse

    if not sparse.issparse(x):
        return x, y
    import keras
    import numpy as np

    class SparseBatches(keras.utils.PyDataset):
        def __init__(self):
            super().__init__()
            self.order = np.arange(x.shape[0])
            self.rng = np.random.default_rng(seed)
            self.on_epoch_end()

        def __len__(self):
            return math.ceil(x.shape[0] / batch_size)

        def __getitem__(self, i):
            idx = self.order[i * batch_size : (i + 1) * batch_size]
            return x[idx].toarray().astype("float32"), y[idx]

        def on_epoch_end(self):
            if shuffle:
                self.rng.shuffle(self.order)

    return SparseBatches(), None


def _prepare(config: TrainConfig, dataset):
    from pernode_cli.data import load_dataset

    data = dataset or load_dataset(config.dataset, config.data_dir, config.seed)
    if config.max_train_samples is not None and config.max_train_samples < data.x_train.shape[0]:
        n = config.max_train_samples
        data = replace(data, x_train=data.x_train[:n], y_train=data.y_train[:n])
    return data


def train_run(
    config: TrainConfig,
    log: CsvLog,
    on_epoch: Optional[Callable[[dict], None]] = None,
    dataset=None,
    run_id: Optional[str] = None,
) -> RunResult:
    """Train ``config`` and append one row per epoch to ``log``.

    The epoch-end training loss is the paper's: the updated model evaluated in inference
    mode on the whole training set after the epoch; ``fit_loss`` is Keras' running value.
    A non-finite loss stops the run; its row is logged with ``status="nonfinite"``.
    """
    config.validate()
    data = _prepare(config, dataset)

    import keras

    from pernode_cli.env import backend_name, backend_version, device_name, machine_info
    from pernode_cli.models import build_model, module_sampler

    backend = backend_name()
    if backend == "tensorflow":
        import tensorflow as tf

        tf.config.experimental.enable_op_determinism()
    keras.utils.set_random_seed(config.seed)
    model = build_model(
        data.input_shape,
        data.n_outputs,
        data.backbone,
        config.variant,
        config.units,
        config.rate,
        multilabel=data.multilabel,
        seed=config.seed,
    )
    if data.multilabel:
        loss, acc = "binary_crossentropy", keras.metrics.BinaryAccuracy(name="acc")
    else:
        loss, acc = "categorical_crossentropy", keras.metrics.CategoricalAccuracy(name="acc")
    model.compile(optimizer=keras.optimizers.Adam(config.lr), loss=loss, metrics=[acc])

    sampler = module_sampler(model)
    run_id = run_id or make_run_id(config.settings())
    stamp = {
        "run_id": run_id,
        "dataset": data.name,
        "variant": config.variant,
        "rate": config.rate,
        "units": config.units,
        "batch_size": config.batch_size,
        "seed": config.seed,
        "lr": config.lr,
        "epochs": config.epochs,
        "patience": config.patience,
        "max_train_samples": config.max_train_samples,
        "sampler": sampler,
        "backend": backend,
        "backend_version": backend_version(backend),
        "device": device_name(backend),
        "machine": machine_info(),
        "pernode_version": __version__,
        "schema_version": SCHEMA_VERSION,
    }
    result = RunResult(run_id)
    train_x, train_y = _inputs(data.x_train, data.y_train, config.batch_size, True, config.seed)
    eval_sets = {
        "train": _inputs(data.x_train, data.y_train, config.batch_size, False, config.seed),
        "val": _inputs(data.x_val, data.y_val, config.batch_size, False, config.seed),
    }

    import numpy as np

    from pernode_cli import metrics
    from pernode_cli.mc import MCPredictor, is_deterministic

    val_x, val_y = eval_sets["val"]
    predict_batch = config.batch_size if val_y is not None else None
    mc = MCPredictor(model) if config.mc_samples else None
    mc_passes = (1 if is_deterministic(config.variant) else config.mc_samples) if mc else None

    def calibration(row: dict) -> None:
        row["mc_samples"] = config.mc_samples
        probs = model.predict(val_x, batch_size=predict_batch, verbose=0)
        if not np.isfinite(probs).all():  # a diverged model: its row says nonfinite anyway
            return
        row["val_ece"] = metrics.expected_calibration_error(probs, data.y_val, data.multilabel)
        row["val_brier"] = metrics.brier_score(probs, data.y_val, data.multilabel)
        if mc is None:
            return
        mean = mc.mean(val_x, mc_passes, predict_batch)
        row["mc_passes"] = mc_passes
        row["mc_val_loss"] = metrics.log_loss(mean, data.y_val, data.multilabel)
        row["mc_val_acc"] = metrics.accuracy(mean, data.y_val, data.multilabel)
        row["mc_val_ece"] = metrics.expected_calibration_error(mean, data.y_val, data.multilabel)

    class EpochLogger(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.best, self.wait = math.inf, 0

        def on_epoch_begin(self, epoch, logs=None):
            self.t0 = time.perf_counter()

        def on_train_batch_end(self, batch, logs=None):
            if logs and not _finite(float(logs.get("loss", 0.0))):
                self.model.stop_training = True

        def on_epoch_end(self, epoch, logs=None):
            seconds = time.perf_counter() - self.t0
            logs = logs or {}
            row = dict(stamp, epoch=epoch + 1, epoch_seconds=round(seconds, 4))
            row["fit_loss"] = float(logs.get("loss", math.nan))
            row["fit_acc"] = float(logs.get("acc", math.nan))
            for split, (x, y) in eval_sets.items():
                scores = self.model.evaluate(
                    x, y, batch_size=config.batch_size, verbose=0, return_dict=True
                )
                row[f"{split}_loss"] = float(scores["loss"])
                row[f"{split}_acc"] = float(scores["acc"])
            calibration(row)
            ok = _finite(row["fit_loss"], row["val_loss"], row["train_loss"])
            row["status"] = "ok" if ok else "nonfinite"
            row["timestamp"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
            log.append(row)
            result.rows.append(row)
            if on_epoch is not None:
                on_epoch(row)
            if not ok:
                result.failed = True
                result.message = f"non-finite loss at epoch {epoch + 1}; run stopped"
                self.model.stop_training = True
                return
            if config.patience:
                if row["val_loss"] < self.best:
                    self.best, self.wait = row["val_loss"], 0
                else:
                    self.wait += 1
                    if self.wait >= config.patience:
                        self.model.stop_training = True

    model.fit(
        train_x,
        train_y,
        batch_size=config.batch_size if train_y is not None else None,
        epochs=config.epochs,
        shuffle=True,
        verbose=0,
        callbacks=[EpochLogger()],
    )
    return result
