"""Sweep configs (TOML): parsed, checked key by key, errors naming the key and its line.

The keys come from the run settings (``schema.RunSettings``: a "grid" setting is a list under
``[grid]``, a "fixed" one a value under ``[fixed]``), plus the Ray resources of a run and the
``plugins`` to import, so a new setting is a config key with no change here.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

from pernode_cli.checks import LIMITS, config_value, is_gpu_share
from pernode_cli.data import DATASETS, check_dataset_name
from pernode_cli.errors import PernodeError
from pernode_cli.logs import notices
from pernode_cli.paths import existing_file
from pernode_cli.schema import SETTINGS
from pernode_cli.sizing import check_fits
from pernode_cli.training.config import RunSpec
from pernode_cli.variants import canonical_variant

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

RESOURCE_KEYS = ("gpus_per_run", "cpus_per_run")  # Ray resources: not part of the results
EXPORT_KEYS = ("tensorboard", "mlflow", "experiment", "track")  # where copies of the rows go: not part of the results
GRID_ORDER = ("variants", "rates", "units", "batch_sizes", "seeds")  # the grid's order (last fastest)
REQUIRED = ("dataset", "variants", "rates")


@dataclass(frozen=True)
class Key:
    """One config key: its table, the setting it feeds, its kind, whether it is a list."""

    table: str
    name: str
    setting: str
    kind: str
    listed: bool
    default: object
    limit: str | None = None


def _keys() -> dict:
    keys: dict = {"": {}, "grid": {}, "fixed": {}}
    for f in SETTINGS:
        table = f.metadata["table"]
        if table is None:
            continue
        name = f.metadata["key"] or f.name
        default = [f.default] if table == "grid" else (0 if f.metadata["kind"] == "patience" else f.default)
        limit = f.name if f.name in LIMITS else None
        keys[table][name] = Key(table, name, f.name, f.metadata["kind"], table == "grid", default, limit)
    keys[""]["plugins"] = Key("", "plugins", "", "plugins", True, [])
    keys["fixed"]["gpus_per_run"] = Key("fixed", "gpus_per_run", "", "gpus", False, None)
    keys["fixed"]["cpus_per_run"] = Key("fixed", "cpus_per_run", "", "count", False, None, "cpus_per_run")
    for name in ("tensorboard", "mlflow", "experiment"):
        keys["fixed"][name] = Key("fixed", name, "", "path", False, None)
    keys["fixed"]["track"] = Key("fixed", "track", "", "track", True, [])  # ["SCHEME:DESTINATION", ...]
    return keys


KEYS = _keys()


def _unchanged(table: str, key: str, value) -> bool:
    """A setting added since schema 4 at its default: left out of the fingerprint (an older sweep's)."""
    from pernode_cli.schema import LATER_SETTINGS, SINCE_SCHEMA_4

    setting = KEYS[table][key].setting if key in KEYS[table] else ""
    if setting not in SINCE_SCHEMA_4:
        return False
    default = LATER_SETTINGS[setting]
    return value == ([default] if table == "grid" else default)


@dataclass
class SweepConfig:
    path: Path
    dataset: str
    data_dir: str | None
    grid: dict
    fixed: dict
    plugins: list = field(default_factory=list)

    def fingerprint(self) -> str:
        """Hash of everything that decides the runs and their results (not where data lives,
        nor the resources a run is given)."""
        fixed = {k: v for k, v in self.fixed.items() if k not in RESOURCE_KEYS + EXPORT_KEYS and not _unchanged(
            "fixed", k, v)}
        grid = {k: v for k, v in self.grid.items() if not _unchanged("grid", k, v)}
        payload = {"dataset": self.dataset, "grid": grid, "fixed": fixed}
        if self.plugins:
            payload["plugins"] = self.plugins
        return hashlib.sha1(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]

    def run(self, variant, rate, units, batch_size, seed) -> RunSpec:
        """The run of the grid at these settings, with the config's fixed settings."""
        fixed = {KEYS["fixed"][k].setting: v for k, v in self.fixed.items() if k not in RESOURCE_KEYS + EXPORT_KEYS}
        fixed["patience"] = fixed.get("patience") or None  # 0 is off
        return RunSpec(dataset=self.dataset, data_dir=self.data_dir, variant=variant, rate=rate, units=units,
                       batch_size=batch_size, seed=seed, **fixed)

    def size(self) -> int:
        """Runs in the whole grid."""
        return math.prod(len(self.grid[k]) for k in GRID_ORDER)

    def runs(self, limit: int | None = None) -> list[RunSpec]:
        """Every run of the grid (the first ``limit``), in a fixed order: variants, rates, units,
        batch sizes, seeds (the last varies fastest)."""
        product = itertools.product(*(self.grid[k] for k in GRID_ORDER))
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


def _value(key: Key, value, where: str):
    if key.kind == "gpus":
        if not is_gpu_share(value):
            raise PernodeError(f"{where}: expected 0, a fraction in (0, 1] or a whole number of GPUs, got {value!r}.")
        return float(value)
    if key.kind == "track":
        if not isinstance(value, list) or not all(isinstance(v, str) and ":" in v and v.split(":", 1)[0].strip()
                                                  for v in value):
            raise PernodeError(f"{where}: expected a list of SCHEME:DESTINATION texts (\"wandb:PROJECT\", "
                               f"\"tensorboard:runs\", ...), got {value!r}.")
        return list(dict.fromkeys(value))
    if key.kind == "plugins":
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            raise PernodeError(f"{where}: expected a list of module names or .py paths, got {value!r}.")
        return list(dict.fromkeys(value))
    if key.kind == "variant":
        if not isinstance(value, list) or not value:
            raise PernodeError(f"{where}: expected a non-empty list, got {value!r}.")
        out = []
        for v in value:
            try:
                out.append(canonical_variant(v))
            except PernodeError as exc:
                raise PernodeError(f"{where}: {exc}") from None
        return _merged(out, value, where)
    checked = config_value(key.kind, value, where, key.limit, key.listed)
    if key.listed and isinstance(value, list) and len(checked) < len(value):
        _merged([float(v) if key.kind == "rate" else v for v in value], value, where)
    return checked


def _merged(values: list, given: list, where: str) -> list:
    """``values`` each once, in order; a note says which of ``given`` were the same value."""
    out = list(dict.fromkeys(values))
    if len(out) < len(values):
        same = [f"{', '.join(repr(g) for g, v in zip(given, values) if v == x)}"
                for x in out if values.count(x) > 1]
        notices.info(f"{where}: {'; '.join(same)} name the same value; each runs once ({len(out)} of "
                     f"{len(values)} listed)")
    return out


def _read(path: Path, given) -> tuple[str, dict]:
    try:
        text = path.read_text(encoding="utf-8")
        if text.startswith("\ufeff"):  # a byte-order mark some editors write: not part of the TOML
            text = text[1:]
            notices.info(f"{given}: ignored the UTF-8 byte-order mark at its start")
        return text, tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PernodeError(f"{path}: not valid TOML ({exc}).") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise PernodeError(f"Cannot read config {path} ({exc}).") from None


def _tables(path: Path, text: str, raw: dict) -> dict:
    values: dict[str, dict] = {}
    for table, keys in KEYS.items():
        section = raw if table == "" else raw.get(table, {})
        if table and not isinstance(section, dict):
            raise PernodeError(f"{path} line {_line_of(text, '', table)}: {table} must be a table [{table}].")
        out = {}
        for name, value in section.items():
            if table == "" and name in KEYS and name:
                continue  # a sub-table, handled in its own turn
            line = _line_of(text, table, name) if table else _line_of(text, "", name) or _line_of(text, name, None)
            where = f"{path} line {line}: {table + '.' if table else ''}{name}"
            if name not in keys:
                allowed = ", ".join(list(keys) + ([t for t in KEYS if t] if table == "" else []))
                raise PernodeError(f"{where}: unknown key; allowed here: {allowed}.")
            out[name] = _value(keys[name], value, where)
        for name, key in keys.items():
            if name not in out:
                if name in REQUIRED:
                    place = f"[{table}]" if table else "the top level"
                    raise PernodeError(f"{path}: missing required key {name!r} in {place}.")
                out[name] = key.default
        values[table] = out
    return values


def load_config(path, plugins: tuple = ()) -> SweepConfig:
    """Read and check a sweep config; its ``plugins`` (and ``plugins`` given here, a command's
    ``--plugin``) are imported first, so their variants and data sets can be named in it."""
    from pernode_cli.plugins import load_plugins

    given = path
    path = existing_file(path, "Config")
    text, raw = _read(path, given)
    listed = raw.get("plugins", [])
    where = f"{path} line {_line_of(text, '', 'plugins')}: plugins"
    named = _value(KEYS[""]["plugins"], listed, where) if "plugins" in raw else []
    load_plugins([*plugins, *named], base=path.parent)
    values = _tables(path, text, raw)
    top = values[""]
    config = SweepConfig(path, top["dataset"], top["data_dir"], values["grid"], values["fixed"], top["plugins"])
    if config.size() > LIMITS["grid_runs"]:
        raise PernodeError(f"{path}: the grid has {config.size():,} runs, more than the {LIMITS['grid_runs']:,} a "
                           "sweep may plan; split it into several configs.")
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
        raise PernodeError(f"{config.path} line {_line_of(text, '', 'data_dir')}: data_dir: {config.data_dir} does "
                           "not exist.")
    spec = DATASETS.get(config.dataset)
    if spec is None:
        return  # an .npz: its shapes are checked when it is loaded
    for units, batch in itertools.product(config.grid["units"], config.grid["batch_sizes"]):
        check_fits(spec.input_shape, spec.backbone, units, batch, spec.n_outputs,
                   where=f"{config.path} line {_line_of(text, 'grid', 'units')}: grid.units / grid.batch_sizes: ")


def default_log(config_path) -> str:
    """A sweep's log is named after its config (digits.toml -> digits.csv), in the current folder."""
    return Path(config_path).stem + ".csv"
