"""Where a registered variant, data set or backbone came from, as the log records it.

pernode's own: ``pernode 0.2.0``. An installed distribution's: ``mypkg 1.3 (module
mypkg.regs, sha256:...)``. A plain module file's: ``module regs (regs.py, sha256:...)``. The
hash is of the module file's bytes, so a plugin whose code changed has another source even
when its version did not (an editable install, say), and a sweep resumed after such a change
is refused.
"""

from __future__ import annotations

import functools
import hashlib
import sys


@functools.lru_cache(maxsize=None)
def _distributions() -> dict:
    from importlib.metadata import packages_distributions

    try:
        return packages_distributions()
    except Exception:  # a broken distribution's metadata must not stop a run
        return {}


@functools.lru_cache(maxsize=256)
def _file_hash(path: str) -> str:
    try:
        with open(path, "rb") as f:
            return hashlib.sha256(f.read()).hexdigest()[:12]
    except OSError:
        return "unreadable"


def source_of(obj) -> str:
    """The source of a function (or class) registered with pernode."""
    from pernode_cli import __version__

    name = getattr(obj, "__module__", None) or ""
    if name == "pernode_cli" or name.startswith("pernode_cli."):
        return f"pernode {__version__}"
    module = sys.modules.get(name)
    path = getattr(module, "__file__", None)
    digest = f"sha256:{_file_hash(path)}" if path else "no file"
    top = name.split(".")[0]
    dists = _distributions().get(top) or []
    if dists:
        from importlib.metadata import PackageNotFoundError, version

        try:
            return f"{dists[0]} {version(dists[0])} (module {name}, {digest})"
        except PackageNotFoundError:
            pass
    shown = path.rsplit("/", 1)[-1] if path else "?"
    return f"module {name or '?'} ({shown}, {digest})"


def run_sources(variant: str, dataset: str, backbone: str) -> str:
    """The ``sources`` column of a run: one source when all three agree, else each named."""
    parts = {"variant": variant, "data": dataset, "backbone": backbone}
    if len(set(parts.values())) == 1:
        return variant
    return "; ".join(f"{k}: {v}" for k, v in parts.items())


def changed_sources(before: dict, now: dict) -> list:
    """What changed between two ``sweeps.loop.sweep_sources``: ``[(what, then, now)]``."""
    out = []
    for name, src in now.get("variants", {}).items():
        old = before.get("variants", {}).get(name)
        if old is not None and old != src:
            out.append((f"variant {name}", old, src))
    for part in ("dataset", "backbone"):
        old = before.get(part)
        if old and now.get(part) and old != now[part]:
            out.append((part.replace("dataset", "data set"), old, now[part]))
    return out
