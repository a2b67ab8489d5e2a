"""pernode: benchmark stochastic regularizers and rank them like the PerNodeDrop paper.

Importing this package stays light: TensorFlow and Keras are imported only by the
modules that need them. The public interface for a researcher's own method:

- ``register_variant(name, fn=None, *, description, deterministic=False, replace=False)``
- ``register_dataset(name, load, *, input_shape, n_outputs, ...)``
- ``register_backbone(name, features, *, head_units=64, ...)``
- ``rank(paths_or_frame, **options)``: the ranking record `pernode rank` renders.
"""

__version__ = "0.2.0"

_PUBLIC = {
    "register_variant": ("pernode_cli.variants", "register_variant"),
    "register_dataset": ("pernode_cli.data", "register_dataset"),
    "register_backbone": ("pernode_cli.backbones", "register_backbone"),
    "rank": ("pernode_cli.api", "rank"),
    "plan": ("pernode_cli.api", "plan"),
    "SCHEMA_VERSION": ("pernode_cli.schema", "SCHEMA_VERSION"),
    "TIMING_SCHEMA_VERSION": ("pernode_cli.schema", "TIMING_SCHEMA_VERSION"),
}


def __getattr__(name):  # the public names load their modules on first use
    if name in _PUBLIC:
        import importlib

        module, attr = _PUBLIC[name]
        return getattr(importlib.import_module(module), attr)
    raise AttributeError(f"module 'pernode_cli' has no attribute {name!r}")


__all__ = ["__version__", *_PUBLIC]
