"""Output folders that appear whole or not at all (`report --out`, `rank --plots`).

Everything is written into a temporary folder beside the target and moved into place at the
end: a new folder by one rename, an earlier output by an atomic exchange of the two folders
(Linux ``renameat2(RENAME_EXCHANGE)``; elsewhere two renames), after which the old copy is
removed. An interrupt, a full disk or an error leaves the previous output (or nothing)
untouched. A folder is only ever replaced when it is empty or holds exactly what pernode
wrote there before (its manifest, ``.pernode-output``, lists every file); anything else in it
is the user's, and the folder is refused.
"""

from __future__ import annotations

import ctypes
import errno
import json
import os
import shutil
from pathlib import Path

from pernode_cli.errors import PernodeError, RunFailed
from pernode_cli.paths import describe, real_path

MANIFEST = ".pernode-output"
FAULTS = {errno.ENOSPC: "the disk is full", errno.EDQUOT: "the disk quota is exceeded", errno.EIO: "an I/O error",
          errno.EROFS: "the file system is read-only"}


def _foreign(folder: Path, own: set, shown: str, what: str, most: int = 4) -> list:
    """Up to ``most`` files under ``folder`` that are not in ``own`` (relative POSIX paths);
    stops at the ``most``-th, so a large folder given by mistake is not read whole."""
    def unreadable(exc: OSError):
        raise PernodeError(f"Cannot read folder {exc.filename or shown} ({exc.strerror}); give another `{what}` "
                           "folder.") from None

    found = []
    for top, dirs, files in os.walk(folder, onerror=unreadable):
        dirs.sort()
        for name in sorted(files) + [d for d in dirs if os.path.islink(os.path.join(top, d))]:
            rel = Path(top, name).relative_to(folder).as_posix()
            if rel not in own:
                found.append(rel)
                if len(found) >= most:
                    return found
    return found


def check_target(out, what: str, kind: str) -> Path:
    """The real path of output folder ``out`` (argument ``what``), refused unless it can be
    replaced whole: missing, empty, or holding only an earlier output of ``kind``. Writes nothing."""
    given = "" if out is None else os.fspath(out)
    if not given:
        raise PernodeError(f"`{what}` is empty; give the folder to write, e.g. `{what}` report.")
    real = real_path(given, f"`{what}` folder")
    shown = describe(given, real)
    if real.parent == real:
        raise PernodeError(f"{shown} is the root of the file system; give a new or empty `{what}` folder.")
    if real.exists() and not real.is_dir():
        raise PernodeError(f"{shown} is a file, not a folder; give another `{what}` folder.")
    parent = real.parent
    while not parent.exists():  # created on writing
        parent = parent.parent
    if not os.access(parent, os.W_OK | os.X_OK):
        raise PernodeError(f"Cannot write in {parent}; give another `{what}` folder.")
    if real.is_dir():
        listed = _manifest(real, kind)
        others = _foreign(real, listed | {MANIFEST}, shown, what)
        if not listed and not others and (real / MANIFEST).exists():
            others = [f"{MANIFEST}, which lists no output of `{kind}`"]
        if others:
            raise PernodeError(
                f"{shown} holds files that pernode did not write there ({', '.join(others[:3])}"
                f"{', ...' if len(others) > 3 else ''}); give a new or empty `{what}` folder (a folder is replaced "
                "whole, so only an earlier output of the same command is overwritten)."
            )
    return real


def _manifest(folder: Path, kind: str) -> set:
    try:
        data = json.loads((folder / MANIFEST).read_text())
    except (OSError, ValueError):
        return set()
    return set(data.get("files", [])) if isinstance(data, dict) and data.get("kind") == kind else set()


def _exchange(a: Path, b: Path) -> bool:
    """Swap two folders atomically where the kernel can; False where it cannot."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    if renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0:
        return True
    return False


def _fault(exc: OSError, target: Path, what: str) -> PernodeError:
    if exc.errno in FAULTS:
        return RunFailed(f"Cannot write {target} ({FAULTS[exc.errno]}); the folder is as it was before.")
    return PernodeError(f"Cannot write {target} ({exc.strerror or exc}); give another `{what}` folder.")


def replace_folder(out, files: dict, what: str, kind: str) -> list[Path]:
    """Write ``files`` (relative path -> bytes) as folder ``out``, whole or not at all.

    Returns the paths written. A fault of the machine (full disk, I/O error) is ``RunFailed``
    (exit 1); the previous folder, or nothing, stays.
    """
    target = check_target(out, what, kind)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        try:
            for rel, data in files.items():
                path = tmp / rel
                path.parent.mkdir(parents=True, exist_ok=True)
                with open(path, "wb") as f:
                    f.write(data)
                    f.flush()
                    os.fsync(f.fileno())
            manifest = json.dumps({"kind": kind, "files": sorted(files)}, indent=1) + "\n"
            (tmp / MANIFEST).write_text(manifest)
            if not target.exists():
                os.rename(tmp, target)
            elif _exchange(tmp, target):
                shutil.rmtree(tmp, ignore_errors=True)  # tmp now holds the earlier output
            else:
                old = target.with_name(f".{target.name}.old-{os.getpid()}")
                os.rename(target, old)
                os.rename(tmp, target)
                shutil.rmtree(old, ignore_errors=True)
        except OSError as exc:
            raise _fault(exc, target, what) from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return [target / rel for rel in files]
