"""Reading CSV logs into one pandas frame, with one clear error per unusable file."""

from __future__ import annotations

import glob
from pathlib import Path

from pernode_cli.errors import PernodeError


def expand(patterns: list[str]) -> list[Path]:
    paths: list[Path] = []
    for pattern in patterns:
        matches = sorted(glob.glob(pattern)) if any(c in pattern for c in "*?[") else [pattern]
        if not matches:
            raise PernodeError(f"No log matches {pattern!r}.")
        paths.extend(Path(m) for m in matches)
    return paths


def read_logs(patterns: list[str]):
    import pandas as pd

    frames = []
    for path in expand(patterns):
        if not path.is_file():
            raise PernodeError(f"Log {path} does not exist or is not a file.")
        try:
            frame = pd.read_csv(path)
        except pd.errors.EmptyDataError:
            raise PernodeError(f"Log {path} is empty; give a log written by pernode train or sweep.") from None
        except (pd.errors.ParserError, UnicodeDecodeError, OSError) as exc:
            raise PernodeError(f"Cannot read log {path} as CSV ({str(exc).splitlines()[0]}).") from None
        if frame.empty:
            raise PernodeError(f"Log {path} has a header but no rows.")
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)
