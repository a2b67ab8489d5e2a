"""What a training run produces: one ``EpochRow`` per epoch (the log's columns, declared once
in ``pernode_cli.schema``) and the ``RunResult`` of the whole run. No Keras here."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Optional

from pernode_cli.schema import TRAIN_COLUMNS, EpochRow  # noqa: F401 (the log's columns, re-exported)


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
