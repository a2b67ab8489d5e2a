"""Where an export goes, checked before anything is sent: a TensorBoard folder, an MLflow
tracking URI, and the optional package each needs. Nothing here imports mlflow or
tensorboard, and nothing reaches the network."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from urllib.parse import urlparse

from pernode_cli.errors import PernodeError
from pernode_cli.paths import real_path

EXTRAS = {"mlflow": "mlflow", "tensorboard": "tensorboard"}  # import name -> pernode extra


def require(module: str, argument: str) -> None:
    """Raise one line saying how to install ``module`` when it cannot be imported."""
    try:
        found = sys.modules[module] is not None if module in sys.modules else importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        found = False
    if not found:
        raise PernodeError(f'Exporting with `{argument}` needs {module}: pip install "pernode[{EXTRAS[module]}]".')


def tensorboard_folder(folder) -> Path:
    """A folder for TensorBoard runs: created if missing, inside an existing folder."""
    if not str(folder).strip():
        raise PernodeError("`tensorboard` is empty; give a folder for the TensorBoard runs.")
    path = real_path(Path(str(folder)).expanduser(), "`tensorboard` folder")  # a loop of links: one line
    if path.exists() and not path.is_dir():
        raise PernodeError(f"`tensorboard` {path} is a file; give a folder for the TensorBoard runs.")
    if not path.exists() and not path.parent.is_dir():
        raise PernodeError(f"Folder {path.parent} of `tensorboard` {path.name} does not exist; create it first.")
    return path


def mlflow_uri(uri: str) -> str:
    """The tracking URI MLflow is given: ``sqlite:///FILE``, ``http(s)://HOST...``, a
    ``file:`` URI or plain path of a local store (a path ending in ``.db`` is an SQLite
    store, MLflow 3's default local store; another path is MLflow's folder store)."""
    text = str(uri).strip()
    if not text:
        raise PernodeError("`mlflow` is empty; give a tracking URI: sqlite:///mlflow.db, http://HOST:PORT or a folder.")
    parsed = urlparse(text)
    scheme = parsed.scheme.lower()
    if scheme in ("http", "https"):
        if not parsed.hostname:
            raise PernodeError(f"`mlflow` {text} names no host; give http://HOST:PORT of a tracking server.")
        return text
    if scheme == "sqlite":
        database = text[len("sqlite:///"):] if text.lower().startswith("sqlite:///") else None
        if not database:
            raise PernodeError(f"`mlflow` {text} is not an SQLite URI; write sqlite:///relative.db or sqlite:////absolute.db.")
        _local_parent(Path(database), text, file=True)
        return text
    if scheme == "file":
        path = Path(parsed.path)
    elif len(scheme) > 1:  # a one-letter scheme is a Windows drive
        raise PernodeError(
            f"`mlflow` {text}: unknown scheme {scheme}:; give sqlite:///FILE.db, http(s)://HOST:PORT, a file: URI or a folder."
        )
    else:
        path = Path(text).expanduser()
    if path.suffix == ".db":
        _local_parent(path, text, file=True)
        return f"sqlite:///{path.resolve()}"
    _local_parent(path, text, file=False)
    return path.resolve().as_uri()


def _local_parent(path: Path, text: str, file: bool) -> None:
    path = real_path(path, "`mlflow` store")  # a loop of links: one line
    if path.exists() and path.is_dir() == file:
        what = "a folder, not a database file" if file else "a file, not a store folder"
        raise PernodeError(f"`mlflow` {text} is {what}.")
    parent = path.resolve().parent
    if not parent.is_dir():
        raise PernodeError(f"Folder {parent} of `mlflow` {text} does not exist; create it first.")
