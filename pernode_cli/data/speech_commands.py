"""Mini Speech Commands: 128x128 log-mel spectrograms of the wav folders, cached beside them."""

from __future__ import annotations

import hashlib
import io
import os
import zipfile
from pathlib import Path

import numpy as np

from pernode_cli.data.common import Dataset, one_hot, split3, split_text
from pernode_cli.errors import PernodeError

SPEECH_URL = "http://storage.googleapis.com/download.tensorflow.org/data/mini_speech_commands.zip"

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
        f"Mini Speech Commands not found in {where}. Point `data_dir` at the extracted "
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
                "mini_speech_commands.zip elsewhere and give `data_dir`: the folder holding the "
                "zip or its extracted 'mini_speech_commands' folder."
            ) from None
        data_dir = Path(zip_path).parent
        extracted = [p for p in data_dir.rglob("mini_speech_commands") if p.is_dir() and "__MACOSX" not in str(p)]
        data_dir = extracted[0] if extracted else data_dir
    x, labels, words = speech_spectrograms(data_dir)
    train, val, test = split3(len(x), 0.15, 0.15, seed, labels)
    # Standardise with the training split's statistics only.
    mean, std = float(x[train].mean()), float(x[train].std()) or 1.0
    x = ((x - mean) / std)[..., None]
    y = one_hot(labels, len(words))
    return Dataset("speech_commands", x[train], y[train], x[val], y[val], False, "cnn", x[test], y[test],
                   split_text(len(train), len(val), len(test), "stratified", seed))
