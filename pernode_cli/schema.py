"""Every log's columns, schema versions and run identity, declared once.

- ``RunSettings``: the settings of one training run, each declared once with what the rest of
  pernode derives from it: its checks (``kind``, bounds in ``checks.LIMITS``), its place in a
  sweep config (``table``, ``key``), whether it is part of the run's identity, whether it
  tells configuration blocks apart and whether a mix of it among ranked rows is pointed out.
  ``training.config.RunSpec`` adds the registry checks. Adding a setting is one field here,
  its use in training, and (where wanted) a command-line option.
- ``EpochRow``: one row of a training log; the settings are its columns in their order here,
  between identity columns and results. ``TRAIN_COLUMNS`` is the header.
- ``TimingRecord``: one row of a timing log (`pernode timeit --log`); ``TIMING_COLUMNS``.
- ``run_settings`` / ``make_run_id``: a run's identity, a hash of its settings.
- ``COLUMN_ROLES``: what each training-log column is (identity, setting, data, metric,
  outcome, environment), for exporters and renderers.

No Keras, no pandas; nothing here imports the rest of pernode but its version and checks.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import MISSING, Field, asdict, dataclass, field, fields, make_dataclass
from typing import Optional

from pernode_cli import __version__
from pernode_cli.declarations import option

SCHEMA_VERSION = 4  # the training log's column layout (4: test split, data fingerprint, split, sources, module size)
TIMING_SCHEMA_VERSION = 3  # the timing log's column layout


def setting(default, kind: str, help: str, table: str = "fixed", key: Optional[str] = None, identity=True,
            block: bool = True, mixed: bool = False, metavar: Optional[str] = None, show_default=None):
    """A run setting, declared once (``declarations.option``): its default and help (``--help``
    of `train`, the placeholder ``metavar``), its check (``kind``: ``checks.check_setting`` and
    ``checks.LIMITS``), its place in a sweep config (``table``/``key``: "grid" settings are lists
    there, "" the top level, None nowhere), ``identity``: part of the run id (``"nondefault"``:
    only where it differs from its default, the rule of every setting added since schema 4, so
    the runs of older logs keep their ids), ``block``: tells configuration blocks apart,
    ``mixed``: a mix among ranked rows is pointed out."""
    return option(default, help, metavar=metavar, show_default=show_default, kind=kind, table=table, key=key,
                  identity=identity, block=block, mixed=mixed, doc=help)


@dataclass(frozen=True, kw_only=True)
class RunSettings:
    """The settings of one training run (no registry checks; see ``training.config.RunSpec``).

    A new setting is one field here (with ``identity="nondefault"``) and its use in training: its
    `train` option, log column, sweep-config key, run identity, block column and mixed-settings
    check derive from the field, and older logs stay readable and appendable (``logs.CsvLog``)."""

    dataset: str = setting("digits", "dataset", "digits (embedded), cifar10, speech_commands, rcv1, a plugin's data "
                           "set, or a path to an .npz file.", table="", block=False, metavar="DATASET")
    variant: str = setting("PerNodeGaussian", "variant", "Regularizer variant, e.g. PerNodeGaussian, Dropout, "
                           "PerNodeBernoulli_F (pernode list variants).", table="grid", key="variants", block=False,
                           metavar="VARIANT")
    rate: Optional[float] = setting(0.5, "rate", "Drop rate / noise strength in [0, 1) (a variant that takes none, "
                                    "Dense, ignores it).", table="grid", key="rates", metavar="RATE")
    units: int = setting(128, "size", "Width of the regularization module's Dense layer.", table="grid",
                         key="units", mixed=True, metavar="UNITS")
    batch_size: int = setting(128, "size", "Training batch size.", table="grid", key="batch_sizes", mixed=True,
                              metavar="N")
    epochs: int = setting(20, "count", "Number of epochs.", mixed=True, metavar="N")
    lr: float = setting(1e-3, "positive", "Adam learning rate.", metavar="LR")
    seed: int = setting(0, "seed", "Seed of weights, noise and data split.", table="grid", key="seeds",
                        metavar="SEED")
    data_dir: Optional[str] = setting(None, "path", "Folder (or archive) holding an already downloaded copy of the "
                                      "data set.", table="", identity=False, block=False, metavar="DIR",
                                      show_default="Keras' / scikit-learn's cache, downloading once")
    max_train_samples: Optional[int] = setting(None, "optional_count", "Train on a seeded, stratified subset of at "
                                               "most this many samples.", mixed=True, metavar="N", show_default="all")
    patience: Optional[int] = setting(None, "patience", "Stop after this many epochs without a lower val_loss "
                                      "(0: off).", metavar="N", show_default="off")
    mc_samples: int = setting(0, "count0", "Monte Carlo passes with the noise on over the validation set after "
                              "each epoch (0: off).", identity="nondefault", block=False, metavar="T")

    def settings(self) -> dict:
        """What identifies a run (``run_settings``)."""
        return run_settings(self)


SETTINGS = tuple(fields(RunSettings))
SETTING_NAMES = tuple(f.name for f in SETTINGS)


def run_settings(spec) -> dict:
    """The settings that identify a run: every identity setting, a ``"nondefault"`` one only where it
    differs from its default (``mc_samples`` only when on)."""
    out = {}
    for f in SETTINGS:
        value = getattr(spec, f.name)
        rule = f.metadata["identity"]
        if rule is True or (rule == "nondefault" and value != f.default):
            out[f.name] = value
    return out


def make_run_id(settings: dict) -> str:
    """Deterministic id of a run: a hash of its settings, readable prefix first."""
    digest = hashlib.sha1(json.dumps(settings, sort_keys=True, default=str).encode()).hexdigest()[:10]
    return f"{settings['variant']}-{digest}"


# Settings that, with the data set, tell configuration blocks apart; ``data_fingerprint``
# keeps runs on different data of one data set name in different blocks.
BLOCK_COLUMNS = tuple(f.name for f in SETTINGS if f.metadata["block"]) + ("data_fingerprint",)


# --- the training log ------------------------------------------------------------------------


@dataclass(frozen=True)
class Cell:
    """What a log cell may hold, checked by every reader (``logs.check_cells``).

    ``kind``: ``"int"``, ``"float"`` or ``"str"``; numbers lie in ``[low, high]`` (``high_open``:
    below ``high``); ``required``: never empty; ``nonfinite``: ``nan``/``inf`` allowed (the
    metrics of a diverged epoch); ``choices``: the only texts a ``"str"`` cell may hold.
    """

    kind: str = "str"
    low: Optional[float] = None
    high: Optional[float] = None
    high_open: bool = False
    required: bool = False
    nonfinite: bool = False
    choices: tuple = ()

    def expected(self) -> str:
        """The rule in words ("an integer >= 1", "a number in [0, 1)")."""
        if self.choices:
            return "one of " + ", ".join(repr(c) for c in self.choices)
        what = {"int": "an integer", "float": "a number"}.get(self.kind, "text")
        if self.low is not None and self.high is not None:
            what += f" in [{_bound(self.low)}, {_bound(self.high)}{')' if self.high_open else ']'}"
        elif self.low is not None:
            what += f" >= {_bound(self.low)}"
        return what + (" (or nan)" if self.nonfinite else "")


def _bound(value) -> str:
    """A bound as a person writes it: 2^32 rather than 4294967296, 1 rather than 1.0."""
    if float(value).is_integer() and value >= 2**16 and (int(value) & (int(value) - 1)) == 0:
        return f"2^{int(value).bit_length() - 1}"
    return f"{value:g}"


_INT1, _COUNT0 = Cell("int", 1), Cell("int", 0)
_LOSS = Cell("float", 0, nonfinite=True)  # cross-entropies; nan/inf where a run diverged
_SHARE = Cell("float", 0, 1, nonfinite=True)  # accuracies and ECE
# The check of each setting kind (``setting(kind=...)``) as a log cell.
_KIND_CELLS = {
    "rate": Cell("float", 0, 1, high_open=True),  # empty: a variant that takes no rate (Dense)
    "size": Cell("int", 1, 2**20, required=True),
    "count": Cell("int", 1, 100_000, required=True),
    "optional_count": _INT1,
    "patience": _COUNT0,
    "count0": _COUNT0,
    "positive": Cell("float", 0, None),
    "seed": Cell("int", 0, 2**32, high_open=True, required=True),
    "dataset": Cell(), "variant": Cell(), "path": Cell(),
}

# (name, role, default, type, mixed, cell), in column order around the settings.
_BEFORE = [
    ("run_id", "identity", MISSING, str, False, Cell()),
    ("attempt", "identity", 1, int, False, _INT1),
    ("epoch", "identity", MISSING, int, False, Cell("int", 1, required=True)),
    ("timestamp", "environment", "", str, False, Cell()),
]
_AFTER = [
    ("data_fingerprint", "data", "", str, True, Cell()),  # NAME@VERSION, +dir:HASH, or npz:HASH of the file
    ("split", "data", "", str, False, Cell()),  # how train / validation / test were split (sizes, stratification, seed)
    ("train_samples", "data", None, Optional[int], True, _INT1),  # samples trained on (a seeded subset when cut)
    ("realised_rate", "setting", None, Optional[float], False, Cell("float", 0, 1)),  # the drop probability that ran
    ("val_loss", "metric", math.nan, float, False, _LOSS),
    ("val_acc", "metric", math.nan, float, False, _SHARE),
    ("test_loss", "metric", None, Optional[float], False, _LOSS),  # the held-out test split (empty without one)
    ("test_acc", "metric", None, Optional[float], False, _SHARE),
    ("train_loss", "metric", math.nan, float, False, _LOSS),  # epoch-end: the updated model in inference mode
    ("train_acc", "metric", math.nan, float, False, _SHARE),
    ("fit_loss", "metric", math.nan, float, False, _LOSS),  # Keras' running value during the epoch
    ("fit_acc", "metric", math.nan, float, False, _SHARE),
    ("val_ece", "metric", None, Optional[float], False, _SHARE),
    ("val_brier", "metric", None, Optional[float], False, Cell("float", 0, 2, nonfinite=True)),
    ("mc_passes", "setting", None, Optional[int], False, _INT1),
    ("mc_val_loss", "metric", None, Optional[float], False, _LOSS),
    ("mc_val_acc", "metric", None, Optional[float], False, _SHARE),
    ("mc_val_ece", "metric", None, Optional[float], False, _SHARE),
    ("epoch_seconds", "metric", math.nan, float, False, Cell("float", 0, nonfinite=True)),  # training pass only
    ("status", "outcome", "ok", str, False, Cell(choices=("ok", "nonfinite"))),
    # on the attempt's last row only: epochs | patience | nonfinite
    ("run_end", "outcome", "", str, False, Cell(choices=("epochs", "patience", "nonfinite"))),
    ("module_params", "setting", None, Optional[int], True, _COUNT0),  # trainable parameters of the module
    ("sources", "environment", "", str, False, Cell()),  # where the variant, data set and backbone came from
    ("sampler", "setting", "", str, False, Cell()),  # the sampler that ran
    ("backend", "environment", "", str, False, Cell()),
    ("backend_version", "environment", "", str, False, Cell()),
    ("device", "environment", "", str, False, Cell()),
    ("machine", "environment", "", str, False, Cell()),
    ("pernode_version", "environment", __version__, str, False, Cell()),
    ("schema_version", "environment", SCHEMA_VERSION, int, False, Cell("int", required=True)),
]


def _row_fields():
    out = []
    for name, role, default, kind, mixed, cell in _BEFORE:
        meta = {"role": role, "mixed": mixed, "cell": cell}
        out.append((name, kind, field(metadata=meta) if default is MISSING else field(default=default, metadata=meta)))
    for f in SETTINGS:
        if f.metadata["identity"] is False and f.name == "data_dir":
            continue  # where the data lives is not part of what they are (``data_fingerprint`` is)
        out.append((f.name, f.type, field(default=MISSING if f.name in ("dataset", "variant") else f.default,
                                          metadata={"role": "setting", "mixed": f.metadata["mixed"],
                                                    "cell": _KIND_CELLS[f.metadata["kind"]]})))
    for name, role, default, kind, mixed, cell in _AFTER:
        out.append((name, kind, field(default=default, metadata={"role": role, "mixed": mixed, "cell": cell})))
    return out


EpochRow = make_dataclass("EpochRow", _row_fields(), kw_only=True)
EpochRow.__doc__ = "One row of a training log; the field order is the column order (``TRAIN_COLUMNS``)."
EpochRow.__module__ = __name__
TRAIN_COLUMNS = [f.name for f in fields(EpochRow)]
COLUMN_ROLES = {f.name: f.metadata["role"] for f in fields(EpochRow)}
# Columns whose mix among ranked rows the output points out.
MIXED_COLUMNS = tuple(f.name for f in fields(EpochRow) if f.metadata["mixed"])
# What each column's cells may hold (``Cell``), the same in every schema that has the column.
CELLS = {f.name: f.metadata["cell"] for f in fields(EpochRow)}
# Settings whose column a log of an earlier pernode may lack: those that enter the run id only where
# they differ from their default. Such a log is read with the column at its default, and appended to
# (in its own layout) with runs that keep the default (``logs.CsvLog``).
LATER_SETTINGS = {f.name: f.default for f in SETTINGS if f.metadata["identity"] == "nondefault"}


def older_layout(header, columns=None) -> Optional[dict]:
    """``{column: default}`` of the later settings ``header`` lacks when it is ``columns`` (the
    current header) without them, in order; None when ``header`` is another layout."""
    columns = list(columns or TRAIN_COLUMNS)
    header = list(header or ())
    missing = [c for c in columns if c not in header]
    if header != [c for c in columns if c in header] or any(c not in LATER_SETTINGS for c in missing):
        return None
    return {c: LATER_SETTINGS[c] for c in missing}

# Every training-log header pernode has written, with its schema version: a header inside a
# log (two logs joined) is recognised whatever its schema, and a log's rows must carry the
# version of its header. Schemas 1-3 are read, not appended to.
_V1 = ("run_id,timestamp,dataset,variant,rate,units,batch_size,seed,epoch,val_loss,val_acc,train_loss,train_acc,"
       "fit_loss,fit_acc,epoch_seconds,status,lr,epochs,patience,max_train_samples,sampler,backend,backend_version,"
       "device,machine,pernode_version,schema_version")
_V2 = ("run_id,timestamp,dataset,variant,rate,units,batch_size,seed,epoch,val_loss,val_acc,train_loss,train_acc,"
       "fit_loss,fit_acc,val_ece,val_brier,mc_samples,mc_passes,mc_val_loss,mc_val_acc,mc_val_ece,epoch_seconds,"
       "status,lr,epochs,patience,max_train_samples,sampler,backend,backend_version,device,machine,pernode_version,"
       "schema_version")
_V3 = ("run_id,timestamp,dataset,variant,rate,units,batch_size,seed,epoch,attempt,val_loss,val_acc,train_loss,"
       "train_acc,fit_loss,fit_acc,val_ece,val_brier,mc_samples,mc_passes,mc_val_loss,mc_val_acc,mc_val_ece,"
       "epoch_seconds,status,run_end,lr,epochs,patience,max_train_samples,train_samples,sampler,backend,"
       "backend_version,device,machine,pernode_version,schema_version")
_V3B = _V3.replace("rate,units", "rate,realised_rate,units")  # 0.2.0 development: the realised rate
_V4A = _V3B.replace("dataset,variant", "dataset,data_fingerprint,variant")
_V4B = _V4A.replace("val_acc,train_loss", "val_acc,test_loss,test_acc,train_loss").replace(
    "train_samples,sampler", "train_samples,split,sampler")
KNOWN_HEADERS = tuple((v, tuple(h.split(","))) for v, h in (
    (1, _V1), (2, _V2), (3, _V3), (3, _V3B), (4, _V4A), (4, _V4B), (SCHEMA_VERSION, ",".join(TRAIN_COLUMNS))))
KNOWN_VERSIONS = tuple(sorted({v for v, _ in KNOWN_HEADERS}))


# Later settings that schema 4's header lacks: at their default they are left out of a sweep's
# fingerprint too, so a sweep begun before one was added resumes as the same sweep.
SINCE_SCHEMA_4 = tuple(name for name in LATER_SETTINGS if name not in _V4B.split(","))


def header_version(header) -> Optional[int]:
    """The schema version of a training-log header pernode wrote, or None for another header."""
    header = tuple(header or ())
    return next((v for v, h in KNOWN_HEADERS if h == header), None)


def row(**values) -> dict:
    """A complete log row: ``values`` with every other column at its default."""
    return asdict(EpochRow(**values))


# --- the timing log --------------------------------------------------------------------------


def _col(header: str = "", fmt: str = "{}", default=None, narrow: bool = False) -> Field:
    """A timing field; ``header`` makes it a table column, ``narrow`` keeps it in the 80-column table."""
    kwargs = {"default_factory": list} if default is list else {"default": default}
    return field(metadata={"header": header, "fmt": fmt, "narrow": narrow}, **kwargs)


@dataclass(kw_only=True)
class TimingRecord:
    """One variant's epoch times on one data set, with the run's settings.

    ``epoch_seconds`` holds every timed epoch (warm-up excluded), one per round, in round
    order; ``epoch_offsets_s`` the start of each, in seconds since the run began.
    ``ratio_ci_low``/``ratio_ci_high`` bound ``ratio_to_dropout`` (95 % paired bootstrap);
    Dropout's own row has ratio 1 and no interval, being the reference, not an estimate.
    ``indistinct_from_dropout`` is True when the interval holds 1.0, None without one.
    """

    timestamp: str = _col(default="")
    dataset: str = _col(default="")
    variant: str = _col("Variant", default="", narrow=True)
    mean_s: float = _col("Mean (s)", "{:.3f}", 0.0, narrow=True)
    std_s: Optional[float] = _col("Std", "{:.3f}")
    median_s: float = _col("Median", "{:.3f}", 0.0)
    min_s: float = _col("Min", "{:.3f}", 0.0)
    max_s: float = _col("Max", "{:.3f}", 0.0)
    n: int = _col("n", "{}", 0, narrow=True)
    warmup_s: list = _col("Warm-up (s)", default=list)
    ratio_to_dropout: Optional[float] = _col("x Dropout", "{:.2f}", narrow=True)
    # One "95% CI" cell shows both bounds: see ``stats.timing.cell_text``.
    ratio_ci_low: Optional[float] = _col("95% CI", "[{:.2f}, {:.2f}]", narrow=True)
    ratio_ci_high: Optional[float] = _col()
    indistinct_from_dropout: Optional[bool] = _col()
    peak_memory_bytes: Optional[int] = _col("Peak mem (MiB)", "{:.0f}")
    sampler: str = _col(default="")
    rate: float = _col(default=0.0)
    realised_rate: Optional[float] = _col()  # the drop probability that ran (Bernoulli: a multiple of 2^-15)
    units: int = _col(default=0)
    batch_size: int = _col(default=0)
    steps_per_epoch: int = _col(default=0)
    data: str = _col(default="synthetic")
    jit_compile: str = _col(default="")
    backend: str = _col(default="")
    backend_version: str = _col(default="")
    device: str = _col(default="")
    machine: str = _col(default="")
    rounds: int = _col(default=0)
    epoch_seconds: list = _col(default=list)
    epoch_offsets_s: list = _col(default=list)
    load_start: Optional[float] = _col()
    load_end: Optional[float] = _col()
    warnings: list = _col(default=list)
    pernode_version: str = _col(default=__version__)
    schema_version: int = _col(default=TIMING_SCHEMA_VERSION)

    def to_dict(self) -> dict:
        """Plain JSON-able values: NaN and infinities become None, numpy scalars Python ones."""
        return {k: plain(v) for k, v in asdict(self).items()}


def plain(value):
    """``value`` as JSON holds it: tuples as lists, numpy scalars as Python's, NaN, infinities and
    pandas' missing values as None (no numpy needed to tell them)."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if value is None or type(value).__name__ in ("NAType", "NaTType"):
        return None
    if type(value).__module__ == "numpy" and getattr(value, "ndim", None) == 0:
        value = value.item()  # a numpy scalar
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        value = float(value)
        return value if math.isfinite(value) else None
    return value


TIMING_COLUMNS = [f.name for f in fields(TimingRecord)]
