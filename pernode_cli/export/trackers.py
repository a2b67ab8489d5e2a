"""Trackers by scheme: ``SCHEME:DESTINATION`` names where a copy of the log goes.

A tracker is one module that calls ``register_tracker(scheme, open, ...)``; ``open(destination,
experiment)`` checks the destination at once (raising ``PernodeError``, one line, nothing sent,
nothing reaching the network) and returns an ``engine.Sink``, which the engine drives from its
own thread. pernode registers ``tensorboard``, ``mlflow`` and ``wandb``; a tracker installed as
a separate distribution exposes its module in the entry-point group ``pernode.trackers`` (entry
point name = the scheme) and is imported the first time its scheme is asked for.

Importing this module imports no tracker's package.
"""

from __future__ import annotations

import importlib.util
import re
import sys
from dataclasses import dataclass
from typing import Callable, Optional

from pernode_cli.argchecks import as_items, check_description, check_replace, check_signature, invalid
from pernode_cli.errors import PernodeError
from pernode_cli.registries import Registry

GROUP = "pernode.trackers"
SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*")
EXTRA = re.compile(r"[A-Za-z0-9][A-Za-z0-9._\-]*")


@dataclass(frozen=True)
class Tracker:
    """One registered tracker: its scheme (``name``), ``open(destination, experiment) -> Sink``,
    a description, the pip extra of pernode that installs its package, and its source."""

    name: str
    open: Callable
    description: str = ""
    extra: Optional[str] = None
    source: str = ""


def check_scheme(scheme) -> str:
    """A scheme: a letter, then letters, digits, ``+``, ``.`` or ``-`` (no colon)."""
    if not isinstance(scheme, str) or not SCHEME.fullmatch(scheme):
        raise invalid("scheme", "a str starting with a letter, of letters, digits, '+', '.' and '-' (no ':')",
                      scheme)
    return scheme


def _unknown(scheme, registry) -> PernodeError:
    return PernodeError(f"Unknown tracker {scheme!r}; registered trackers: {', '.join(registry)} (give "
                        "SCHEME:DESTINATION, e.g. tensorboard:runs/, mlflow:sqlite:///mlflow.db, wandb:PROJECT).")


TRACKERS = Registry("tracker", "trackers", unknown=_unknown, group=GROUP, validate=check_scheme)


def register_tracker(scheme, open, *, description="", extra=None, replace=False):
    """Register a tracker under ``scheme`` (``--track SCHEME:DESTINATION``).

    Args:
        scheme: the part before the first colon of a ``--track`` item; unique (case-insensitive)
            unless ``replace``.
        open: ``open(destination, experiment) -> engine.Sink``: checks ``destination`` (the text
            after the colon) at once, raising ``PernodeError`` with one line, and returns the sink
            without sending anything or reaching the network. ``experiment`` is ``--experiment``
            (``"pernode"`` unless given). A package it needs that is missing: raise
            ``ModuleNotFoundError`` (``require(module)`` does so without importing it).
        description: one line shown by ``pernode list trackers``.
        extra: the pip extra of pernode that installs the package ``open`` needs ("mlflow": the
            missing package's line says ``pip install "pernode[mlflow]"``); None: ``pip install``
            of the missing module itself.
        replace: allow replacing a registered tracker of that scheme.

    Returns ``open``, after registering it.
    """
    from pernode_cli.sources import source_of

    check_scheme(scheme)
    check_signature("open", open, ("destination", "pernode"), "open(destination, experiment) -> Sink")
    check_description(description)
    if extra is not None and (not isinstance(extra, str) or not EXTRA.fullmatch(extra)):
        raise invalid("extra", "None or the name of a pip extra (letters, digits, '.', '_', '-')", extra)
    check_replace(replace)
    TRACKERS.add(Tracker(scheme, open, description, extra, source_of(open)), replace=replace)
    return open


def require(module: str) -> None:
    """Raise ``ModuleNotFoundError`` when ``module`` cannot be imported (it is not imported here)."""
    try:
        found = sys.modules[module] is not None if module in sys.modules else (
            importlib.util.find_spec(module) is not None)
    except (ImportError, ValueError):
        found = False
    if not found:
        raise ModuleNotFoundError(f"No module named {module!r}", name=module)


def split_track(item) -> tuple[str, str]:
    """``SCHEME:DESTINATION`` split at its first colon: ``("mlflow", "sqlite:///m.db")``."""
    if not isinstance(item, str) or ":" not in item or not item.split(":", 1)[0].strip():
        raise invalid("track", "SCHEME:DESTINATION, e.g. tensorboard:runs/, mlflow:http://127.0.0.1:5000 or "
                      "wandb:PROJECT", item, error=PernodeError)
    scheme, destination = item.split(":", 1)
    scheme = scheme.strip()
    if not SCHEME.fullmatch(scheme):
        raise invalid("track", "SCHEME:DESTINATION whose scheme is a letter, then letters, digits, '+', '.' "
                      "or '-'", item, error=PernodeError)
    return scheme, destination


def check_track(track) -> list:
    """``track`` as a list of ``SCHEME:DESTINATION`` texts (one text is one item)."""
    items = list(as_items(track, "track", "a list of 'SCHEME:DESTINATION' texts"))
    for item in items:
        split_track(item)
    return items


def open_tracker(scheme: str, destination: str, experiment: str, argument: str):
    """The sink of ``scheme`` at ``destination``, checked now. ``argument`` words a missing
    package's line (``tensorboard``, or ``track`` and the item)."""
    tracker = TRACKERS.lookup(scheme)
    try:
        sink = tracker.open(destination, experiment)
    except ModuleNotFoundError as exc:
        module = exc.name or str(exc)
        how = f'pip install "pernode[{tracker.extra}]"' if tracker.extra else f"pip install {module}"
        raise PernodeError(f"Exporting with {argument} needs {module}: {how}.") from None
    except PernodeError:
        raise
    except Exception as exc:  # a tracker's own bug: one line, before anything is trained or sent
        from pernode_cli.export.engine import one_line

        raise PernodeError(f"Tracker {tracker.name} ({tracker.source}) cannot open {destination!r}: "
                           f"{one_line(exc)}.") from None
    from pernode_cli.export.engine import Sink

    if not isinstance(sink, Sink):
        raise PernodeError(f"Tracker {tracker.name} ({tracker.source}) returned {type(sink).__name__}, not an "
                           "engine.Sink.")
    return sink
