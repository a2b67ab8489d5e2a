"""What a training run produces: one ``EpochRow`` per epoch (the log's columns, declared once
in ``pernode_cli.schema``) and the ``RunResult`` of the whole run. No Keras here."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Optional

from pernode_cli.schema import plain


@dataclass
class RunResult:
    """One attempt of one run: its rows as appended to ``log``, how it ended and what the
    trackers could not send (``unsent``: one line each; the log holds every row regardless)."""

    run_id: str
    rows: list = field(default_factory=list)  # one dict per epoch, keys TRAIN_COLUMNS
    failed: bool = False
    message: str = ""
    log: str = ""
    attempt: int = 1
    unsent: list = field(default_factory=list)
    settings: dict = field(default_factory=dict)  # the run's settings (``schema.RunSettings``)

    @property
    def rows_written(self) -> int:
        return len(self.rows)

    def to_dict(self) -> dict:
        """Plain data (JSON-ready: a non-finite number is None)."""
        return {"log": self.log, "run_id": self.run_id, "attempt": self.attempt, "settings": plain(self.settings),
                "rows_written": self.rows_written,
                "failed": self.failed, "message": self.message, "best_epoch": plain(self.best),
                "rows": [plain(r) for r in self.rows], "unsent": list(self.unsent)}

    @property
    def best(self) -> Optional[dict]:
        ok = [r for r in self.rows if math.isfinite(r["val_loss"])]
        return min(ok, key=lambda r: r["val_loss"]) if ok else None

