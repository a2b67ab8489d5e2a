"""A user's own data set: an .npz file with x_train, y_train, x_val, y_val."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from pernode_cli.data.common import Dataset, one_hot
from pernode_cli.errors import PernodeError
from pernode_cli.sizing import check_image_size

MAX_CLASSES = 100_000

NPZ_KEYS = ("x_train", "y_train", "x_val", "y_val")


def _npz_targets(y: np.ndarray, name: str):
    y = np.asarray(y)
    if y.ndim == 1:
        if not np.issubdtype(y.dtype, np.integer) and not np.all(np.equal(np.mod(y, 1), 0)):
            raise PernodeError(f"{name} must hold integer class labels or one-hot / multi-hot rows.")
        labels = y.astype("int64")
        if labels.min() < 0:
            raise PernodeError(f"{name} has negative class labels.")
        return labels, False
    if y.ndim == 2:
        if not np.all(np.isin(y, (0, 1))):
            raise PernodeError(f"{name} rows must be one-hot or multi-hot (values 0 and 1 only).")
        multilabel = not np.all(y.sum(axis=1) == 1)
        return y.astype("float32"), multilabel
    raise PernodeError(f"{name} must be 1-D labels or a 2-D one-hot / multi-hot array; got shape {y.shape}.")


def load_npz(path) -> Dataset:
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as f:
            missing = [k for k in NPZ_KEYS if k not in f.files]
            if missing:
                raise PernodeError(
                    f"{path} lacks {', '.join(missing)}; an .npz data set needs arrays "
                    "x_train, y_train, x_val, y_val."
                )
            arrays = {k: f[k] for k in NPZ_KEYS}
    except PernodeError:
        raise
    except Exception as exc:
        raise PernodeError(f"Cannot read {path} as an .npz file ({type(exc).__name__}: {exc}).") from None
    xt, yt, xv, yv = (arrays[k] for k in NPZ_KEYS)
    for name, x in (("x_train", xt), ("x_val", xv)):
        if not np.issubdtype(x.dtype, np.number) or x.ndim < 2 or x.ndim > 4:
            raise PernodeError(
                f"{name} must be numeric with shape (n, features), (n, h, w) or (n, h, w, c); "
                f"got {x.dtype} {x.shape}."
            )
    if xt.shape[1:] != xv.shape[1:]:
        raise PernodeError(f"x_train and x_val sample shapes differ: {xt.shape[1:]} vs {xv.shape[1:]}.")
    if len(xt) != len(yt) or len(xv) != len(yv):
        raise PernodeError(
            f"x and y lengths differ: x_train {len(xt)} vs y_train {len(yt)}, "
            f"x_val {len(xv)} vs y_val {len(yv)}."
        )
    if len(xt) == 0 or len(xv) == 0:
        raise PernodeError("x_train and x_val must not be empty.")
    yt, yv, multilabel = _targets(yt, yv, path)
    xt, xv = xt.astype("float32"), xv.astype("float32")
    if not (np.isfinite(xt).all() and np.isfinite(xv).all()):
        raise PernodeError(f"{path} holds NaN or infinite values in x_train or x_val.")
    if xt.ndim == 3:  # (n, h, w): add a channel axis for the CNN
        xt, xv = xt[..., None], xv[..., None]
    backbone = "mlp" if xt.ndim == 2 else "cnn"
    check_image_size(xt.shape[1:], str(path))
    return Dataset(path.stem, xt, yt, xv, yv, multilabel, backbone)


def _targets(yt, yv, path: Path):
    """Both splits' targets as one-hot or multi-hot rows of one width, and whether multi-label."""
    yt, ml_t = _npz_targets(yt, "y_train")
    yv, ml_v = _npz_targets(yv, "y_val")
    if yt.ndim == 1:
        if yv.ndim != 1:
            raise PernodeError("y_train and y_val must both be labels or both be 2-D.")
        n = int(max(yt.max(), yv.max())) + 1
        if n > MAX_CLASSES:
            raise PernodeError(
                f"{path}: class labels reach {n - 1}; labels must be 0..K-1 with K at most {MAX_CLASSES:,}."
            )
        return one_hot(yt, n), one_hot(yv, n), False
    if yv.ndim != 2 or yt.shape[1] != yv.shape[1]:
        raise PernodeError(f"y_train and y_val widths differ: {yt.shape} vs {yv.shape}.")
    return yt, yv, bool(ml_t or ml_v)
