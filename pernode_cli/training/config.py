"""Run configurations, checked without Keras: ``TrainConfig`` (one training run, and its id)
and ``TimeitConfig`` (one `timeit` measurement)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Optional

from pernode_cli.checks import (
    check_choice,
    check_non_negative_int,
    check_optional_positive_int,
    check_positive_int,
    check_positive_number,
    check_rate,
)
from pernode_cli.data import DATASETS, check_dataset_name
from pernode_cli.errors import PernodeError
from pernode_cli.sizing import SEED_LIMIT, check_fits
from pernode_cli.variants import canonical_variant, get_variant, parse_variants


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
        self.rate = check_rate("rate", self.rate)
        for name in ("units", "batch_size", "epochs"):
            check_positive_int(name, getattr(self, name))
        self.lr = check_positive_number("lr", self.lr)
        check_non_negative_int("seed", self.seed)
        if self.seed >= SEED_LIMIT:
            raise PernodeError(f"`seed` must be below 2^32 (Keras seeds are 32-bit); got {self.seed}.")
        check_optional_positive_int("max_train_samples", self.max_train_samples)
        check_non_negative_int("mc_samples", self.mc_samples, "0 (off) or a positive integer")
        if self.patience is not None:
            check_non_negative_int("patience", self.patience, "0 (off) or positive")
        spec = DATASETS.get(self.dataset)
        if spec is not None:
            check_fits(spec.input_shape, spec.backbone, self.units, self.batch_size, spec.n_outputs)
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


DATA_KINDS = ("synthetic", "real")


@dataclass
class TimeitConfig:
    dataset: str = "cifar10"
    variants: list = field(default_factory=lambda: parse_variants("all"))
    rate: float = 0.5
    units: int = 128
    batch_size: int = 128
    epochs: int = 6  # rounds, warm-up included
    warmup: int = 1
    steps_per_epoch: Optional[int] = None
    data: str = "synthetic"
    data_dir: Optional[str] = None
    sampler: Optional[str] = None
    seed: int = 0
    max_minutes: Optional[float] = None  # stop after the round that passes this

    def validate(self) -> "TimeitConfig":
        if isinstance(self.variants, str):
            self.variants = parse_variants(self.variants)
        self.variants = [get_variant(v).name for v in self.variants]
        check_choice("data", self.data, DATA_KINDS)
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
        """Real data, or an .npz whose shapes only its file knows."""
        return self.data == "real" or self.dataset not in DATASETS
