"""Run configurations, checked without Keras: ``RunSpec`` (one training run, frozen; its id is
``schema.make_run_id(spec.settings())``) and ``TimeitConfig`` (one `timeit` measurement)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Optional

from pernode_cli.checks import (
    check_choice,
    check_optional_positive_int,
    check_positive_int,
    check_positive_number,
    check_rate,
    check_setting,
)
from pernode_cli.data import DATASETS, check_dataset_name
from pernode_cli.declarations import option
from pernode_cli.errors import PernodeError
from pernode_cli.paths import real_path
from pernode_cli.schema import SETTINGS, RunSettings
from pernode_cli.sizing import check_fits
from pernode_cli.variants import canonical_variant, get_variant, parse_variants


@dataclass(frozen=True, kw_only=True)
class RunSpec(RunSettings):
    """One training run, frozen and valid: every setting checked once, when it is made (its
    kind and bounds, ``schema.RunSettings``), the variant's name made canonical, the data set
    and its folder found, and a model of a registered data set's shape sized against this
    machine's memory (``sizing``; an .npz or a plugin's data are sized once loaded)."""

    def __post_init__(self):
        for f in SETTINGS:
            object.__setattr__(self, f.name, check_setting(f.name, f.metadata["kind"], getattr(self, f.name)))
        object.__setattr__(self, "variant", canonical_variant(self.variant))
        if self.rate is None and get_variant(self.variant).uses_rate:
            raise PernodeError(f"`rate` is needed for variant {self.variant}; give a rate in [0, 1).")
        check_dataset_name(self.dataset)
        if self.data_dir is not None:
            real_path(self.data_dir, "`data_dir`")
            if not Path(self.data_dir).exists():
                raise PernodeError(f"`data_dir` {self.data_dir} does not exist.")
        spec = DATASETS.get(self.dataset)
        if spec is not None:
            check_fits(spec.input_shape, spec.backbone, self.units, self.batch_size, spec.n_outputs)

    def replace(self, **changes) -> "RunSpec":
        return replace(self, **changes)




def _shared(name: str, default, help: Optional[str] = None):
    """A `timeit` setting that is also a run setting: the run setting's help and placeholder, a
    default of its own."""
    meta = next(f.metadata for f in SETTINGS if f.name == name)
    return option(default, help or meta["help"], metavar=meta["metavar"], show_default=meta["show_default"])


@dataclass
class TimeitConfig:
    """One `timeit` measurement: epochs of each variant, interleaved, on the local device."""

    dataset: str = _shared("dataset", "cifar10", "digits, cifar10, speech_commands, rcv1, a plugin's data set or an "
                           ".npz path (shapes of its backbone).")
    variants: Any = option("all", "'all' or a comma-separated list of variants.", metavar="VARIANTS")
    rate: float = _shared("rate", 0.5, "Drop rate / noise strength in [0, 1).")
    units: int = _shared("units", 128)
    batch_size: int = _shared("batch_size", 128)
    epochs: int = option(6, "Rounds of one epoch per variant, warm-up included.", metavar="N")
    warmup: int = option(1, "First rounds (compilation) excluded from the statistics.", metavar="N")
    steps_per_epoch: Optional[int] = option(None, "Steps per epoch.", metavar="N",
                                            show_default="the data set's training size / batch size")
    data: str = option("synthetic", "synthetic: random tensors of the data set's shapes; real: the loaders.",
                       choices=("synthetic", "real"))
    data_dir: Optional[str] = _shared("data_dir", None)
    sampler: Optional[str] = option(None, "PerNode sampler to time (pernode list samplers).", metavar="SAMPLER",
                                    show_default="auto: the fastest exact one")
    seed: int = option(0, cli=False)
    max_minutes: Optional[float] = option(None, "Stop after the round that passes this many minutes; report what "
                                          "was timed.", metavar="MINUTES", show_default="no limit")

    def validate(self) -> "TimeitConfig":
        if isinstance(self.variants, str):
            self.variants = parse_variants(self.variants)
        self.variants = [get_variant(v).name for v in self.variants]
        check_choice("data", self.data, ("synthetic", "real"))
        check_dataset_name(self.dataset)
        if self.data_dir is not None and not Path(self.data_dir).exists():
            raise PernodeError(f"`data_dir` {self.data_dir} does not exist.")
        for name in ("epochs", "batch_size", "units"):
            check_positive_int(name, getattr(self, name))
        if not 0 <= self.warmup < self.epochs:
            raise PernodeError(f"`warmup` must be in [0, `epochs`); got {self.warmup} with `epochs` {self.epochs}.")
        check_optional_positive_int("steps_per_epoch", self.steps_per_epoch)
        self.rate = check_rate("rate", self.rate)
        spec = DATASETS.get(self.dataset)
        if spec is not None:
            check_fits(spec.input_shape, spec.backbone, self.units, self.batch_size, spec.n_outputs)
        if self.max_minutes is not None:
            check_positive_number("max_minutes", self.max_minutes)
        self._check_sampler()
        return self

    def _check_sampler(self) -> None:
        """A forced sampler must suit every dynamic PerNode variant timed."""
        if self.sampler is None:
            return
        from pernode_cli.training.environment import import_backend

        import_backend()  # the samplers are Keras code
        from pernode_cli.layers.samplers import compatible

        for name in self.variants:
            v = get_variant(name)
            if v.dynamic_pernode and self.sampler not in compatible(v.stir):
                raise PernodeError(
                    f"`sampler` {self.sampler} cannot run {name} (stir {v.stir}); use one of "
                    f"{', '.join(compatible(v.stir))}, or time that variant apart."
                )

    def needs_loader(self) -> bool:
        """Real data, an .npz whose shapes only its file knows, or a data set of unknown size."""
        spec = DATASETS.get(self.dataset)
        return self.data == "real" or spec is None or (spec.n_train is None and self.steps_per_epoch is None)
