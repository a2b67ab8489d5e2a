"""``TrainConfig``: the settings of one training run, checked, and the run's id."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from typing import Optional

from pernode_cli.checks import (
    check_non_negative_int,
    check_optional_positive_int,
    check_positive_int,
    check_positive_number,
    check_rate,
)
from pernode_cli.data import DATASETS
from pernode_cli.errors import PernodeError
from pernode_cli.sizing import SEED_LIMIT, check_fits
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
