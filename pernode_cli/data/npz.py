"""A user's own data set: an .npz file with x_train, y_train, x_val, y_val."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from pernode_cli.data.common import Dataset, one_hot
from pernode_cli.errors import PernodeError
from pernode_cli.sizing import check_image_size

MAX_CLASSES = 100_000

NPZ_KEYS = ("x_train", "y_train", "x_val", "y_val")
TEST_KEYS = ("x_test", "y_test")  # optional: a held-out test split


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
            present = [k for k in TEST_KEYS if k in f.files]
            if len(present) == 1:
                raise PernodeError(f"{path} has {present[0]} without "
                                   f"{'y_test' if present[0] == 'x_test' else 'x_test'}; "
                                   "a test split needs both arrays.")
            arrays = {k: f[k] for k in NPZ_KEYS + (TEST_KEYS if present else ())}
    except PernodeError:
        raise
    except Exception as exc:
        raise PernodeError(f"Cannot read {path} as an .npz file ({type(exc).__name__}: {exc}).") from None
    return as_dataset(path.stem, [arrays[k] for k in NPZ_KEYS + (TEST_KEYS if "x_test" in arrays else ())],
                      where=str(path), how="as given in the file")


def as_dataset(name: str, arrays: list, where: str, backbone=None, how: str = "") -> Dataset:
    """``[x_train, y_train, x_val, y_val(, x_test, y_test)]`` checked and made a ``Dataset``:
    targets as one-hot (or multi-hot) rows of one width, inputs float32 and finite. Without a
    ``backbone`` (an .npz file) it is chosen by rank: the MLP for ``(n, features)``, the CNN for
    images (a channel axis added to ``(n, h, w)``)."""
    xt, yt, xv, yv = arrays[:4]
    xs, ys = (arrays[4], arrays[5]) if len(arrays) == 6 else (None, None)
    named = (("x_train", xt), ("x_val", xv)) + ((("x_test", xs),) if xs is not None else ())
    for label, x in named:
        if not np.issubdtype(x.dtype, np.number) or x.ndim < 2 or (backbone is None and x.ndim > 4):
            shapes = "(n, features), (n, h, w) or (n, h, w, c)" if backbone is None else "(n, ...)"
            raise PernodeError(f"{where}: {label} must be numeric with shape {shapes}; got {x.dtype} {x.shape}.")
    if xt.shape[1:] != xv.shape[1:] or (xs is not None and xs.shape[1:] != xt.shape[1:]):
        other = xv.shape[1:] if xt.shape[1:] != xv.shape[1:] else xs.shape[1:]
        raise PernodeError(f"{where}: x_train and the other splits' sample shapes differ: {xt.shape[1:]} vs {other}.")
    if xs is not None and (len(xs) != len(ys) or len(xs) == 0):
        raise PernodeError(f"{where}: x_test and y_test must be non-empty and of one length; got {len(xs)} and "
                           f"{len(ys)}.")
    if len(xt) != len(yt) or len(xv) != len(yv):
        raise PernodeError(
            f"{where}: x and y lengths differ: x_train {len(xt)} vs y_train {len(yt)}, "
            f"x_val {len(xv)} vs y_val {len(yv)}."
        )
    if len(xt) == 0 or len(xv) == 0:
        raise PernodeError(f"{where}: x_train and x_val must not be empty.")
    targets, multilabel = _targets(where, y_train=yt, y_val=yv, **({} if ys is None else {"y_test": ys}))
    yt, yv = targets[:2]
    ys = targets[2] if ys is not None else None
    xt, xv = xt.astype("float32"), xv.astype("float32")
    xs = None if xs is None else xs.astype("float32")
    if not all(np.isfinite(x).all() for x in (xt, xv) + ((xs,) if xs is not None else ())):
        raise PernodeError(f"{where} holds NaN or infinite values in x_train, x_val or x_test.")
    if backbone is None:
        if xt.ndim == 3:  # (n, h, w): add a channel axis for the CNN
            xt, xv = xt[..., None], xv[..., None]
            xs = None if xs is None else xs[..., None]
        backbone = "mlp" if xt.ndim == 2 else "cnn"
        check_image_size(xt.shape[1:], where)
    split = f"train {len(xt)} / val {len(xv)}" + (f" / test {len(xs)}" if xs is not None else " / no test split")
    return Dataset(name, xt, yt, xv, yv, multilabel, backbone, xs, ys, f"{split}, {how}" if how else split)


def _targets(path, **splits):
    """Every split's targets (``y_train=..., y_val=..., [y_test=...]``) as one-hot or multi-hot
    rows of one width, and whether the task is multi-label."""
    parsed = {name: _npz_targets(y, name) for name, y in splits.items()}
    dims = {name: y.ndim for name, (y, _) in parsed.items()}
    if len(set(dims.values())) > 1:
        raise PernodeError(f"{', '.join(parsed)} must all be labels or all be 2-D; got {dims}.")
    if next(iter(dims.values())) == 1:
        n = int(max(y.max() for y, _ in parsed.values())) + 1
        if n > MAX_CLASSES:
            raise PernodeError(
                f"{path}: class labels reach {n - 1}; labels must be 0..K-1 with K at most {MAX_CLASSES:,}."
            )
        return [one_hot(y, n) for y, _ in parsed.values()], False
    widths = {name: y.shape[1] for name, (y, _) in parsed.items()}
    if len(set(widths.values())) > 1:
        raise PernodeError(f"The target widths differ: {widths}.")
    return [y for y, _ in parsed.values()], any(m for _, m in parsed.values())
