"""The real loaders run on tiny files written in each real format."""

import pickle
import tarfile
import zipfile

import joblib
import numpy as np
import pytest
from scipy import sparse
from scipy.io import wavfile

from pernode_cli.data import load_dataset
from pernode_cli.data.cifar10 import load_cifar10
from pernode_cli.data.npz import load_npz
from pernode_cli.data.rcv1 import load_rcv1
from pernode_cli.data.speech_commands import load_speech_commands, log_mel_spectrogram
from pernode_cli.errors import PernodeError


def _write_cifar(folder, n=4):
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        data = rng.integers(0, 256, size=(n, 3072), dtype=np.uint8)
        labels = list(rng.integers(0, 10, size=n))
        with open(folder / name, "wb") as f:
            pickle.dump({b"data": data, b"labels": labels}, f)
    return folder


def test_cifar_folder_and_tar(tmp_path):
    folder = _write_cifar(tmp_path / "cifar-10-batches-py")
    raw = pickle.loads((folder / "data_batch_1").read_bytes(), encoding="bytes")
    for source in (folder, tmp_path):
        data = load_cifar10(source)
        # The official test batch is the test split; validation is a seeded 10% of the training images.
        assert data.x_train.shape == (18, 32, 32, 3) and data.x_val.shape == (2, 32, 32, 3)
        assert data.x_test.shape == (4, 32, 32, 3) and "official test split" in data.split
        # Channel-first rows become HWC images scaled to [0, 1].
        whole = np.concatenate([data.x_train, data.x_val])
        first = raw[b"data"][0, 1024:2048].reshape(32, 32) / 255.0
        assert any(np.allclose(img[:, :, 1], first) for img in whole)
    tar_dir = tmp_path / "tar"
    tar_dir.mkdir()
    with tarfile.open(tar_dir / "cifar-10-python.tar.gz", "w:gz") as tar:
        tar.add(folder, arcname="cifar-10-batches-py")
    from_tar = load_cifar10(tar_dir)
    np.testing.assert_array_equal(from_tar.x_train, load_cifar10(folder).x_train)


def test_cifar_missing_copy_says_what_to_pass(tmp_path):
    with pytest.raises(PernodeError, match="cifar-10-batches-py"):
        load_cifar10(tmp_path)


def _write_speech(root, per_word=3, words=("down", "go", "yes")):
    rng = np.random.default_rng(1)
    for w in words:
        (root / w).mkdir(parents=True)
        for i in range(per_word):
            t = np.arange(16000) / 16000
            wave = 0.3 * np.sin(2 * np.pi * (300 + 200 * words.index(w)) * t) + 0.01 * rng.normal(size=16000)
            wavfile.write(root / w / f"{i:04d}_nohash_0.wav", 16000, (wave * 32767).astype(np.int16))
    return root


def test_speech_folder_zip_and_cache(tmp_path):
    root = _write_speech(tmp_path / "mini_speech_commands")
    data = load_speech_commands(tmp_path, seed=0)
    assert data.x_train.shape[1:] == (128, 128, 1)
    assert data.x_train.shape[0] + data.x_val.shape[0] + data.x_test.shape[0] == 9
    assert data.n_outputs == 3
    # Standardised with the training split's statistics.
    assert abs(data.x_train.mean()) < 1e-2 and abs(data.x_train.std() - 1) < 1e-2
    caches = list(root.glob("pernode_spectrograms_*.npz"))
    assert len(caches) == 1
    # A second run reads the cache, and gives the same arrays.
    np.testing.assert_array_equal(load_speech_commands(tmp_path, seed=0).x_train, data.x_train)
    zdir = tmp_path / "z"
    zdir.mkdir()
    with zipfile.ZipFile(zdir / "mini_speech_commands.zip", "w") as z:
        for f in sorted(root.rglob("*.wav")):
            z.write(f, f"mini_speech_commands/{f.parent.name}/{f.name}")
            # macOS resource forks, as such archives often carry: not audio, must be skipped
            z.writestr(f"__MACOSX/mini_speech_commands/{f.parent.name}/._{f.name}", b"\x00\x05junk")
    np.testing.assert_allclose(load_speech_commands(zdir, seed=0).x_train, data.x_train, atol=1e-5)


def test_spectrogram_puts_a_tone_in_the_right_band():
    t = np.arange(16000) / 16000
    low = log_mel_spectrogram(np.sin(2 * np.pi * 200 * t))
    high = log_mel_spectrogram(np.sin(2 * np.pi * 4000 * t))
    assert low.shape == (128, 128)
    assert low.mean(axis=1).argmax() < high.mean(axis=1).argmax()


def test_speech_missing_copy(tmp_path):
    with pytest.raises(PernodeError, match="mini_speech_commands"):
        load_speech_commands(tmp_path)


def _write_rcv1(home, n=40, features=50, topics=30):
    d = home / "RCV1"
    d.mkdir(parents=True)
    rng = np.random.default_rng(2)
    x = sparse.random(n, features, density=0.1, format="csr", random_state=3, dtype=np.float64)
    y = (rng.random((n, topics)) < np.linspace(0.9, 0.05, topics)).astype(np.uint8)
    joblib.dump(x, d / "samples_py3.pkl")
    joblib.dump(np.arange(n, dtype=np.uint32), d / "sample_id_py3.pkl")
    joblib.dump(sparse.csr_matrix(y), d / "sample_topics_py3.pkl")
    joblib.dump(np.array([f"T{i}" for i in range(topics)], dtype=object), d / "topics_names_py3.pkl")
    return x, y


def test_rcv1_cache_format_top_categories(tmp_path):
    x, y = _write_rcv1(tmp_path)
    data = load_rcv1(tmp_path, seed=0)
    assert sparse.issparse(data.x_train) and data.multilabel and data.backbone == "mlp"
    assert data.n_outputs == 25
    assert data.x_train.shape[0] == 32 and data.x_val.shape[0] == 4 and data.x_test.shape[0] == 4
    top = np.sort(np.argsort(-y.sum(axis=0), kind="stable")[:25])
    assert data.y_train.sum() + data.y_val.sum() + data.y_test.sum() == y[:, top].sum()


def test_rcv1_missing(tmp_path):
    with pytest.raises(PernodeError, match="RCV1"):
        load_rcv1(tmp_path)


def test_npz_labels_onehot_multilabel(tmp_path):
    rng = np.random.default_rng(4)
    p = tmp_path / "flat.npz"
    np.savez(p, x_train=rng.normal(size=(20, 6)), y_train=rng.integers(0, 3, 20), x_val=rng.normal(size=(5, 6)),
             y_val=rng.integers(0, 3, 5))
    data = load_npz(p)
    assert data.backbone == "mlp" and not data.multilabel and data.n_outputs == 3
    p2 = tmp_path / "img.npz"
    multi = (rng.random((20, 4)) < 0.5).astype(int)
    multi[0] = [1, 1, 0, 0]
    np.savez(p2, x_train=rng.normal(size=(20, 8, 8)), y_train=multi, x_val=rng.normal(size=(5, 8, 8)), y_val=multi[:5])
    data = load_npz(p2)
    assert data.backbone == "cnn" and data.multilabel and data.input_shape == (8, 8, 1)


@pytest.mark.parametrize(
    "arrays, message",
    [
        ({"x_train": np.zeros((4, 3)), "y_train": np.zeros(4, int)}, "lacks x_val, y_val"),
        ({"x_train": np.zeros((4, 3)), "y_train": np.zeros(3, int), "x_val": np.zeros((2, 3)),
          "y_val": np.zeros(2, int)}, "lengths differ"),
        ({"x_train": np.zeros((4, 3)), "y_train": np.zeros(4, int), "x_val": np.zeros((2, 5)),
          "y_val": np.zeros(2, int)}, "shapes differ"),
        ({"x_train": np.zeros(4), "y_train": np.zeros(4, int), "x_val": np.zeros(2),
          "y_val": np.zeros(2, int)}, "must be numeric with shape"),
        ({"x_train": np.zeros((4, 3)), "y_train": np.full((4, 2), 0.5), "x_val": np.zeros((2, 3)),
          "y_val": np.zeros((2, 2))}, "one-hot or multi-hot"),
    ],
)
def test_npz_bad_shapes(tmp_path, arrays, message):
    p = tmp_path / "bad.npz"
    np.savez(p, **arrays)
    with pytest.raises(PernodeError, match=message):
        load_npz(p)


def test_npz_unreadable_and_unknown_name(tmp_path):
    p = tmp_path / "junk.npz"
    p.write_text("not a zip")
    with pytest.raises(PernodeError, match="Cannot read"):
        load_npz(p)
    with pytest.raises(PernodeError, match="Unknown data set 'mnist'"):
        load_dataset("mnist")
