"""Plugins: modules that register variants, data sets and backbones when imported.

Found three ways: the entry-point group ``pernode.plugins`` of every installed distribution
(no flag needed), ``--plugin MODULE`` (a module name, or a path to a ``.py`` file) on
`train`, `sweep`, `timeit` and `list`, and ``plugins = ["module", ...]`` at the top of a
sweep config. Each is imported once per process; one that fails to import is a
``PernodeError`` naming it and the error. Ray workers import the same plugins before they
train (``loaded_plugins`` is what to pass them).
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from pathlib import Path

from pernode_cli.errors import PernodeError
from pernode_cli.paths import real_path

GROUP = "pernode.plugins"
_LOADED: dict = {}  # what was given (name or path) -> module
_ENTRY_POINTS_DONE = False


def _import_file(path: Path):
    name = f"pernode_plugin_{path.stem}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"{path} is not a Python module")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(name, None)
        raise
    return module


def _quietly(load):
    """``load()`` with the backend's start-up chatter hidden, exactly as `train` imports Keras: a
    plugin that imports keras prints no TensorFlow C++ lines before pernode's own. What a plugin
    prints is kept off stdout (to stderr, hidden with the backend's lines while they are): stdout
    is the command's (one JSON document with ``--format json``)."""
    import contextlib
    import sys

    from pernode_cli.training.environment import quiet_backend_import

    with quiet_backend_import(), contextlib.redirect_stdout(sys.stderr):
        return load()


def _load_one(given: str, base: Path | None):
    is_path = given.endswith(".py") or os.sep in given
    if is_path:  # a loop of links is one line, as for every other path
        key = str(real_path(base / given if base is not None and not os.path.isabs(given) else given, "plugin"))
    else:
        key = given
    if key in _LOADED:
        return _LOADED[key]
    try:
        if is_path:
            path = Path(key)
            if not path.is_file():
                raise PernodeError(f"Plugin {given} does not exist; give a module name or the path to a .py file.")
            module = _quietly(lambda: _import_file(path))
        else:
            for folder in (os.getcwd(), str(base) if base is not None else None):
                if folder and folder not in sys.path:
                    sys.path.insert(0, folder)  # a module beside the config or in the current folder
            module = _quietly(lambda: importlib.import_module(given))
    except PernodeError:
        raise
    except BaseException as exc:
        if isinstance(exc, KeyboardInterrupt):
            raise
        reason = str(exc).splitlines()[0] if str(exc) else ""
        raise PernodeError(f"Plugin {given} failed to import ({type(exc).__name__}: {reason}).") from None
    _LOADED[key] = module
    return module


def load_entry_point(ep):
    """Import one installed entry point (any group) quietly, once; one that fails is a
    ``PernodeError`` naming it and its error."""
    if ep.value in _LOADED:
        return _LOADED[ep.value]
    try:
        _LOADED[ep.value] = _quietly(ep.load)
    except BaseException as exc:
        if isinstance(exc, KeyboardInterrupt):
            raise
        reason = str(exc).splitlines()[0] if str(exc) else ""
        raise PernodeError(f"Plugin {ep.name} ({ep.value}, an installed entry point of group {ep.group}) failed "
                           f"to import ({type(exc).__name__}: {reason}).") from None
    return _LOADED[ep.value]


def load_entry_points() -> list:
    """Import every installed ``pernode.plugins`` entry point (once per process)."""
    global _ENTRY_POINTS_DONE
    if _ENTRY_POINTS_DONE:
        return []
    _ENTRY_POINTS_DONE = True
    from importlib.metadata import entry_points

    loaded = []
    for ep in entry_points(group=GROUP):
        if ep.value in _LOADED:
            continue
        load_entry_point(ep)
        loaded.append(ep.value)
    return loaded


def load_plugins(names=(), entry_points: bool = True, base: Path | None = None) -> list:
    """Import the installed entry points (unless ``entry_points`` is False) and ``names`` (module
    names or ``.py`` paths, the latter relative to ``base`` when given); returns ``names``."""
    if entry_points:
        load_entry_points()
    for given in names:
        _load_one(str(given), base)
    return list(names)


def loaded_plugins() -> list:
    """The plugins this process imported by name or path (for Ray workers to import too)."""
    return [key for key in _LOADED if not key.startswith(("pernode.", )) and ":" not in key]
