"""Paths as the files they reach: symbolic links followed before anything is read, locked
or written, so that two names of one file are one file, a link is written through (never
replaced), and a link loop is one clear error wherever a path is taken."""

from __future__ import annotations

import errno
import os
from pathlib import Path

from pernode_cli.errors import PernodeError


def real_path(path, what: str) -> Path:
    """The absolute path ``path`` reaches, every symbolic link followed; a dangling link gives
    the path of the file it names (writing there creates the target, never replaces the link).

    ``what`` words the errors ("log", "config", "`out` folder"): an empty path, and a loop of
    links or a chain too long to follow, are ``PernodeError``.
    """
    text = os.fspath(path)
    if not text:
        raise PernodeError(f"The {what} path is empty; give a file or folder name.")
    try:
        os.stat(text)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise PernodeError(f"The {what} path {text} is a loop of symbolic links; point the link at a "
                               "file.") from None
        if exc.errno == errno.ENAMETOOLONG:
            raise PernodeError(f"The {what} path {text[:80]}... is too long.") from None
        # Missing (a dangling link included) or unreadable: the caller decides what that means.
    return Path(os.path.realpath(text))


def describe(given, real: Path) -> str:
    """``given`` as the user named it, with the file it reaches when that differs (a link)."""
    given = os.fspath(given)
    if os.path.islink(given):
        return f"{given} (a link to {real})"
    return given


def existing_file(path, what: str) -> Path:
    """``path`` when it reaches a regular file that exists; one line otherwise (a loop of
    links, a missing file, or a folder, FIFO or device where a file is read)."""
    real = real_path(path, what.lower())
    if not real.exists():
        raise PernodeError(f"{what} {path} does not exist.")
    if not real.is_file():
        kind = "a folder" if real.is_dir() else "not a regular file (a FIFO, socket or device)"
        raise PernodeError(f"{what} {path} is {kind}; give the path of a file.")
    return Path(path)


def safe_name(name) -> str:
    """``name`` as a file or folder name: letters, digits, ``-``, ``_`` and ``.`` kept, anything else
    ``_``; an empty name is ``_``."""
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in str(name)) or "_"
