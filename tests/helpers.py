"""Small statistical helpers shared by the layer tests."""

import numpy as np


def assert_mean_close(samples, target, n_se=5.0):
    """Sample mean over axis 0 equals ``target`` within ``n_se`` standard errors."""
    samples = np.asarray(samples, dtype="float64")
    se = samples.std(axis=0, ddof=1) / np.sqrt(samples.shape[0])
    diff = np.abs(samples.mean(axis=0) - target)
    assert np.all(diff <= n_se * se + 1e-9), (diff, se)


def assert_variance_close(samples, target, n_se=5.0):
    """Sample variance over axis 0 equals ``target`` within ``n_se`` standard errors.

    The standard error of a sample variance is ``sqrt((m4 - s^4) / n)``, with the fourth
    central moment ``m4`` estimated from the same samples.
    """
    samples = np.asarray(samples, dtype="float64")
    n = samples.shape[0]
    centred = samples - samples.mean(axis=0)
    var = (centred**2).mean(axis=0)
    m4 = (centred**4).mean(axis=0)
    se = np.sqrt(np.maximum(m4 - var**2, 0) / n)
    diff = np.abs(var - target)
    assert np.all(diff <= n_se * se), (var, target, se)


def assert_uncorrelated(a, b, n_se=5.0):
    """Pearson correlation of two sample vectors is within ``n_se / sqrt(n)`` of zero."""
    a = np.asarray(a, dtype="float64")
    b = np.asarray(b, dtype="float64")
    r = np.corrcoef(a, b)[0, 1]
    assert abs(r) <= n_se / np.sqrt(len(a)), r
