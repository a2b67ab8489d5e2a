"""Fingerprints of the data a run trains on: part of a sweep's identity and of every log row.

- a registered data set: ``NAME@VERSION`` (its loader's version), plus ``+dir:HASH`` when it
  is read from ``data_dir`` (a downloaded copy: the files themselves are the data);
- a user's ``.npz`` file: ``npz:HASH`` of its bytes.

``HASH`` is the first 16 hex digits of a SHA-256 over the file's bytes (for a folder: every
file's relative path and bytes, in sorted order, leaving out the caches pernode writes there
itself). Regenerating an .npz at the same path with other samples changes its fingerprint,
so a resumed sweep can tell.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from pernode_cli.errors import PernodeError

CHUNK = 1 << 20
# Files pernode writes beside a data set's own files (spectrogram caches): not the data.
OWN_CACHES = ("pernode_spectrograms_",)


def _update_with_file(digest, path: Path) -> None:
    with open(path, "rb") as f:
        while block := f.read(CHUNK):
            digest.update(block)


def content_hash(path) -> str:
    """SHA-256 (first 16 hex digits) of a file's bytes, or of a folder's files with their paths."""
    path = Path(path)
    digest = hashlib.sha256()
    try:
        if path.is_dir():
            files = sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith(OWN_CACHES))
            for f in files:
                digest.update(str(f.relative_to(path)).encode() + b"\0")
                _update_with_file(digest, f)
                digest.update(b"\0")
        else:
            _update_with_file(digest, path)
    except OSError as exc:
        raise PernodeError(f"Cannot read the data {path} to fingerprint it ({exc.strerror or exc}).") from None
    return digest.hexdigest()[:16]


def fingerprint(name: str, spec, data_dir=None) -> str:
    """The fingerprint of data set ``name`` (``spec``: its registry entry, None for an .npz)."""
    if spec is None:
        return f"npz:{content_hash(name)}"
    out = f"{spec.name}@{spec.version}"
    if data_dir is not None and os.path.exists(data_dir):
        out += f"+dir:{content_hash(data_dir)}"
    return out


def data_change(dataset: str, data_dir, now: str) -> str:
    """What the data are now, naming the file or folder they come from."""
    if now.startswith("npz:"):
        return f"data file {dataset} is now {now}"
    if data_dir is not None:
        return f"data set {dataset} read from {data_dir} is now {now}"
    return f"data set {dataset} is now {now} (another pernode version's loader)"
