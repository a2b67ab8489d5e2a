"""RCV1-v2: scikit-learn's train subset, TF-IDF features kept sparse, top categories as labels."""

from __future__ import annotations

import numpy as np

from pernode_cli.data.common import Dataset, split3, split_text
from pernode_cli.errors import PernodeError

def load_rcv1(data_dir=None, seed: int = 0, top: int = 25) -> Dataset:
    from scipy import sparse
    from sklearn.datasets import fetch_rcv1

    try:
        bunch = fetch_rcv1(
            data_home=None if data_dir is None else str(data_dir),
            subset="train",
            download_if_missing=data_dir is None,
        )
    except Exception as exc:  # a missing copy, or any corruption of its pickles
        where = "the default scikit-learn data home" if data_dir is None else str(data_dir)
        raise PernodeError(
            f"RCV1 not available or unreadable in {where} ({type(exc).__name__}). Give `data_dir`: "
            "a scikit-learn data home holding RCV1/samples_py3.pkl, sample_id_py3.pkl, "
            "sample_topics_py3.pkl and topics_names_py3.pkl (what fetch_rcv1 writes)."
        ) from None
    x = sparse.csr_matrix(bunch.data, dtype="float32")
    targets = sparse.csr_matrix(bunch.target)
    counts = np.asarray(targets.sum(axis=0)).ravel()
    keep = np.sort(np.argsort(-counts, kind="stable")[:top])
    y = targets[:, keep].toarray().astype("float32")
    train, val, test = split3(x.shape[0], 0.1, 0.1, seed)
    return Dataset("rcv1", x[train], y[train], x[val], y[val], True, "mlp", x[test], y[test],
                   split_text(len(train), len(val), len(test), "random", seed))
