"""Data sets of the paper (and the user's own .npz), loaded into plain numpy / scipy arrays.

Loaders read the real formats: scikit-learn's bundled digits, the CIFAR-10 python pickles
(`cifar-10-batches-py`), the Mini Speech Commands wav folders, scikit-learn's RCV1 cache.
Nothing here imports TensorFlow or Keras except the downloaders, imported where used.
"""

from __future__ import annotations

import hashlib
import io
import os
import pickle
import tarfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pernode_cli.errors import PernodeError

DATASETS = ("digits", "cifar10", "speech_commands", "rcv1")
SPEECH_WORDS = ("down", "go", "left", "no", "right", "stop", "up", "yes")
SPEECH_URL = "http://storage.googleapis.com/download.tensorflow.org/data/mini_speech_commands.zip"


@dataclass
class Dataset:
    """Arrays ready for training. ``x`` may be a scipy sparse matrix (RCV1)."""

    name: str
    x_train: object
    y_train: np.ndarray
    x_val: object
    y_val: np.ndarray
    multilabel: bool
    backbone: str  # "cnn" or "mlp"

    @property
    def input_shape(self) -> tuple:
        return tuple(self.x_train.shape[1:])

    @property
    def n_outputs(self) -> int:
        return int(self.y_train.shape[1])


def _one_hot(labels: np.ndarray, n: int) -> np.ndarray:
    out = np.zeros((len(labels), n), dtype="float32")
    out[np.arange(len(labels)), labels] = 1.0
    return out


def _split(n: int, val_fraction: float, seed: int, labels=None):
    from sklearn.model_selection import train_test_split

    idx = np.arange(n)
    stratify = labels if labels is not None and np.bincount(labels).min() >= 2 else None
    train, val = train_test_split(idx, test_size=val_fraction, random_state=seed, stratify=stratify)
    return np.sort(train), np.sort(val)


# --------------------------------------------------------------------------- digits
def load_digits(seed: int = 0) -> Dataset:
    from sklearn.datasets import load_digits as sk_digits

    bunch = sk_digits()
    x = (bunch.images / 16.0).astype("float32")[..., None]
    labels = bunch.target.astype("int64")
    train, val = _split(len(x), 0.2, seed, labels)
    y = _one_hot(labels, 10)
    return Dataset("digits", x[train], y[train], x[val], y[val], False, "cnn")


# -------------------------------------------------------------------------- cifar10
def _cifar_from_batches(read) -> tuple:
    """``read(name)`` returns the bytes of one pickle of cifar-10-batches-py."""

    def batch(name):
        d = pickle.loads(read(name), encoding="bytes")
        data = np.asarray(d[b"data"], dtype="uint8").reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
        return data, np.asarray(d[b"labels"], dtype="int64")

    parts = [batch(f"data_batch_{i}") for i in range(1, 6)]
    x_train = np.concatenate([p[0] for p in parts])
    y_train = np.concatenate([p[1] for p in parts])
    x_test, y_test = batch("test_batch")
    return x_train, y_train, x_test, y_test


def _cifar_layout_error(where: str, missing: str) -> PernodeError:
    return PernodeError(
        f"CIFAR-10 not found in {where} ({missing}). Pass --data-dir pointing to the extracted "
        "'cifar-10-batches-py' folder (data_batch_1..5, test_batch), a folder holding it, or "
        "'cifar-10-python.tar.gz'."
    )


def read_cifar10(data_dir: str | os.PathLike) -> tuple:
    path = Path(data_dir)
    candidates = [path, path / "cifar-10-batches-py"]
    for folder in candidates:
        if (folder / "data_batch_1").is_file():

            def read(name, folder=folder):
                f = folder / name
                if not f.is_file():
                    raise _cifar_layout_error(str(path), f"missing {name}")
                return f.read_bytes()

            return _cifar_from_batches(read)
    tars = [path] if path.is_file() else [path / "cifar-10-python.tar.gz"]
    for tar_path in tars:
        if tar_path.is_file():
            try:
                with tarfile.open(tar_path) as tar:
                    members = {Path(m.name).name: m for m in tar.getmembers() if m.isfile()}

                    def read(name):
                        if name not in members:
                            raise _cifar_layout_error(str(tar_path), f"missing {name}")
                        return tar.extractfile(members[name]).read()

                    return _cifar_from_batches(read)
            except (tarfile.TarError, OSError, EOFError) as exc:
                raise PernodeError(f"Cannot read {tar_path} as a CIFAR-10 tar.gz ({exc}).") from None
    raise _cifar_layout_error(str(path), "no data_batch_1 or cifar-10-python.tar.gz")


def load_cifar10(data_dir=None) -> Dataset:
    if data_dir is not None:
        x_train, y_train, x_test, y_test = read_cifar10(data_dir)
    else:
        try:
            import keras

            (x_train, y_train), (x_test, y_test) = keras.datasets.cifar10.load_data()
        except Exception as exc:  # network or cache failure: say what to do instead
            raise PernodeError(
                f"Could not download CIFAR-10 ({type(exc).__name__}). Download "
                "cifar-10-python.tar.gz elsewhere and pass --data-dir DIR, where DIR holds the "
                "tar.gz or its extracted 'cifar-10-batches-py' folder."
            ) from None
        y_train, y_test = y_train.reshape(-1), y_test.reshape(-1)
    return Dataset(
        "cifar10",
        x_train.astype("float32") / 255.0,
        _one_hot(y_train, 10),
        x_test.astype("float32") / 255.0,
        _one_hot(y_test, 10),
        False,
        "cnn",
    )


# ------------------------------------------------------------------ speech commands
def _mel_filterbank(n_mels: int, n_fft: int, sr: int) -> np.ndarray:
    def hz_to_mel(f):
        return 2595.0 * np.log10(1.0 + f / 700.0)

    def mel_to_hz(m):
        return 700.0 * (10 ** (m / 2595.0) - 1.0)

    mels = np.linspace(hz_to_mel(0.0), hz_to_mel(sr / 2), n_mels + 2)
    hz = mel_to_hz(mels)
    bins = np.fft.rfftfreq(n_fft, 1.0 / sr)
    fb = np.zeros((n_mels, len(bins)), dtype="float64")
    for m in range(n_mels):
        lo, mid, hi = hz[m], hz[m + 1], hz[m + 2]
        up = (bins - lo) / (mid - lo)
        down = (hi - bins) / (hi - mid)
        fb[m] = np.maximum(0.0, np.minimum(up, down))
    return fb


def log_mel_spectrogram(wave: np.ndarray, sr: int = 16000, size: int = 128) -> np.ndarray:
    """A ``(size, size)`` log-mel spectrogram of one second of audio (mels x frames)."""
    from scipy.signal import stft

    wave = np.asarray(wave, dtype="float64")
    wave = np.pad(wave[:sr], (0, max(0, sr - len(wave))))
    n_fft, hop = 512, sr // size
    _, _, z = stft(wave, fs=sr, nperseg=n_fft, noverlap=n_fft - hop, boundary="even", padded=True)
    power = np.abs(z[:, :size]) ** 2
    mel = _mel_filterbank(size, n_fft, sr) @ power
    return np.log(mel + 1e-6).astype("float32")


def _read_wav(data: bytes) -> np.ndarray:
    from scipy.io import wavfile

    sr, wave = wavfile.read(io.BytesIO(data))
    if sr != 16000:
        raise PernodeError(f"Speech Commands wav files must be 16 kHz; found one at {sr} Hz.")
    if wave.dtype == np.int16:
        wave = wave.astype("float32") / 32768.0
    if wave.ndim > 1:
        wave = wave.mean(axis=1)
    return wave


def _speech_layout_error(where: str) -> PernodeError:
    return PernodeError(
        f"Mini Speech Commands not found in {where}. Pass --data-dir pointing to the extracted "
        "'mini_speech_commands' folder (one sub-folder of .wav files per word), a folder "
        "holding it, or 'mini_speech_commands.zip'."
    )


def _is_audio(name: str) -> bool:
    # macOS archives carry "__MACOSX/" folders and "._*" resource forks that are not audio.
    return name.endswith(".wav") and "__MACOSX" not in name and not Path(name).name.startswith("._")


def _speech_sources(root: Path):
    """Return (list of (word, name, reader)), cache folder) for a folder or a zip."""
    for folder in (root, root / "mini_speech_commands"):
        if folder.is_dir():
            words = sorted(
                d.name for d in folder.iterdir() if d.is_dir() and any(_is_audio(str(f)) for f in d.glob("*.wav"))
            )
            if words:
                items = [
                    (w, f.name, f.read_bytes)
                    for w in words
                    for f in sorted((folder / w).glob("*.wav"))
                    if _is_audio(str(f))
                ]
                return items, folder
    zip_path = root if root.is_file() else root / "mini_speech_commands.zip"
    if zip_path.is_file():
        try:
            archive = zipfile.ZipFile(zip_path)
        except zipfile.BadZipFile:
            raise PernodeError(f"Cannot read {zip_path} as a zip file.") from None
        items = []
        for name in sorted(archive.namelist()):
            parts = Path(name).parts
            if _is_audio(name) and len(parts) >= 2:
                items.append((parts[-2], parts[-1], lambda n=name: archive.read(n)))
        if items:
            return items, zip_path.parent
    raise _speech_layout_error(str(root))


def speech_spectrograms(data_dir) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Spectrograms of every wav file, cached in a .npz next to the data."""
    items, cache_dir = _speech_sources(Path(data_dir))
    words = sorted({w for w, _, _ in items})
    key = hashlib.sha1("\n".join(f"{w}/{n}" for w, n, _ in items).encode()).hexdigest()[:12]
    cache = cache_dir / f"pernode_spectrograms_128_{key}.npz"
    if cache.is_file():
        with np.load(cache) as f:
            return f["x"].astype("float32"), f["y"], words
    x = np.stack([log_mel_spectrogram(_read_wav(read())) for _, _, read in items])
    y = np.array([words.index(w) for w, _, _ in items], dtype="int64")
    tmp = cache.with_suffix(".tmp.npz")
    try:
        np.savez(tmp, x=x.astype("float16"), y=y)
        os.replace(tmp, cache)
    except OSError:
        pass  # a read-only data folder: the next run recomputes
    return x.astype("float16").astype("float32"), y, words


def load_speech_commands(data_dir=None, seed: int = 0) -> Dataset:
    if data_dir is None:
        try:
            import keras

            zip_path = keras.utils.get_file("mini_speech_commands.zip", SPEECH_URL, extract=True)
        except Exception as exc:
            raise PernodeError(
                f"Could not download Mini Speech Commands ({type(exc).__name__}). Download "
                "mini_speech_commands.zip elsewhere and pass --data-dir DIR, where DIR holds the "
                "zip or its extracted 'mini_speech_commands' folder."
            ) from None
        data_dir = Path(zip_path).parent
        extracted = [p for p in data_dir.rglob("mini_speech_commands") if p.is_dir() and "__MACOSX" not in str(p)]
        data_dir = extracted[0] if extracted else data_dir
    x, labels, words = speech_spectrograms(data_dir)
    train, val = _split(len(x), 0.3, seed, labels)
    # Standardise with the training split's statistics only.
    mean, std = float(x[train].mean()), float(x[train].std()) or 1.0
    x = ((x - mean) / std)[..., None]
    y = _one_hot(labels, len(words))
    return Dataset("speech_commands", x[train], y[train], x[val], y[val], False, "cnn")


# --------------------------------------------------------------------------------- rcv1
def load_rcv1(data_dir=None, seed: int = 0, top: int = 25) -> Dataset:
    from scipy import sparse
    from sklearn.datasets import fetch_rcv1

    try:
        bunch = fetch_rcv1(
            data_home=None if data_dir is None else str(data_dir),
            subset="train",
            download_if_missing=data_dir is None,
        )
    except (OSError, EOFError, ValueError) as exc:
        where = "the default scikit-learn data home" if data_dir is None else str(data_dir)
        raise PernodeError(
            f"RCV1 not available in {where} ({type(exc).__name__}). Pass --data-dir DIR where "
            "DIR is a scikit-learn data home holding RCV1/samples_py3.pkl, sample_id_py3.pkl, "
            "sample_topics_py3.pkl and topics_names_py3.pkl (what fetch_rcv1 writes)."
        ) from None
    x = sparse.csr_matrix(bunch.data, dtype="float32")
    targets = sparse.csr_matrix(bunch.target)
    counts = np.asarray(targets.sum(axis=0)).ravel()
    keep = np.sort(np.argsort(-counts, kind="stable")[:top])
    y = targets[:, keep].toarray().astype("float32")
    train, val = _split(x.shape[0], 0.2, seed)
    return Dataset("rcv1", x[train], y[train], x[val], y[val], True, "mlp")


# ---------------------------------------------------------------------------------- npz
NPZ_KEYS = ("x_train", "y_train", "x_val", "y_val")


def _npz_targets(y: np.ndarray, name: str, n_classes: int | None):
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
    yt, ml_t = _npz_targets(yt, "y_train", None)
    yv, ml_v = _npz_targets(yv, "y_val", None)
    if yt.ndim == 1:
        if yv.ndim != 1:
            raise PernodeError("y_train and y_val must both be labels or both be 2-D.")
        n = int(max(yt.max(), yv.max())) + 1
        yt, yv = _one_hot(yt, n), _one_hot(yv, n)
    elif yv.ndim != 2 or yt.shape[1] != yv.shape[1]:
        raise PernodeError(f"y_train and y_val widths differ: {yt.shape} vs {yv.shape}.")
    xt, xv = xt.astype("float32"), xv.astype("float32")
    if not (np.isfinite(xt).all() and np.isfinite(xv).all()):
        raise PernodeError(f"{path} holds NaN or infinite values in x_train or x_val.")
    if xt.ndim == 3:  # (n, h, w): add a channel axis for the CNN
        xt, xv = xt[..., None], xv[..., None]
    backbone = "mlp" if xt.ndim == 2 else "cnn"
    return Dataset(path.stem, xt, yt, xv, yv, bool(ml_t or ml_v), backbone)


def load_dataset(name: str, data_dir=None, seed: int = 0) -> Dataset:
    """Load a data set by name, or an .npz file by path."""
    if data_dir is not None and not Path(data_dir).exists():
        raise PernodeError(f"--data-dir {data_dir} does not exist.")
    if name == "digits":
        return load_digits(seed)
    if name == "cifar10":
        return load_cifar10(data_dir)
    if name == "speech_commands":
        return load_speech_commands(data_dir, seed)
    if name == "rcv1":
        return load_rcv1(data_dir, seed)
    if name.endswith(".npz") or Path(name).is_file():
        if not Path(name).is_file():
            raise PernodeError(f"Data file {name} does not exist.")
        return load_npz(name)
    raise PernodeError(
        f"Unknown data set {name!r}. Use one of {', '.join(DATASETS)}, or a path to an .npz "
        "file holding x_train, y_train, x_val, y_val."
    )
