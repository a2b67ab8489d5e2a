"""Train one configuration of one variant on one data set, logging every epoch.

The epoch-end training loss is the paper's: the updated model evaluated in inference mode
on the whole training set after the epoch; ``fit_loss`` is Keras' running value. A
non-finite loss stops the run; its row is logged with ``status="nonfinite"``.
"""

from __future__ import annotations

import math
from dataclasses import asdict, replace
from pathlib import Path
from typing import Callable, Optional

import keras

from pernode_cli.data import Dataset, load_dataset
from pernode_cli.errors import PernodeError
from pernode_cli.logs import CsvLog
from pernode_cli.models import build_model, module_sampler
from pernode_cli.training.callbacks import EpochTimer, NonFiniteStop, utc_now
from pernode_cli.training.config import TrainConfig, make_run_id
from pernode_cli.training.environment import environment_stamp
from pernode_cli.training.evaluation import Calibration, evaluate_splits
from pernode_cli.training.inputs import fit_batch_size, keras_inputs
from pernode_cli.training.records import EpochRow, RunResult

OnEpoch = Optional[Callable[[dict], None]]


class RowLogger(keras.callbacks.Callback):
    """After each epoch: evaluate, append the row to the log, report it, stop if non-finite.

    It also puts the epoch-end ``val_loss`` into Keras' logs, where ``EarlyStopping``
    (placed after it) reads it.
    """

    def __init__(self, stamp: dict, timer: EpochTimer, splits: dict, calibration: Calibration,
                 batch_size: int, log: CsvLog, result: RunResult, on_epoch: OnEpoch):
        super().__init__()
        self.stamp, self.timer, self.splits, self.calibration = stamp, timer, splits, calibration
        self.batch_size, self.log, self.result, self.on_epoch = batch_size, log, result, on_epoch

    def on_epoch_end(self, epoch, logs=None):
        logs = logs if logs is not None else {}
        row = dict(self.stamp, epoch=epoch + 1, epoch_seconds=round(self.timer.seconds[-1], 4))
        row.update(fit_loss=float(logs.get("loss", math.nan)), fit_acc=float(logs.get("acc", math.nan)))
        row.update(evaluate_splits(self.model, self.splits, self.batch_size))
        row.update(self.calibration())
        ok = all(math.isfinite(row[k]) for k in ("fit_loss", "val_loss", "train_loss"))
        row = asdict(EpochRow(**row, status="ok" if ok else "nonfinite", timestamp=utc_now()))
        self.log.append(row)
        self.result.rows.append(row)
        if self.on_epoch is not None:
            self.on_epoch(row)
        logs["val_loss"] = row["val_loss"]
        if not ok:
            self.result.failed = True
            self.result.message = f"non-finite loss at epoch {epoch + 1}; run stopped"
            self.model.stop_training = True


def prepare_data(config: TrainConfig, dataset: Optional[Dataset] = None) -> Dataset:
    """The run's data: loaded unless given, cut to ``max_train_samples``."""
    data = dataset or load_dataset(config.dataset, config.data_dir, config.seed)
    n = config.max_train_samples
    if n is not None and n < data.x_train.shape[0]:
        data = replace(data, x_train=data.x_train[:n], y_train=data.y_train[:n])
    return data


def compiled_model(config: TrainConfig, data: Dataset):
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        tf.config.experimental.enable_op_determinism()
    keras.utils.set_random_seed(config.seed)
    model = build_model(data.input_shape, data.n_outputs, data.backbone, config.variant, config.units,
                        config.rate, multilabel=data.multilabel, seed=config.seed)
    model.compile(optimizer=keras.optimizers.Adam(config.lr), loss=loss_for(data.multilabel), metrics=[accuracy_for(data.multilabel)])
    return model


def loss_for(multilabel: bool) -> str:
    return "binary_crossentropy" if multilabel else "categorical_crossentropy"


def accuracy_for(multilabel: bool):
    if multilabel:
        return keras.metrics.BinaryAccuracy(name="acc")
    return keras.metrics.CategoricalAccuracy(name="acc")


def run_stamp(config: TrainConfig, data: Dataset, run_id: str, sampler: str) -> dict:
    """The columns that are the same in every row of the run."""
    settings = {k: getattr(config, k) for k in ("variant", "rate", "units", "batch_size", "seed", "lr",
                                                 "epochs", "patience", "max_train_samples")}
    return dict(settings, run_id=run_id, dataset=data.name, sampler=sampler, **environment_stamp())


def train_run(config: TrainConfig, log: CsvLog, on_epoch: OnEpoch = None, dataset: Optional[Dataset] = None,
              run_id: Optional[str] = None) -> RunResult:
    """Train ``config`` and append one row per epoch to ``log``."""
    config.validate()
    data = prepare_data(config, dataset)
    model = compiled_model(config, data)
    run_id = run_id or make_run_id(config.settings())
    result = RunResult(run_id)
    bs = config.batch_size
    train_x, train_y = keras_inputs(data.x_train, data.y_train, bs, True, config.seed)
    splits = {"train": keras_inputs(data.x_train, data.y_train, bs, False, config.seed),
              "val": keras_inputs(data.x_val, data.y_val, bs, False, config.seed)}
    val_x, val_y = splits["val"]
    calibration = Calibration(model, val_x, data.y_val, data.multilabel, config.variant, config.mc_samples,
                              fit_batch_size(val_y, bs))
    timer = EpochTimer()
    callbacks = [timer, NonFiniteStop(),
                 RowLogger(run_stamp(config, data, run_id, module_sampler(model)), timer, splits, calibration,
                           bs, log, result, on_epoch)]
    if config.patience:
        callbacks.append(keras.callbacks.EarlyStopping(monitor="val_loss", patience=config.patience))
    model.fit(train_x, train_y, batch_size=fit_batch_size(train_y, bs), epochs=config.epochs, shuffle=True,
              verbose=0, callbacks=callbacks)
    return result


class TrainEvents:
    """Hooks for progress output of ``train_to_log``; the default does nothing."""

    def start(self, config: TrainConfig, data: Dataset) -> None: ...

    def epoch(self, row: dict) -> None: ...


def train_to_log(config: TrainConfig, log, events: Optional[TrainEvents] = None) -> RunResult:
    """Check ``config`` and ``log``, load the data, train, append every epoch to ``log``."""
    from pernode_cli.sweep.state import state_path

    events = events or TrainEvents()
    config.validate()
    log = Path(log)
    if state_path(log).exists():
        # A sweep rewrites its log when it resumes; rows added by hand could be dropped.
        raise PernodeError(f"{log} belongs to a sweep ({state_path(log).name} beside it); give another `log`.")
    csv_log = CsvLog(log)  # checks an existing header before any work
    data = prepare_data(config)
    events.start(config, data)
    return train_run(config, csv_log, on_epoch=events.epoch, dataset=data)
