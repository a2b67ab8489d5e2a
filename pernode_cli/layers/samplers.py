"""Samplers: ways of computing ``y[b, j] = sum_i x[b, i] m[b, i, j] W[i, j]`` for a fresh mask.

Each sampler is a pure function ``fn(x, kernel, rate, stir_fn, seed_generator)`` taking a
rank-2 ``x`` of shape ``(batch, d_in)`` and returning ``(batch, units)``. All of them are
exact: the output has the distribution of the materialised-mask reference.

- ``reference``: materialise the ``(batch, d_in, units)`` mask, contract with einsum.
- ``local_reparam`` (Gaussian stir): the sum of independent Gaussian terms is Gaussian,
  ``N(x @ W, v (x*x) @ (W*W))`` with ``v = rate / (1 - rate)``, independent over samples
  and units (Kingma, Salimans, Welling 2015). Two matmuls, no mask.
- ``partial_reparam`` (partial-Gaussian stir): given which connections are perturbed
  (``c ~ Bernoulli(r)``, ``r = realised_rate(rate)``), the noise is Gaussian with variance
  ``sum_i c x^2 W^2 / (1 - r)``. Only the binary choice is sampled per connection, from the
  Bernoulli stir's packed integer thresholds (``bits.bernoulli_drop``: several decisions per
  random word, applied with ``where``, no float mask), chunked as below or materialised at
  once where that is faster (``materialise``); one normal per output replaces ``d_in`` of
  them.
- ``fused`` (Bernoulli and partial-Gaussian stirs): one C kernel on the CPU
  (``pernode_cli.layers.fused``) regenerates the keep decisions in registers in every pass
  from a per-call key drawn from the layer's generator, from the same packed integer
  thresholds (keep with probability ``realised_keep(rate)`` exactly), and contracts with them
  directly: no mask in memory, forward and backward. The partial-Gaussian stir contracts
  ``x*x`` with ``W*W`` over the perturbed connections (the complement) as ``partial_reparam``
  does, then adds one normal per output. Needs the optional extension (``fused.available()``);
  where it is missing, ``fused`` resolves to what ``auto`` would take without it.
- ``chunked``: any stir; the mask is drawn ``d_in`` chunk by chunk in a loop, each chunk
  from its own per-call seed, and drawn again from the same seeds in the backward pass
  (custom gradient), so no ``(batch, d_in, units)`` tensor is kept between the passes and
  only one chunk is live under ``jit`` (``pernode_cli.layers.chunked``). The Bernoulli stir
  takes a fused path: boolean keep decisions from integer thresholds on at most 15 random
  bits, ``31 // b`` of them per random word (``pernode_cli.layers.bits``), applied with
  ``where`` to the kernel pre-scaled by the realised keep probability; no float mask.

``auto`` picks, per stir, the fastest exact sampler measured on the running backend at the
layer's width (``AUTO_REFERENCE_ELEMENTS``; ``benchmarks/sampler_choice.py`` measures it):
``fused`` for the Bernoulli and partial-Gaussian stirs where the kernel is built and the
backend computes on the CPU (``AUTO_FUSED``; ``benchmarks/bernoulli_speed.py``), else
``local_reparam`` for Gaussian, ``partial_reparam`` for partial-Gaussian, and for the
Bernoulli stir and registered stirs ``reference`` while the mask of a batch of 128 has at
most the backend's number of elements, ``chunked`` above it (and for an unknown width).
``partial_reparam`` applies the same rule to its own choice mask.

The variance path of the two reparameterised samplers (squares, variance contraction,
square root) runs in float32 whatever the compute dtype, so ``mixed_float16`` neither
overflows nor underflows it; a non-finite variance gives a non-finite output.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Optional

import keras
from keras import ops

from pernode_cli.layers import chunked
from pernode_cli.layers.bits import bernoulli_drop, bernoulli_keep, decisions_per_word, random_words, realised_keep
from pernode_cli.argchecks import invalid
from pernode_cli.registries import Registry, check_entry_name
from pernode_cli.layers.stirs import bernoulli_stir, partial_gaussian_stir


def _sqrt(variance):
    """sqrt with a finite gradient at exact zeros (no noise there); NaN and inf pass through."""
    zero = ops.equal(variance, 0)
    safe = ops.where(zero, ops.ones_like(variance), variance)
    return ops.where(zero, ops.zeros_like(variance), ops.sqrt(safe))


def _add_noise(mean, variance, seed_generator):
    """``mean + sqrt(variance) * eps`` with ``eps ~ N(0, 1)``; the noise is formed in float32."""
    eps = keras.random.normal(ops.shape(mean), seed=seed_generator, dtype="float32")
    return mean + ops.cast(_sqrt(variance) * eps, mean.dtype)


def _float32(*tensors):
    return [ops.cast(t, "float32") for t in tensors]


# Largest mask of a batch of `chunked.BATCH_HINT` (128 * d_in * units elements) for which
# materialising it at once was faster than the chunk loop, per backend, in
# `benchmarks/sampler_choice.py` on the 2-core CPU (a full training step of the module;
# benchmarks/RESULTS.md). Larger masks, other backends and unknown widths take the chunk
# loop. The rule looks at the layer's width only, not at the batch of a call, so the sampler
# that logs record is the one that runs.
# Measured 2026-12-01 (RESULTS.md, "Sampler choice", three runs on a busy VM): PyTorch
# materialised faster at every width up to 4,096 x 128 (0.29-0.66x the chunk loop's step
# there; larger masks take the loop for memory: 1 << 26 float32 elements are 256 MiB a
# copy); JAX up to 256 x 128 (0.74-0.77x), not from 1,024 x 128 on (1.20-1.55x);
# TensorFlow at no width clearly (0.83-0.92x at 256 x 128 with intervals holding 1,
# 1.17-1.79x at 4,096 x 128).
AUTO_REFERENCE_ELEMENTS = {"torch": 1 << 26, "jax": 1 << 22, "tensorflow": 0}


def materialise(d_in, units) -> bool:
    """Whether ``auto`` draws the whole ``(batch, d_in, units)`` mask at once (instead of the
    chunk loop) on the running backend: ``128 * d_in * units <= AUTO_REFERENCE_ELEMENTS``."""
    if not isinstance(d_in, int) or not isinstance(units, int):
        return False
    limit = AUTO_REFERENCE_ELEMENTS.get(keras.backend.backend(), 0)
    return chunked.BATCH_HINT * d_in * units <= limit


def _static_batch(a):
    return a.shape[0] if isinstance(a.shape[0], int) else None


def _contract(a, w, source, seed_generator):
    size = chunked.chunk_size(_static_batch(a), w.shape[0], w.shape[1])
    seeds = chunked.chunk_seeds(seed_generator, -(-w.shape[0] // size))
    return chunked.masked_contraction(a, w, source, seeds, size)


def _contract_at_once(a, w, source, seed_generator):
    """``sum_i a m w`` with the whole mask drawn from the layer's generator (autodiff)."""
    mask = source.draw((ops.shape(a)[0],) + tuple(w.shape), seed_generator)
    return ops.einsum("bi,bij->bj", a, source.apply(mask, w[None, :, :] * ops.cast(source.scale, w.dtype)))


def reference_sampler(x, kernel, rate, stir_fn, seed_generator):
    """Materialise the ``(batch, d_in, units)`` mask and contract it with einsum.

    Memory and time grow with ``batch * d_in * units``; this is the ground truth that
    faster samplers are tested against.
    """
    batch = ops.shape(x)[0]
    d_in, units = kernel.shape
    mask = stir_fn((batch, d_in, units), rate, seed_generator, x.dtype)
    return ops.einsum("bi,bij->bj", x, mask * kernel[None, :, :])


def local_reparam_sampler(x, kernel, rate, stir_fn, seed_generator):
    """``N(x @ W, rate / (1 - rate) * (x*x) @ (W*W))``, the variance in float32."""
    mean = ops.matmul(x, kernel)
    x32, k32 = _float32(x, kernel)
    variance = (rate / (1.0 - rate)) * ops.matmul(ops.square(x32), ops.square(k32))
    return _add_noise(mean, variance, seed_generator)


def mask_source(stir_fn, rate, seed_generator, dtype) -> chunked.MaskSource:
    """The chunked sampler's blocks for ``stir_fn``: boolean 15-bit keep decisions for the
    Bernoulli stir (kept weights scaled by the realised keep probability), the stir's own
    multipliers otherwise."""
    if stir_fn is bernoulli_stir:
        keep = lambda shape, gen: bernoulli_keep(shape, rate, gen)  # noqa: E731
        scale = 1.0 / realised_keep(rate)
        return chunked.MaskSource(keep, seed_generator, scale, decisions_per_word(rate))
    return chunked.MaskSource(lambda shape, gen: stir_fn(shape, rate, gen, dtype), seed_generator)


def chunked_sampler(x, kernel, rate, stir_fn, seed_generator):
    """Any stir, chunk by chunk in a loop; the gradient draws the chunks again."""
    return _contract(x, kernel, mask_source(stir_fn, rate, seed_generator, x.dtype), seed_generator)


def partial_reparam_sampler(x, kernel, rate, stir_fn, seed_generator):
    """Sample which connections are perturbed; their Gaussian noise is one normal per output.

    ``c ~ Bernoulli(r)`` from packed thresholds (``r = realised_rate(rate)``), then
    ``N(x @ W, sum_i c x^2 W^2 / (1 - r))``: per connection the variance is ``r / (1 - r)``,
    as for the partial-Gaussian stir. Cost: the Bernoulli mask's (same words, same ``where``
    contraction, on ``x*x`` and ``W*W``) plus one normal per output.
    """
    mean = ops.matmul(x, kernel)
    chosen = lambda shape, gen: bernoulli_drop(shape, rate, gen)  # noqa: E731
    x32, k32 = _float32(x, kernel)
    source = chunked.MaskSource(chosen, seed_generator, 1.0, decisions_per_word(rate))
    a, w = ops.square(x32), ops.square(k32)
    if materialise(*kernel.shape):
        contraction = _contract_at_once(a, w, source, seed_generator)
    else:
        contraction = _contract(a, w, source, seed_generator)
    return _add_noise(mean, contraction / realised_keep(rate), seed_generator)


def fused_sampler(x, kernel, rate, stir_fn, seed_generator):
    """The fused C kernel (``pernode_cli.layers.fused``): Bernoulli and partial-Gaussian stirs.

    Bernoulli: ``y = x @_keep (W / q)``, the contraction over the kept connections (keep with
    probability ``q = realised_keep(rate)``). Partial-Gaussian: ``N(x @ W, (x*x @_c W*W) / q)``
    with ``c`` the complement (perturbed with probability ``realised_rate(rate)``), the math of
    ``partial_reparam``. One int32 key pair per call from ``seed_generator`` (the layer state
    advances like the other samplers'); the kernel runs in float32 and the output is cast back
    to ``x``'s dtype. Inside TensorFlow's XLA (``jit_compile=True``), which cannot call the
    kernel, the sampler ``auto`` would take without it runs instead.
    """
    from pernode_cli.layers import fused

    if stir_fn is not bernoulli_stir and stir_fn is not partial_gaussian_stir:
        raise invalid("stir_fn", "the Bernoulli or the partial-Gaussian stir", stir_fn)
    if not fused.can_call():  # TensorFlow under XLA: no host call; the exact samplers instead
        stir = "bernoulli" if stir_fn is bernoulli_stir else "partial_gaussian"
        return sampler_fn(_auto_without("fused", stir, *kernel.shape))(x, kernel, rate, stir_fn, seed_generator)
    key = random_words((2,), seed_generator)
    x32, k32 = _float32(x, kernel)
    if stir_fn is bernoulli_stir:
        # Kept weights scaled before the contraction, as the reference's mask * kernel does.
        return ops.cast(fused.contraction(x32, k32 * (1.0 / realised_keep(rate)), key, rate), x.dtype)
    variance = fused.contraction(ops.square(x32), ops.square(k32), key, rate, drop=True) / realised_keep(rate)
    return _add_noise(ops.matmul(x, kernel), variance, seed_generator)


@dataclass(frozen=True)
class Sampler:
    """A registered sampler (``register_sampler``).

    ``fn(x, kernel, rate, stir_fn, seed_generator)``; ``stirs``: the stirs it is exact for (None:
    any); ``auto(stir, d_in, units)``: whether ``"auto"`` may take it on the running backend at that
    width, the highest ``priority`` among those that may winning; ``runs()``: whether it can run
    here at all (asked for by name where it cannot, ``"auto"``'s choice runs instead)."""

    name: str
    fn: Callable
    stirs: Optional[tuple] = None
    auto: Optional[Callable] = None
    priority: int = 0
    runs: Optional[Callable] = None
    text: Any = ""  # a str, or a callable giving it (what `pernode list samplers` shows)
    source: str = ""

    @property
    def description(self) -> str:
        return self.text() if callable(self.text) else self.text

    def exact_for(self, stir: str) -> bool:
        return self.stirs is None or stir in self.stirs


def _unknown(name, registry):
    return invalid("sampler", f"one of {['auto', *registry]}", name)


SAMPLERS = Registry("sampler", "samplers", unknown=_unknown, validate=check_entry_name)
# Backends on which "auto" takes "fused" for its stirs when the kernel is built and the backend
# computes on the CPU (GPU arrays keep the other choices). Measured 2026-12 with
# benchmarks/bernoulli_speed.py on the 2-core AVX-512 CPU (benchmarks/RESULTS.md): a full
# training step at the CIFAR-10 shape at rates 0.1-0.7, both stirs, against the chunk loop
# (TensorFlow, JAX) or the materialised mask (PyTorch): faster on all three.
AUTO_FUSED = {"tensorflow": True, "jax": True, "torch": True}


def _fused_built() -> bool:
    from pernode_cli.layers import fused

    return fused.available()


def _fused_auto(stir, d_in, units) -> bool:
    from pernode_cli.layers import fused

    return _fused_built() and AUTO_FUSED.get(keras.backend.backend(), False) and fused.on_cpu()


def _fused_text() -> str:
    from pernode_cli.layers.fused import describe

    return describe()


def register_sampler(name, fn, *, stirs=None, auto=None, priority=0, runs=None, description="",
                     replace=False) -> Sampler:
    """Register a sampler of the dynamic mask, for every variant whose stir it serves.

    Args:
        name: the name layers use (``PerNodeDense(sampler=name)``); letters, digits and ``_``.
        fn: ``fn(x, kernel, rate, stir_fn, seed_generator)`` returning ``(batch, units)``: the
            exact contraction ``sum_i x[b, i] m[b, i, j] kernel[i, j]`` for a fresh mask.
        stirs: tuple of stir names it is exact for, or None for any stir.
        auto: optional ``auto(stir, d_in, units) -> bool``: ``"auto"`` may choose it there (the
            running backend is ``keras.backend.backend()``); None: only by name.
        priority: int; among the samplers ``auto`` may choose, the highest wins (pernode's:
            fused 30, local_reparam and partial_reparam 20, reference 10, chunked 0).
        runs: optional ``runs() -> bool``: whether it can run here at all.
        description: one line for ``pernode list samplers`` (a callable giving it is allowed).
        replace: allow replacing a sampler of that name.
    """
    from pernode_cli.argchecks import check_bool, check_signature
    from pernode_cli.sources import source_of

    check_signature("fn", fn, (None, None, 0.5, None, None),
                    "fn(x, kernel, rate, stir_fn, seed_generator) -> (batch, units) tensor")
    if stirs is not None and (not isinstance(stirs, (tuple, list)) or not all(isinstance(x, str) for x in stirs)):
        raise invalid("stirs", "None or a tuple of stir names", stirs)
    for arg, value in (("auto", auto), ("runs", runs)):
        if value is not None and not callable(value):
            raise invalid(arg, f"None or a callable {arg}(...) -> bool", value)
    if isinstance(priority, bool) or not isinstance(priority, int):
        raise invalid("priority", "an int", priority)
    if not isinstance(description, str) and not callable(description):
        raise invalid("description", "a str", description)
    check_bool("replace", replace)
    entry = Sampler(name, fn, None if stirs is None else tuple(stirs), auto, priority, runs, description,
                    source_of(fn))
    return SAMPLERS.add(entry, replace=replace)


for _args in (
    ("reference", reference_sampler, None, lambda stir, d_in, units: materialise(d_in, units), 10, None,
     "materialises the (batch, d_in, units) mask and contracts it with einsum: the ground truth"),
    ("chunked", chunked_sampler, None, lambda stir, d_in, units: True, 0, None,
     "draws the mask chunk by chunk of d_in in a loop and again in the backward pass (any stir)"),
    ("local_reparam", local_reparam_sampler, ("gaussian",), lambda stir, d_in, units: True, 20, None,
     "Gaussian stir: x @ W + sqrt(v (x*x) @ (W*W)) * eps, two matmuls, no mask"),
    ("partial_reparam", partial_reparam_sampler, ("partial_gaussian",), lambda stir, d_in, units: True, 20, None,
     "partial-Gaussian stir: the choice of perturbed connections, then one Gaussian per output"),
    ("fused", fused_sampler, ("bernoulli", "partial_gaussian"), _fused_auto, 30, _fused_built, _fused_text),
):
    SAMPLERS.add(Sampler(*_args))


def resolve_sampler(name: str, stir: str, d_in=None, units=None) -> str:
    """The sampler that runs for ``name`` (``"auto"`` resolved) and ``stir`` in a layer of
    ``d_in`` inputs and ``units`` outputs on the running backend: for ``"auto"`` the registered
    sampler of the highest priority exact for the stir whose ``auto`` takes it (an unknown width
    resolves the Bernoulli stir and registered stirs to ``"chunked"``). A sampler asked for by name
    that cannot run here (``fused`` without its kernel) resolves to ``"auto"``'s choice without it."""
    if name != "auto":
        entry = SAMPLERS.lookup(name)
        if entry.runs is None or entry.runs():
            return entry.name
    return _auto_without(name, stir, d_in, units)


def _auto_without(name: str, stir: str, d_in=None, units=None) -> str:
    """``"auto"``'s choice with sampler ``name`` left out."""
    choices = [e for e in SAMPLERS.values() if e.exact_for(stir) and e.name != name and e.auto is not None
               and (e.runs is None or e.runs()) and e.auto(stir, d_in, units)]
    return max(choices, key=lambda e: e.priority).name if choices else "chunked"


def sampler_fn(name: str) -> Callable:
    """The function of a registered sampler."""
    return SAMPLERS.lookup(name).fn


def validate_sampler(name, stir) -> str:
    if name == "auto":
        return name
    if not isinstance(name, str):
        raise invalid("sampler", f"one of {['auto', *SAMPLERS]}", name)
    entry = SAMPLERS.lookup(name)
    if not entry.exact_for(stir):
        stirs = entry.stirs
        exact = f"stir={stirs[0]!r}" if len(stirs) == 1 else f"stir in {stirs!r}"
        raise ValueError(
            f"Invalid value received for argument `sampler`. Sampler {name!r} is exact only for "
            f"{exact}; use 'auto', 'reference' or 'chunked' for stir={stir!r}. "
            f"Received: sampler={name!r}"
        )
    return entry.name


def compatible(stir: str) -> list[str]:
    """Every sampler name (``"auto"`` included) that may run with ``stir``."""
    return sorted(e.name for e in SAMPLERS.values() if e.exact_for(stir)) + ["auto"]
