"""Exact Bernoulli decisions from few random bits: up to 15-bit thresholds, several per word.

A keep decision compares a uniform ``b``-bit field with an integer threshold ``t``, so it
keeps with probability ``t / 2**b`` exactly: the *realised* keep probability, the multiple
of ``2**-15`` nearest to ``1 - rate`` (at least ``2**-15``). Layers scale kept entries by the
inverse of that realised probability, so ``E[m] = 1`` holds exactly, and report
``realised_rate(rate)``, within ``2**-16`` (1.5e-5) of the requested rate (rates above
``1 - 2**-16`` realise ``1 - 2**-15``).

Random words come from ``keras.random.randint(shape, -2**30, 2**30, "int32")``: a range of
``2**31`` values, which every backend draws exactly (TensorFlow's modulo and JAX's
two-word reduction are exact for power-of-two ranges), so ``u = word + 2**30`` has 31
uniform, independent bits. A word is cut into ``k = 31 // b`` disjoint ``b``-bit fields, one
decision each: the top field (bits ``31-b .. 30`` of ``u``) by a single signed compare of
the word, ``word < t * 2**(31-b) - 2**30``; field ``f`` of the low bits by an AND and a
compare, ``word & ((2**b - 1) << f*b) < t << f*b``. Only element-wise ops with scalar
constants are used (no broadcasting), the cheap case on every backend.

``b`` is the fewest bits that express the 15-bit threshold exactly (rate 0.3 keeps with
``22938 / 2**15 = 11469 / 2**14``: 14 bits, two decisions per word; rate 0.5 keeps with
``1 / 2``: one bit, 31 decisions per word), so the distribution does not depend on ``b``,
and random words, the costly part, are drawn for ``1 / k`` of the entries.

Why ``b`` bits per decision is the floor for masks of a fixed shape. Any computation whose
tensor shapes do not depend on the random values (what ``jit``, XLA and graph mode compile)
is a fixed function of a fixed number ``B`` of uniform random bits, so every outcome has a
probability that is a multiple of ``2**-B``. For ``K`` i.i.d. decisions with keep
probability ``t / 2**b``, ``t`` odd, the outcome "all kept" has probability
``t**K / 2**(b K)`` with an odd numerator, hence ``B >= b K``: at least ``b`` bits per
decision, which ``k = 31 // b`` fields per word attain up to the word's spare bits (for
``b = 14``: 28 of 31 bits used). Comparing a uniform bit stream with the threshold's binary
expansion bit by bit needs only 2 bits per decision *on average*, but how many bits a
decision takes is random, so spending fewer than ``b`` needs shapes that depend on the
draws: compacting the undecided entries (a prefix sum and a gather over every entry), or a
loop until all are decided. Compaction could save at most about a third of a random word a
decision (from 1/2 to about 1/6), but on the 2-core CPU the prefix sum and the gather
together cost more per entry than that on every backend: as much as 1.6 random words on
TensorFlow, 0.5 on JAX and 3 on PyTorch (eager ops, ``benchmarks/bernoulli_speed.py
--primitives``, ``benchmarks/RESULTS.md``), so the exact path here stays the fixed-shape
one. A cheaper mask needs fewer threshold bits (a coarser realised rate), not a cleverer
exact construction.

``bernoulli_drop`` gives the complements of keep decisions (``field >= t``): true with
probability ``realised_rate(rate)``, from the same words at the same cost. The
partial-Gaussian stir and sampler choose their perturbed connections with it.
"""

from __future__ import annotations

import math

import keras
from keras import ops

from pernode_cli.argchecks import check_positive_int
from pernode_cli.layers.checks import validate_rate

THRESHOLD_BITS = 15
WORD_MIN, WORD_MAX = -(2**30), 2**30  # randint's range: 2**31 values
_WORD_BITS = 31  # uniform bits per word


def keep_threshold(rate, bits=THRESHOLD_BITS) -> int:
    """The integer threshold ``t``: keep when a uniform ``bits``-bit field is below ``t``.

    ``t = max(1, floor((1 - rate) * 2**bits + 1/2))``: the nearest multiple of ``2**-bits``
    (halves rounded up), never 0 since ``rate < 1``.
    """
    rate = validate_rate(rate)
    bits = check_positive_int("bits", bits)
    return max(1, math.floor((1.0 - rate) * 2**bits + 0.5))


def realised_keep(rate, bits=THRESHOLD_BITS) -> float:
    """The keep probability a ``bits``-bit threshold realises for ``rate``: ``t / 2**bits``."""
    return keep_threshold(rate, bits) / 2**bits


def realised_rate(rate, bits=THRESHOLD_BITS) -> float:
    """The drop probability a ``bits``-bit threshold realises: ``1 - t / 2**bits``.

    ``realised_rate(0.3) == 1 - 22938 / 32768 == 0.29998779296875``; rates that are
    multiples of ``2**-bits`` (0, 0.25, 0.5, ...) are realised exactly.
    """
    return 1.0 - realised_keep(rate, bits)


def random_words(shape, seed_generator):
    """Int32 words with 31 uniform random bits (values in ``[-2**30, 2**30)``)."""
    return keras.random.randint(shape, WORD_MIN, WORD_MAX, dtype="int32", seed=seed_generator)


def field_threshold(rate):
    """``(b, t)``: the fewest bits ``b`` and threshold ``t`` with ``t / 2**b`` the realised
    keep probability (``t / 2**b == realised_keep(rate)``)."""
    t, bits = keep_threshold(rate), THRESHOLD_BITS
    while bits > 1 and t % 2 == 0:
        t, bits = t // 2, bits - 1
    return bits, t


def decisions_per_word(rate) -> int:
    """``k = 31 // b``: keep decisions cut from one random word at this rate."""
    return _WORD_BITS // field_threshold(rate)[0]


def split_decisions(words, rate, k=None, drop=False):
    """The first ``k`` (default: all) keep decisions of every word, as a list of ``k``
    boolean tensors shaped like ``words``, each true with probability ``realised_keep(rate)``
    and independent of the others; with ``drop=True`` their complements (true with
    probability ``realised_rate(rate)``), at the same cost."""
    bits, t = field_threshold(rate)
    k = _WORD_BITS // bits if k is None else k
    compare = ops.greater_equal if drop else ops.less
    out = [compare(words, t * 2 ** (_WORD_BITS - bits) + WORD_MIN)]  # top field
    for f in range(k - 1):  # low fields
        field = (2**bits - 1) << (f * bits)
        out.append(compare(ops.bitwise_and(words, field), t << (f * bits)))
    return out


def words_along(n: int, k: int) -> int:
    """Words drawn for ``n`` decisions at ``k`` a word: ``ceil(n / k)``, or, where words are
    cheap beside the mask (``k >= 4``), the smallest divisor of ``n`` up to twice that, so
    the fields fill ``n`` exactly and the mask needs no slice afterwards (8 words of 16
    decisions for 128 entries at rate 0.5, not 5 of 26 and a cut)."""
    m = -(-n // k)
    top = 2 * m if k >= 4 else m
    return next((d for d in range(m, top + 1) if n % d == 0), m)


def bernoulli_keep(shape, rate, seed_generator, drop=False):
    """Boolean mask of ``shape``, i.i.d. true with probability ``realised_keep(rate)``
    (``realised_rate(rate)`` with ``drop=True``).

    Packs along axis -2 (the input axis of kernel-shaped masks; axis -1 for rank 1): with
    ``k = decisions_per_word(rate)`` and ``n`` entries on that axis, ``m`` words are drawn
    along it (``words_along(n, k)``), and decision ``f`` of word ``r`` fills entry
    ``f * m + r``. Any ``n`` works: at most ``m - 1`` decisions of the last fields are cut
    off, so no input needs padding.
    """
    axis = len(shape) - 2 if len(shape) >= 2 else 0
    n = shape[axis]
    m = words_along(n, decisions_per_word(rate))
    used = -(-n // m)  # decisions in use
    words = random_words(tuple(shape[:axis]) + (m,) + tuple(shape[axis + 1 :]), seed_generator)
    parts = split_decisions(words, rate, used, drop=drop)
    keep = parts[0] if len(parts) == 1 else ops.concatenate(parts, axis=axis)
    if used * m == n:
        return keep
    return keep[..., :n, :] if axis == len(shape) - 2 else keep[:n]


def bernoulli_drop(shape, rate, seed_generator):
    """Boolean mask of ``shape``, i.i.d. true with probability ``realised_rate(rate)``: the
    complement of ``bernoulli_keep`` for the same words."""
    return bernoulli_keep(shape, rate, seed_generator, drop=True)
