import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")


def pytest_collection_modifyitems(config, items):
    """The slow tests (real processes, servers, training) go first: the two workers share them
    out at the start and the quick tests fill in at the end, so neither worker is left with a
    long test while the other idles."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)  # stable: file order otherwise
