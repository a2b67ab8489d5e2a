"""Sweep configs (TOML): parsed, checked key by key, errors naming the key and its line."""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import re
import sys
from dataclasses import dataclass
from pathlib import Path

from pernode_cli.checks import LIMITS, is_gpu_share
from pernode_cli.data import DATASETS, check_dataset_name
from pernode_cli.errors import PernodeError
from pernode_cli.logs import notices
from pernode_cli.paths import real_path
from pernode_cli.sizing import SEED_LIMIT, check_fits
from pernode_cli.training.config import TrainConfig
from pernode_cli.variants import canonical_variant

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

# table -> key -> (kind, required, default)
SCHEMA = {
    "": {"dataset": ("str", True, None), "data_dir": ("str", False, None)},
    "grid": {
        "variants": ("variants", True, None),
        "rates": ("rates", True, None),
        "units": ("ints", False, [128]),
        "batch_sizes": ("ints", False, [128]),
        "seeds": ("seeds", False, [0]),
    },
    "fixed": {
        "epochs": ("int", False, 20),
        "lr": ("float", False, 1e-3),
        "patience": ("int0", False, 0),
        "max_train_samples": ("int", False, None),
        "mc_samples": ("int0", False, 0),
        "gpus_per_run": ("fraction", False, None),  # Ray resources: not part of the results
        "cpus_per_run": ("int", False, None),
    },
}


RESOURCE_KEYS = ("gpus_per_run", "cpus_per_run")


@dataclass
class SweepConfig:
    path: Path
    dataset: str
    data_dir: str | None
    grid: dict
    fixed: dict

    def fingerprint(self) -> str:
        """Hash of everything that decides the runs and their results (not where data lives,
        nor the resources a run is given)."""
        fixed = {k: v for k, v in self.fixed.items() if k not in RESOURCE_KEYS}
        payload = {"dataset": self.dataset, "grid": self.grid, "fixed": fixed}
        return hashlib.sha1(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]

    def run(self, variant, rate, units, batch_size, seed) -> TrainConfig:
        """The run of the grid at these settings, with the config's fixed settings."""
        f = self.fixed
        return TrainConfig(dataset=self.dataset, variant=variant, rate=rate, units=units, batch_size=batch_size,
                           epochs=f["epochs"], lr=f["lr"], seed=seed, data_dir=self.data_dir,
                           max_train_samples=f["max_train_samples"], patience=f["patience"] or None,
                           mc_samples=f["mc_samples"])

    def size(self) -> int:
        """Runs in the whole grid."""
        return math.prod(len(self.grid[k]) for k in ("variants", "rates", "units", "batch_sizes", "seeds"))

    def runs(self, limit: int | None = None) -> list[TrainConfig]:
        """Every run of the grid (the first ``limit``), in a fixed order: variants, rates, units,
        batch sizes, seeds (the last varies fastest)."""
        g = self.grid
        product = itertools.product(g["variants"], g["rates"], g["units"], g["batch_sizes"], g["seeds"])
        return [self.run(*cell) for cell in itertools.islice(product, limit)]


def _line_of(text: str, table: str, key: str | None) -> int | None:
    current = ""
    for number, line in enumerate(text.splitlines(), start=1):
        header = re.match(r"\s*\[\s*([A-Za-z0-9_.\-]+)\s*\]", line)
        if header:
            current = header.group(1)
            if key is None and current == table:
                return number
            continue
        if key is not None and current == table and re.match(rf"\s*{re.escape(key)}\s*=", line):
            return number
    return None


# Config keys whose values are bounded by ``checks.LIMITS`` (under these names).
BOUNDED = {"epochs": "epochs", "patience": "patience", "max_train_samples": "max_train_samples",
           "mc_samples": "mc_samples", "cpus_per_run": "cpus_per_run", "units": "units", "batch_sizes": "batch_size"}


def _check(kind: str, value, where: str, key: str = ""):
    value = _checked(kind, value, where)
    limit = LIMITS.get(BOUNDED.get(key, ""))
    if limit is not None and any(v > limit for v in (value if isinstance(value, list) else [value]) if v is not None):
        raise PernodeError(f"{where}: every value must be at most {limit:,}; got {value!r}.")
    return value


def _checked(kind: str, value, where: str):
    def bad(expected):
        return PernodeError(f"{where}: expected {expected}, got {value!r}.")

    def is_int(v):
        return isinstance(v, int) and not isinstance(v, bool)

    if kind == "str":
        if not isinstance(value, str) or not value:
            raise bad("a non-empty string")
        return value
    if kind in ("int", "int0"):
        if not is_int(value) or value < (0 if kind == "int0" else 1):
            raise bad("a positive integer" if kind == "int" else "a non-negative integer")
        return value
    if kind == "fraction":  # GPUs per run: a fraction of one, or whole GPUs
        if not is_gpu_share(value):
            raise bad("0, a fraction in (0, 1] or a whole number of GPUs")
        return float(value)
    if kind == "float":
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
            raise bad("a finite positive number")
        return float(value)
    if not isinstance(value, list) or not value:
        raise bad("a non-empty list")
    if kind == "variants":
        out = []
        for v in value:
            try:
                out.append(canonical_variant(v))
            except PernodeError as exc:
                raise PernodeError(f"{where}: {exc}") from None
        return list(dict.fromkeys(out))
    if kind == "rates":
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and 0 <= v < 1 for v in value):
            raise bad("a list of rates in [0, 1)")
        return [float(v) for v in dict.fromkeys(value)]
    if kind in ("ints", "seeds"):
        low, high = (0, SEED_LIMIT) if kind == "seeds" else (1, math.inf)
        if not all(is_int(v) and low <= v < high for v in value):
            raise bad("a list of integers in [0, 2^32)" if kind == "seeds" else "a list of positive integers")
        return list(dict.fromkeys(value))
    raise AssertionError(kind)


def load_config(path) -> SweepConfig:
    given = path
    real_path(path, "config")  # a loop of links is one line
    path = Path(path)
    if not path.is_file():
        raise PernodeError(f"Config {path} does not exist.")
    try:
        text = path.read_text(encoding="utf-8")
        if text.startswith("\ufeff"):  # a byte-order mark some editors write: not part of the TOML
            text = text[1:]
            notices.info(f"{given}: ignored the UTF-8 byte-order mark at its start")
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PernodeError(f"{path}: not valid TOML ({exc}).") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise PernodeError(f"Cannot read config {path} ({exc}).") from None
    values: dict[str, dict] = {}
    for table, keys in SCHEMA.items():
        section = raw if table == "" else raw.get(table, {})
        if table and not isinstance(section, dict):
            raise PernodeError(f"{path} line {_line_of(text, '', table)}: {table} must be a table [{table}].")
        out = {}
        for key, value in section.items():
            if table == "" and key in SCHEMA and key:
                continue  # a sub-table, handled in its own turn
            line = _line_of(text, table, key) if table else _line_of(text, "", key) or _line_of(text, key, None)
            where = f"{path} line {line}: {table + '.' if table else ''}{key}"
            if key not in keys:
                allowed = ", ".join(list(keys) + ([t for t in SCHEMA if t] if table == "" else []))
                raise PernodeError(f"{where}: unknown key; allowed here: {allowed}.")
            out[key] = _check(keys[key][0], value, where, key)
        for key, (_, required, default) in keys.items():
            if key not in out:
                if required:
                    place = f"[{table}]" if table else "the top level"
                    raise PernodeError(f"{path}: missing required key {key!r} in {place}.")
                out[key] = default
        values[table] = out
    top = values[""]
    config = SweepConfig(path, top["dataset"], top["data_dir"], values["grid"], values["fixed"])
    if config.size() > LIMITS["grid_runs"]:
        raise PernodeError(f"{path}: the grid has {config.size():,} runs, more than the {LIMITS['grid_runs']:,} a sweep "
                           "may plan; split it into several configs.")
    _check_dataset_and_sizes(config, text)
    return config


def _check_dataset_and_sizes(config: SweepConfig, text: str) -> None:
    """The data set exists, and every width and batch size of the grid fits in memory."""
    where = f"{config.path} line {_line_of(text, '', 'dataset')}: dataset: "
    try:
        check_dataset_name(config.dataset)
    except PernodeError as exc:
        raise PernodeError(where + str(exc)) from None
    if config.data_dir is not None and not Path(config.data_dir).exists():
        raise PernodeError(f"{config.path} line {_line_of(text, '', 'data_dir')}: data_dir: {config.data_dir} does not exist.")
    spec = DATASETS.get(config.dataset)
    if spec is None:
        return  # an .npz: its shapes are checked when it is loaded
    for units, batch in itertools.product(config.grid["units"], config.grid["batch_sizes"]):
        check_fits(spec.input_shape, spec.backbone, units, batch, spec.n_outputs,
                   where=f"{config.path} line {_line_of(text, 'grid', 'units')}: grid.units / grid.batch_sizes: ")


def default_log(config_path) -> str:
    """A sweep's log is named after its config (digits.toml -> digits.csv), in the current folder."""
    return Path(config_path).stem + ".csv"
