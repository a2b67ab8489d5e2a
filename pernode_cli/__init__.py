"""pernode: benchmark stochastic regularizers and rank them like the PerNodeDrop paper.

Importing this package stays light: TensorFlow and Keras are imported only by the
modules that need them. The public interface for a researcher's own method:

- ``register_variant(name, fn=None, *, description, deterministic=False, replace=False)``
- ``register_dataset(name, load, *, input_shape, n_outputs, ...)``
- ``register_backbone(name, features, *, head_units=64, ...)``
- ``register_stir(name, fn, ...)`` and ``register_sampler(name, fn, *, stirs, auto, priority, ...)``
- ``register_tracker(scheme, open, *, description="", extra=None, replace=False)``: where
  ``--track SCHEME:DESTINATION`` copies the log (``open(destination, experiment) -> Sink``)
- ``train(log=..., **settings)`` and ``sweep(config, log=None, shard=None, ...)``: the `train` and
  `sweep` commands, the same settings by keyword, returning their records (``RunResult``:
  ``log``, ``run_id``, ``rows``, ``rows_written``; ``SweepReport``: ``log``, ``ran``,
  ``skipped``, ``run_ids``, ``trained``, ``failures``).
- ``rank(paths_or_frame, **options)``: the ranking record `pernode rank` renders;
  ``report(paths_or_frame, out, ...)`` writes `pernode report`'s folder; ``plan(...)``.
"""

__version__ = "0.2.0"

_PUBLIC = {
    "register_variant": ("pernode_cli.variants", "register_variant"),
    "register_dataset": ("pernode_cli.data", "register_dataset"),
    "register_backbone": ("pernode_cli.backbones", "register_backbone"),
    "register_stir": ("pernode_cli.layers.stirs", "register_stir"),
    "register_sampler": ("pernode_cli.layers.samplers", "register_sampler"),
    "register_tracker": ("pernode_cli.export.trackers", "register_tracker"),
    "train": ("pernode_cli.training.session", "train"),
    "sweep": ("pernode_cli.sweeps.session", "sweep"),
    "rank": ("pernode_cli.api", "rank"),
    "report": ("pernode_cli.api", "report"),
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


def __dir__():  # the lazy public names too, for dir(pernode_cli) and completion in notebooks
    return sorted(set(globals()) | set(_PUBLIC))


__all__ = ["__version__", *_PUBLIC]
