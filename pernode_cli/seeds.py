"""Layer seeds derived from a run seed: far apart for every pair of run seeds, on every backend.

Keras 3.15 keeps a ``SeedGenerator``'s state as ``[seed, counter]`` and its PyTorch backend
seeds the generator of each draw with ``(seed + counter) mod 2**32``
(``keras/src/backend/torch/random.py``). A layer built with seed ``s + 1`` therefore draws,
on its ``n``-th call, exactly the noise that a layer with seed ``s`` draws on its
``(n + 1)``-th: runs of consecutive seeds would share one noise stream, shifted by one call.
(JAX and TensorFlow use ``[seed, counter]`` as a two-word key, where this does not happen.)

``layer_seed(run_seed, role)`` maps a run seed and a role (which random layer of the model
the seed is for) through SplitMix64 (Steele, Lea and Flood 2014; the finaliser of Java's
``SplittableRandom``) to a 31-bit seed. SplitMix64's finaliser is a bijection of 64-bit
integers with full avalanche, so the seeds of distinct (run seed, role) pairs behave like
independent uniform draws from ``[0, 2**31)``, whatever the pattern of the run seeds
(consecutive, multiples of ten, ...).

Why an overlap is negligible: a layer whose mixed seed is ``S`` uses the generator seeds
``S, S + 1, ..., S + N - 1`` on the PyTorch backend over ``N`` random draws (one or two per
training step: pernode's samplers draw their per-chunk seeds, or their words, in one call
and, for ``partial_reparam``, one normal draw per output). Two such layers share any draw
only if ``|S - S'| < N``, which for independent uniform 31-bit seeds has probability at most
``(2N - 1) / 2**31``. A CIFAR-10 run of 20 epochs at batch 128 makes about ``N = 16,000``
draws: ``1.5e-5`` for a pair of runs, ``0.7%`` that any of the 435 pairs among 30 seeds of
one variant overlaps at all (and an overlap shares only the calls that coincide). On JAX and
TensorFlow two layers share a draw only if their mixed seeds are equal: ``2**-31`` a pair.
Seeds are 31-bit because the PyTorch backend stores the state as ``int32``.
"""

from __future__ import annotations

import zlib

MASK64 = (1 << 64) - 1
SEED_BITS = 31


def splitmix64(x: int) -> int:
    """One step of SplitMix64: the state ``x`` advanced by the golden gamma, then finalised.

    ``splitmix64(0) == 0xE220A8397B1DCDAF``, the first output of the reference generator
    seeded with 0.
    """
    z = (int(x) + 0x9E3779B97F4A7C15) & MASK64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
    return z ^ (z >> 31)


def role_code(role: str) -> int:
    """A fixed 32-bit code of a role name (CRC-32 of its UTF-8 bytes): stable across
    processes and Python versions, unlike ``hash``."""
    if not isinstance(role, str) or not role:
        raise ValueError(
            f"Invalid value received for argument `role`. Expected a non-empty str. Received: role={role!r}"
        )
    return zlib.crc32(role.encode("utf-8"))


def layer_seed(run_seed, role: str = "module"):
    """The seed of the random layer playing ``role`` in a run seeded with ``run_seed``.

    ``splitmix64(splitmix64(run_seed) ^ (role_code(role) << 32))`` reduced to its top 31
    bits: an int in ``[0, 2**31)``. ``None`` stays ``None`` (Keras then draws a seed).
    Distinct roles of one run, and one role of distinct runs, get unrelated seeds.
    """
    if run_seed is None:
        return None
    if isinstance(run_seed, bool) or not isinstance(run_seed, int) or run_seed < 0:
        raise ValueError(
            "Invalid value received for argument `run_seed`. Expected None or a non-negative int. "
            f"Received: run_seed={run_seed!r}"
        )
    z = splitmix64(splitmix64(run_seed & MASK64) ^ (role_code(role) << 32))
    return z >> (64 - SEED_BITS)


def overlap_bound(draws: int) -> float:
    """Upper bound on the probability that two layers with independently mixed seeds share a
    generator seed within ``draws`` draws each on the PyTorch backend: ``(2N - 1) / 2**31``."""
    return min(1.0, (2 * int(draws) - 1) / 2**SEED_BITS)
