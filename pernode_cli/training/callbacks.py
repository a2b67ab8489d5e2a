"""Keras callbacks shared by `train`, `sweep` and `timeit`.

``EpochTimer`` is the one epoch clock of every log: it waits for the device before each
clock read, so ``epoch_seconds`` means the same on every backend and in every command.
"""

from __future__ import annotations

import math
import time
from datetime import datetime, timezone
from typing import Callable, Optional

import keras

from pernode_cli.training import environment


class EpochTimer(keras.callbacks.Callback):
    """Wall time of each epoch's training pass, device-synced at both ends.

    ``seconds[i]`` is epoch i's duration and ``offsets[i]`` its start, in seconds since
    ``origin`` (``time.perf_counter()`` when the timer was made, unless given).
    """

    def __init__(self, on_epoch: Optional[Callable[[int, float], None]] = None, origin: Optional[float] = None):
        super().__init__()
        self.on_epoch = on_epoch
        self.origin = time.perf_counter() if origin is None else origin
        self.seconds: list[float] = []
        self.offsets: list[float] = []

    def on_epoch_begin(self, epoch, logs=None):
        environment.sync_device(self.model)
        self._t0 = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        environment.sync_device(self.model)
        self.seconds.append(time.perf_counter() - self._t0)
        self.offsets.append(self._t0 - self.origin)
        if self.on_epoch is not None:
            self.on_epoch(epoch + 1, self.seconds[-1])


class NonFiniteStop(keras.callbacks.Callback):
    """Stop at the first batch whose running loss is NaN or infinite."""

    stopped = False

    def on_train_batch_end(self, batch, logs=None):
        if logs and not math.isfinite(float(logs.get("loss", 0.0))):
            self.stopped = True
            self.model.stop_training = True


def utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")
