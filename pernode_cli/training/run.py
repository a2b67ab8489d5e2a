"""Train one configuration of one variant on one data set, logging every epoch.

The epoch-end training loss is the paper's: the updated model evaluated in inference mode
on the whole training set after the epoch; ``fit_loss`` is Keras' running value. A
non-finite loss stops the run; its row is logged with ``status="nonfinite"``.
"""

from __future__ import annotations

import math
from dataclasses import asdict, replace
from typing import Callable, Optional

import keras
import numpy as np
from sklearn.model_selection import train_test_split

from pernode_cli.backbones import backbone_source, get_backbone
from pernode_cli.data import DATASETS, Dataset, check_dataset_name, data_fingerprint, dataset_source, load_dataset
from pernode_cli.data.fingerprint import data_change
from pernode_cli.errors import PernodeError
from pernode_cli.logs import CsvLog, LogLock, check_log_path, runs_in_log, sweep_state_path
from pernode_cli.models import build_model, check_plugin_parts, module_params, module_realised_rate, module_sampler
from pernode_cli.schema import SETTING_NAMES, TRAIN_COLUMNS
from pernode_cli.sizing import check_built, check_fits, estimate_bytes
from pernode_cli.sources import run_sources
from pernode_cli.training.callbacks import EpochTimer, NonFiniteStop, utc_now
from pernode_cli.schema import make_run_id
from pernode_cli.training.config import RunSpec
from pernode_cli.training.environment import environment_stamp, jit_compile_setting
from pernode_cli.training.evaluation import Calibration, evaluate_splits
from pernode_cli.training.inputs import fit_batch_size, keras_inputs
from pernode_cli.schema import EpochRow
from pernode_cli.training.records import RunResult
from pernode_cli.variants import get_variant, variant_source

OnEpoch = Optional[Callable[[dict], None]]


class EpochEvaluator(keras.callbacks.Callback):
    """After each epoch: the row's metrics (inference-mode losses, calibration).

    It also puts the epoch-end ``val_loss`` into Keras' logs, where ``EarlyStopping``
    (placed after it) reads it.
    """

    def __init__(self, stamp: dict, timer: EpochTimer, splits: dict, calibration: Calibration, batch_size: int):
        super().__init__()
        self.stamp, self.timer, self.splits, self.calibration = stamp, timer, splits, calibration
        self.batch_size, self.row = batch_size, None

    def on_epoch_end(self, epoch, logs=None):
        logs = logs if logs is not None else {}
        row = dict(self.stamp, epoch=epoch + 1, epoch_seconds=round(self.timer.seconds[-1], 4))
        row.update(fit_loss=float(logs.get("loss", math.nan)), fit_acc=float(logs.get("acc", math.nan)))
        row.update(evaluate_splits(self.model, self.splits, self.batch_size))
        row.update(self.calibration())
        self.row = row
        logs["val_loss"] = row["val_loss"]


class RowWriter(keras.callbacks.Callback):
    """Appends the evaluated row to the log, marking the attempt's last row with why it
    ended (``run_end``), and stops a run whose loss is no longer finite."""

    def __init__(self, evaluator: EpochEvaluator, nonfinite: NonFiniteStop, epochs: int, log: CsvLog,
                 result: RunResult, on_epoch: OnEpoch):
        super().__init__()
        self.evaluator, self.nonfinite, self.epochs = evaluator, nonfinite, epochs
        self.log, self.result, self.on_epoch = log, result, on_epoch

    def _end(self, epoch: int, ok: bool) -> str:
        if not ok:
            return "nonfinite"
        if epoch + 1 == self.epochs:
            return "epochs"
        return "patience" if self.model.stop_training else ""

    def on_epoch_end(self, epoch, logs=None):
        row = self.evaluator.row
        ok = not self.nonfinite.stopped and all(math.isfinite(row[k]) for k in ("fit_loss", "val_loss", "train_loss"))
        row = asdict(EpochRow(**row, status="ok" if ok else "nonfinite", run_end=self._end(epoch, ok),
                              timestamp=utc_now()))
        self.log.append(row)
        self.result.rows.append(row)
        if self.on_epoch is not None:
            self.on_epoch(row)
        if not ok:
            self.result.failed = True
            self.result.message = f"non-finite loss at epoch {epoch + 1}; run stopped"
            self.model.stop_training = True


def prepare_data(config: RunSpec, dataset: Optional[Dataset] = None) -> Dataset:
    """The run's data: loaded unless given, cut to a seeded subset of ``max_train_samples``
    (stratified by label for single-label data), in the data's own order."""
    data = dataset or load_dataset(config.dataset, config.data_dir, config.seed)
    if config.dataset not in DATASETS:  # an .npz: its shapes are known once loaded (``RunSpec`` sized the others)
        check_fits(data.input_shape, data.backbone, config.units, config.batch_size, data.n_outputs)
    n, total = config.max_train_samples, data.x_train.shape[0]
    if n is None or n >= total:
        return data
    labels = None if data.multilabel else np.asarray(data.y_train).argmax(axis=1)
    if labels is not None and (np.bincount(labels).min() < 2 or n < len(np.unique(labels))):
        labels = None  # too few of a class to stratify: a plain seeded draw
    keep, _ = train_test_split(np.arange(total), train_size=n, random_state=config.seed, stratify=labels)
    keep = np.sort(keep)
    return replace(data, x_train=data.x_train[keep], y_train=data.y_train[keep],
                   split=f"{data.split}; training cut to {n} (seeded{', stratified' if labels is not None else ''})")


def compiled_model(config: RunSpec, data: Dataset):
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        tf.config.experimental.enable_op_determinism()
    keras.utils.set_random_seed(config.seed)
    try:
        model = build_model(data.input_shape, data.n_outputs, data.backbone, config.variant, config.units,
                            config.rate or 0.0, multilabel=data.multilabel, seed=config.seed)
    except PernodeError:
        raise
    except Exception as exc:  # a plugin's module or backbone at full size: one line, not a traceback
        if not (get_variant(config.variant).source or get_backbone(data.backbone).source):
            raise
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise PernodeError(f"The model of variant {config.variant} on backbone {data.backbone} cannot be built "
                           f"({type(exc).__name__}: {reason}); the plugin that registered them must be "
                           "fixed.") from None
    if estimate_bytes(data.input_shape, data.backbone, config.units, config.batch_size, data.n_outputs) is None:
        check_built(model, config.units, config.batch_size)  # a backbone registered without its sizes
    model.compile(optimizer=keras.optimizers.Adam(config.lr), loss=loss_for(data.multilabel),
                  metrics=[accuracy_for(data.multilabel)], jit_compile=jit_compile_setting())
    return model


def loss_for(multilabel: bool) -> str:
    return "binary_crossentropy" if multilabel else "categorical_crossentropy"


def accuracy_for(multilabel: bool):
    if multilabel:
        return keras.metrics.BinaryAccuracy(name="acc")
    return keras.metrics.CategoricalAccuracy(name="acc")


def run_stamp(config: RunSpec, data: Dataset, run_id: str, model, attempt: int = 1,
              fingerprint: str = "") -> dict:
    """The columns that are the same in every row of the run: its settings (every setting of
    ``schema.RunSettings`` the log has a column for), where its parts came from, the module's
    size, the data's fingerprint and split, and the environment."""
    settings = {name: getattr(config, name) for name in SETTING_NAMES if name in TRAIN_COLUMNS}
    return dict(settings, attempt=attempt, run_id=run_id, dataset=data.name, data_fingerprint=fingerprint,
                sampler=module_sampler(model),
                realised_rate=None if config.rate is None else module_realised_rate(model, config.rate),
                train_samples=int(data.x_train.shape[0]), split=data.split, module_params=module_params(model),
                sources=run_sources(variant_source(get_variant(config.variant)), dataset_source(config.dataset),
                                    backbone_source(get_backbone(data.backbone))),
                **environment_stamp())


def train_run(config: RunSpec, log: CsvLog, on_epoch: OnEpoch = None, dataset: Optional[Dataset] = None,
              run_id: Optional[str] = None, attempt: int = 1, data_fingerprint: Optional[str] = None,
              model=None) -> RunResult:
    """Train ``config`` and append one row per epoch to ``log`` (``attempt``: the attempt's number;
    ``data_fingerprint``: the data's, computed from the config when not given; ``model``: the
    compiled model of ``compiled_model(config, dataset)``, built here when not given)."""
    if data_fingerprint is None:
        data_fingerprint = _fingerprint(config)
    data = dataset if model is not None else prepare_data(config, dataset)
    model = model if model is not None else compiled_model(config, data)
    run_id = run_id or make_run_id(config.settings())
    result = RunResult(run_id)
    bs = config.batch_size
    train_x, train_y = keras_inputs(data.x_train, data.y_train, bs, True, config.seed)
    splits = {"train": keras_inputs(data.x_train, data.y_train, bs, False, config.seed),
              "val": keras_inputs(data.x_val, data.y_val, bs, False, config.seed)}
    if data.x_test is not None:  # compared on test, the epoch chosen on validation (`rank`)
        splits["test"] = keras_inputs(data.x_test, data.y_test, bs, False, config.seed)
    val_x, val_y = splits["val"]
    calibration = Calibration(model, val_x, data.y_val, data.multilabel, config.variant, config.mc_samples,
                              fit_batch_size(val_y, bs))
    timer, nonfinite = EpochTimer(), NonFiniteStop()
    evaluator = EpochEvaluator(run_stamp(config, data, run_id, model, attempt, data_fingerprint), timer, splits,
                               calibration, bs)
    callbacks = [timer, nonfinite, evaluator]
    if config.patience:
        callbacks.append(keras.callbacks.EarlyStopping(monitor="val_loss", patience=config.patience))
    callbacks.append(RowWriter(evaluator, nonfinite, config.epochs, log, result, on_epoch))
    model.fit(train_x, train_y, batch_size=fit_batch_size(train_y, bs), epochs=config.epochs, shuffle=True,
              verbose=0, callbacks=callbacks)
    return result


def _fingerprint(config: RunSpec) -> str:
    check_dataset_name(config.dataset)
    return data_fingerprint(config.dataset, config.data_dir)


class TrainEvents:
    """Hooks for progress output of ``train_to_log``; the default does nothing."""

    def start(self, config: RunSpec, data: Dataset) -> None: ...

    def epoch(self, row: dict) -> None: ...


def train_to_log(config: RunSpec, log, events: Optional[TrainEvents] = None, exporters=None) -> RunResult:
    """Check ``config`` and ``log``, load the data, train, append every epoch to ``log``.

    Exactly once: a run the log already holds complete is refused; an unfinished one (an
    interrupted attempt, whose rows stay) is trained again as the next attempt.
    ``exporters`` (``pernode_cli.export.open_exporters``) get a copy of every row once it is in
    the log; the caller closes them.
    """
    events = events or TrainEvents()
    log = check_log_path(log)
    if sweep_state_path(log).exists():  # the sweep's runs and state must stay the sweep's
        raise PernodeError(f"{log} belongs to a sweep ({sweep_state_path(log).name} beside it); give another `log`.")
    run_id = make_run_id(config.settings())
    fingerprint = _fingerprint(config)
    lock = LogLock(log).acquire()  # one writer: refused at once while another holds it
    try:
        earlier = runs_in_log(log).get(run_id)
        if earlier and earlier.end:
            raise PernodeError(
                f"{log} already holds run {run_id} complete (ended: {earlier.end}); give another `log`, or change "
                "the settings (a new `seed`, say) to train another run."
            )
        if earlier and earlier.data and fingerprint not in earlier.data:
            raise PernodeError(
                f"{log} holds an unfinished attempt of run {run_id} trained on other data "
                f"({', '.join(sorted(earlier.data))}); "
                f"{data_change(config.dataset, config.data_dir, fingerprint)}. Restore the data to train it "
                "again, or give another `log`."
            )
        data = prepare_data(config)
        check_plugin_parts([config.variant], data.backbone, data.input_shape, config.rate or 0.0)
        model = compiled_model(config, data)  # a module that cannot be built leaves no log behind
        csv_log = CsvLog(log, lock=lock)
        csv_log.accepts(config.settings())
    except BaseException:
        lock.release(wrote_nothing=True)
        raise
    attempt = (earlier.attempts if earlier else 0) + 1
    on_epoch = events.epoch
    if exporters:
        exporters.run_start(run_id, attempt, tags={"source": str(log)})

        def on_epoch(row, show=events.epoch):  # the row is in the CSV: then a copy goes to the trackers
            exporters.epoch(run_id, attempt, row)
            show(row)

    result = None
    try:
        events.start(config, data)
        result = train_run(config, csv_log, on_epoch=on_epoch, dataset=data, run_id=run_id, attempt=attempt,
                           data_fingerprint=fingerprint, model=model)
        result.log, result.attempt, result.settings = str(log), attempt, asdict(config)
        return result
    finally:
        csv_log.close()
        if exporters:
            exporters.run_end(run_id, attempt, result.rows if result is not None else None)
