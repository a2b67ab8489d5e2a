"""What is registered (``pernode list``): every variant, data set, backbone, stir, sampler and
tracker, from its registry (``registries.Registry``), with its description and source. Stirs and
samplers are Keras code: listing them imports the backend."""

from __future__ import annotations

# kind -> (module, registry attribute); the layers' kinds need the backend.
REGISTRIES = {
    "variants": ("pernode_cli.variants", "REGISTRY"),
    "datasets": ("pernode_cli.data", "DATASETS"),
    "backbones": ("pernode_cli.backbones", "BACKBONES"),
    "stirs": ("pernode_cli.layers.stirs", "STIRS"),
    "samplers": ("pernode_cli.layers.samplers", "SAMPLERS"),
    "trackers": ("pernode_cli.export.trackers", "TRACKERS"),
}
KINDS = tuple(REGISTRIES)
_NEEDS_BACKEND = ("stirs", "samplers")


def registry(kind: str):
    """The registry of ``kind`` (one of ``KINDS``)."""
    import importlib

    if kind in _NEEDS_BACKEND:
        from pernode_cli.training.environment import import_backend

        import_backend()
    module, name = REGISTRIES[kind]
    return getattr(importlib.import_module(module), name)


def catalog(kind: str) -> list[dict]:
    """``[{"name", "description", "source"}]`` of one kind, in registration order."""
    from pernode_cli.registries import own_source

    found = registry(kind)
    if found.group:  # a registry with an entry-point group of its own: the installed entries too
        found.load_group()
    rows = found.rows()
    if kind == "datasets":
        return rows + [{"name": "path/to/file.npz", "description": "your arrays x_train, y_train, x_val, y_val "
                        "(and optionally x_test, y_test)", "source": own_source()}]
    if kind == "samplers":
        return [{"name": "auto", "description": _auto_text(), "source": own_source()}] + rows
    return rows


def _auto_text() -> str:
    import keras

    from pernode_cli.layers.samplers import resolve_sampler

    runs = ", ".join(f"{stir} {resolve_sampler('auto', stir, 4096, 128)}" for stir in
                     ("bernoulli", "gaussian", "partial_gaussian"))
    return (f"the fastest exact sampler for the stir, the backend and the shape; here ({keras.backend.backend()}, "
            f"4,096 -> 128): {runs}")
