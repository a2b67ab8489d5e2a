import os
import sys
import types

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")


def pytest_collection_modifyitems(config, items):
    """The slow tests (real processes, servers, training) go first: the workers share them
    out at the start and the quick tests fill in at the end, so no worker is left with a long
    test while the others idle."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)  # stable: file order otherwise


@pytest.fixture
def tensorboard_reader(monkeypatch):
    """TensorBoard's EventAccumulator in TensorBoard's own no-TensorFlow mode (TensorFlow is
    installed here, and importing it would cost seconds): ``read(folder)`` -> the accumulator."""
    monkeypatch.setitem(sys.modules, "tensorboard.compat.notf", types.ModuleType("tensorboard.compat.notf"))
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    def read(folder):
        acc = EventAccumulator(str(folder))
        acc.Reload()
        return acc

    return read
