"""The fused CPU kernel of the exact per-connection contraction, and its wiring into each backend.

``y[b, j] = sum_i a[b, i] keep[b, i, j] w[i, j]`` and its two gradients run in one C kernel
(``pernode_cli/layers/_fused.c``, an optional extension built by ``setup.py``) that never
stores the mask: each pass regenerates the keep decisions in registers from a counter-based
hash (SplitMix64) of a 64-bit per-call key and the word's position ``(b, i, w)``, compares
``b``-bit fields with the integer threshold of ``bits.field_threshold(rate)`` (keep with
probability ``t / 2**b`` exactly: the realised keep probability of the other samplers; one
raw bit per decision at rate 0.5, 4 or 8 fields per 64-bit word otherwise), and feeds them
as write masks into the multiply-adds. ``drop=True`` takes the complement (the perturbed
connections of the partial-Gaussian sampler). The C file's header gives the bit layout.

The kernel picks AVX-512, AVX2 or portable C at run time and splits the work over threads;
mask bits and outputs are the same whatever the path and the thread count (every path does
the same float32 operations in the same order).

Backends (imported only when a call needs them):
- TensorFlow: ``tf.numpy_function`` inside ``tf.custom_gradient``: graph-safe, runs in
  ``model.fit`` (graph mode, no XLA: TensorFlow's default on CPU).
- JAX: an XLA custom call of the original CPU API (``jax.ffi.ffi_call``; the typed FFI would
  need XLA's headers at build time) with a ``jax.custom_vjp``; ``jax.pure_callback`` where
  the default device is not a CPU.
- PyTorch: ``torch.library.custom_op`` with ``register_autograd``.

Where the extension is missing (no C compiler at install time) ``available()`` is false,
``kernel_info()`` says why, and ``sampler="auto"`` keeps the other exact samplers.
"""

from __future__ import annotations

import ctypes
import functools
import importlib
import importlib.machinery
import os
import sys
import threading

import numpy as np

from pernode_cli.layers.bits import field_threshold
from pernode_cli.argchecks import check_bool, invalid
from pernode_cli.layers.checks import validate_rate

ABI = 1  # must equal PN_ABI of _fused.c: a stale build elsewhere on the path is refused
SIMD_PATHS = ("portable", "avx2", "avx512")
_ERRORS = {-1: "negative shape", -2: "bits outside [1, 15]", -3: "threshold outside [1, 2**bits]",
           -4: "SIMD path not supported by this CPU", -5: "thread count outside [0, 64]", -6: "out of memory"}
_MAX_THREADS = 64
_C_FLOAT_P = ctypes.POINTER(ctypes.c_float)

_lock = threading.Lock()
_loaded: dict = {}
_settings = {"simd": None, "threads": 0}


# --------------------------------------------------------------------------------------------
# Loading


def _extension_files():
    """Where the built extension may be: this package's folder, then ``pernode_cli/layers`` under
    every ``sys.path`` entry (a source checkout run with the package installed elsewhere)."""
    here = os.path.dirname(os.path.abspath(__file__))
    folders = [here] + [os.path.join(p or os.getcwd(), "pernode_cli", "layers") for p in sys.path]
    seen = set()
    for folder in folders:
        folder = os.path.abspath(folder)
        if folder in seen or not os.path.isdir(folder):
            continue
        seen.add(folder)
        spec = importlib.machinery.PathFinder.find_spec("_fused", [folder])
        if spec is not None and spec.origin and spec.origin.endswith(tuple(importlib.machinery.EXTENSION_SUFFIXES)):
            yield spec.origin


def _declare(lib):
    i64, u64, i32, vp = ctypes.c_int64, ctypes.c_uint64, ctypes.c_int, ctypes.c_void_p
    shape = [i64, i64, i64, u64, i32, i64, i32, i32, i32]  # B, D, U, key, bits, t, drop, path, threads
    lib.pernode_fused_forward.argtypes = [vp, vp, vp] + shape
    lib.pernode_fused_backward.argtypes = [vp, vp, vp, vp, vp] + shape
    lib.pernode_fused_grad_input.argtypes = [vp, vp, vp] + shape
    lib.pernode_fused_grad_weight.argtypes = [vp, vp, vp] + shape
    lib.pernode_fused_mask.argtypes = [vp] + shape
    for name in ("forward", "backward", "grad_input", "grad_weight", "mask", "abi", "best_path", "cpus"):
        getattr(lib, f"pernode_fused_{name}").restype = ctypes.c_int
    return lib


def _library():
    """The loaded kernel (a ``ctypes.CDLL``), or None; loaded once."""
    if "lib" in _loaded:
        return _loaded["lib"]
    with _lock:
        if "lib" in _loaded:
            return _loaded["lib"]
        lib, origin, errors = None, None, []
        for path in _extension_files():
            try:
                candidate = ctypes.CDLL(path)
                if candidate.pernode_fused_abi() != ABI:
                    errors.append(f"{path}: ABI {candidate.pernode_fused_abi()}, expected {ABI} (a stale build)")
                    continue
                lib, origin = _declare(candidate), path
                break
            except (OSError, AttributeError) as e:
                errors.append(f"{path}: {e}")
        if lib is None and not errors:
            errors.append("the C extension pernode_cli.layers._fused is not built (install with a C compiler)")
        _loaded.update(lib=lib, origin=origin, error="; ".join(errors) or None)
        return lib


def available() -> bool:
    """Whether the fused kernel is built and loads on this machine."""
    return _library() is not None


def kernel_info() -> dict:
    """``{"available", "simd", "simd_paths", "threads", "origin", "error"}``: whether the kernel
    loads, the SIMD path calls take (``"avx512"``, ``"avx2"`` or ``"portable"``; the best this
    CPU runs unless ``configure`` chose another), every path this CPU runs, the threads a large
    call uses, the file it was loaded from and, when it is missing, why."""
    lib = _library()
    if lib is None:
        return {"available": False, "simd": None, "simd_paths": [], "threads": 0, "origin": None,
                "error": _loaded.get("error")}
    best = lib.pernode_fused_best_path()
    simd = _settings["simd"] or SIMD_PATHS[best]
    return {"available": True, "simd": simd, "simd_paths": list(SIMD_PATHS[: best + 1]),
            "threads": _settings["threads"] or lib.pernode_fused_cpus(), "origin": _loaded["origin"], "error": None}


def describe() -> str:
    """One line for ``pernode list samplers``: what the sampler does and whether it runs here."""
    info = kernel_info()
    text = ("Bernoulli and partial-Gaussian stirs: one C kernel, mask bits regenerated in registers in "
            "every pass (no mask stored), CPU")
    if info["available"]:
        return f"{text} (built: {info['simd']}, {info['threads']} threads)"
    return f"{text} (not built here: auto keeps the other samplers)"


def configure(simd=None, threads=None) -> None:
    """Choose the SIMD path and thread count of later calls (both ``None``: the defaults).

    Args:
        simd: ``None`` (the best path this CPU runs) or one of ``SIMD_PATHS`` this CPU runs.
        threads: ``None`` or ``0`` (the online CPUs; one for small calls), or a positive int
            up to 64.
    """
    lib = _library()
    if simd is not None:
        runs = kernel_info()["simd_paths"] if lib is not None else []
        if simd not in runs:
            raise invalid("simd", f"None or one of {runs} (the SIMD paths this CPU runs)", simd)
    if threads is not None and (isinstance(threads, bool) or not isinstance(threads, int)
                                or not 0 <= threads <= _MAX_THREADS):
        raise invalid("threads", f"None or an int in [0, {_MAX_THREADS}]", threads)
    _settings.update(simd=simd, threads=threads or 0)


def _path_code(simd) -> int:
    simd = _settings["simd"] if simd is None else simd
    if simd is None:
        return -1
    if simd not in SIMD_PATHS:
        raise invalid("simd", f"None or one of {list(SIMD_PATHS)}", simd)
    return SIMD_PATHS.index(simd)


def _thread_count(threads) -> int:
    threads = _settings["threads"] if threads is None else threads
    if isinstance(threads, bool) or not isinstance(threads, int) or not 0 <= threads <= _MAX_THREADS:
        raise invalid("threads", f"None or an int in [0, {_MAX_THREADS}]", threads)
    return threads


def _require():
    lib = _library()
    if lib is None:
        raise RuntimeError(f"The fused kernel is not available: {_loaded.get('error')}")
    return lib


def _check(rc: int) -> None:
    if rc != 0:
        raise ValueError(f"The fused kernel refused its arguments: {_ERRORS.get(rc, rc)}")


# --------------------------------------------------------------------------------------------
# NumPy level: the kernel on arrays (what every backend calls)


def key_of(words) -> int:
    """The 64-bit kernel key of an int32 pair ``(k0, k1)``: ``(k0 mod 2**32) * 2**32 + (k1 mod 2**32)``."""
    k = np.asarray(words).reshape(-1)
    if k.shape != (2,) or k.dtype.kind not in "iu":
        raise invalid("key", "a pair of int32 words", words)
    return (int(k[0]) & 0xFFFFFFFF) << 32 | (int(k[1]) & 0xFFFFFFFF)


def _key(key) -> int:
    if isinstance(key, (int, np.integer)) and not isinstance(key, bool):
        if not 0 <= int(key) < 2**64:
            raise invalid("key", "an int in [0, 2**64) or a pair of int32 words", key)
        return int(key)
    return key_of(key)


def _matrix(name, x, rows=None, cols=None):
    x = np.ascontiguousarray(x, dtype=np.float32)
    if x.ndim != 2 or (rows is not None and x.shape[0] != rows) or (cols is not None and x.shape[1] != cols):
        want = f"({rows if rows is not None else 'n'}, {cols if cols is not None else 'm'})"
        raise invalid(name, f"a rank-2 array of shape {want}", f"array of shape {x.shape}")
    return x


def _ptr(x):
    return x.ctypes.data_as(ctypes.c_void_p)


def _layout(rate, drop):
    bits, t = field_threshold(validate_rate(rate))
    return bits, t, int(check_bool("drop", drop))


def contract(a, w, key, rate, drop=False, simd=None, threads=None) -> np.ndarray:
    """``y[b, j] = sum_i a[b, i] keep[b, i, j] w[i, j]`` (kept weights not rescaled).

    Args:
        a: ``(batch, d_in)`` float array.
        w: ``(d_in, units)`` float array.
        key: the call's key: an int in ``[0, 2**64)`` or an int32 pair (``key_of``).
        rate: float in [0, 1); ``keep`` is true with probability ``bits.realised_keep(rate)``.
        drop: bool; True contracts over the complement (probability ``realised_rate(rate)``).
        simd: ``None`` (``configure``'s choice, else the best path) or one of ``SIMD_PATHS``.
        threads: ``None`` (``configure``'s choice), ``0`` (automatic) or a positive int.
    """
    lib = _require()
    a = _matrix("a", a)
    w = _matrix("w", w, rows=a.shape[1])
    bits, t, drop = _layout(rate, drop)
    y = np.empty((a.shape[0], w.shape[1]), np.float32)
    _check(lib.pernode_fused_forward(_ptr(a), _ptr(w), _ptr(y), a.shape[0], a.shape[1], w.shape[1], _key(key),
                                     bits, t, drop, _path_code(simd), _thread_count(threads)))
    return y


def contract_grads(a, w, up, key, rate, drop=False, simd=None, threads=None, inputs=True, weights=True):
    """``(ga, gw)`` of ``contract`` for the upstream gradient ``up`` (``(batch, units)``), from the
    same decisions: ``ga[b, i] = sum_j up[b, j] keep w[i, j]``, ``gw[i, j] = sum_b a[b, i] keep
    up[b, j]``; ``inputs=False`` or ``weights=False`` skips one (returned as None). The other
    arguments are ``contract``'s."""
    lib = _require()
    a = _matrix("a", a)
    w = _matrix("w", w, rows=a.shape[1])
    up = _matrix("up", up, rows=a.shape[0], cols=w.shape[1])
    bits, t, drop = _layout(rate, drop)
    ga = np.empty(a.shape, np.float32) if check_bool("inputs", inputs) else None
    gw = np.empty(w.shape, np.float32) if check_bool("weights", weights) else None
    _check(lib.pernode_fused_backward(_ptr(a), _ptr(w), _ptr(up), None if ga is None else _ptr(ga),
                                      None if gw is None else _ptr(gw), a.shape[0], a.shape[1], w.shape[1],
                                      _key(key), bits, t, drop, _path_code(simd), _thread_count(threads)))
    return ga, gw


def keep_mask(shape, key, rate, drop=False, simd=None, threads=None) -> np.ndarray:
    """The ``(batch, d_in, units)`` boolean decisions ``contract`` uses for ``key`` (debugging and
    tests: the kernel itself never stores them). Arguments as for ``contract``."""
    lib = _require()
    if (not isinstance(shape, (tuple, list)) or len(shape) != 3
            or any(isinstance(s, bool) or not isinstance(s, (int, np.integer)) or s < 0 for s in shape)):
        raise invalid("shape", "a (batch, d_in, units) tuple of non-negative ints", shape)
    bits, t, drop = _layout(rate, drop)
    out = np.empty(tuple(int(s) for s in shape), np.uint8)
    _check(lib.pernode_fused_mask(_ptr(out), *(int(s) for s in shape), _key(key), bits, t, drop,
                                  _path_code(simd), _thread_count(threads)))
    return out.view(bool)


def _forward_np(a, w, key_words, bits, t, drop, path, threads):
    lib = _require()
    a, w = np.ascontiguousarray(a, np.float32), np.ascontiguousarray(w, np.float32)
    y = np.empty((a.shape[0], w.shape[1]), np.float32)
    _check(lib.pernode_fused_forward(_ptr(a), _ptr(w), _ptr(y), a.shape[0], a.shape[1], w.shape[1],
                                     key_of(key_words), bits, t, drop, path, threads))
    return y


def _backward_np(a, w, up, key_words, bits, t, drop, path, threads):
    lib = _require()
    a, w = np.ascontiguousarray(a, np.float32), np.ascontiguousarray(w, np.float32)
    up = np.ascontiguousarray(up, np.float32)
    ga, gw = np.empty(a.shape, np.float32), np.empty(w.shape, np.float32)
    _check(lib.pernode_fused_backward(_ptr(a), _ptr(w), _ptr(up), _ptr(ga), _ptr(gw), a.shape[0], a.shape[1],
                                      w.shape[1], key_of(key_words), bits, t, drop, path, threads))
    return ga, gw


# --------------------------------------------------------------------------------------------
# Backends


def on_cpu() -> bool:
    """Whether the running Keras backend computes on the CPU (no GPU or other device in use)."""
    import keras

    return _on_cpu(keras.backend.backend())


@functools.lru_cache(maxsize=None)
def _on_cpu(backend: str) -> bool:
    if backend == "tensorflow":
        import tensorflow as tf

        return not tf.config.list_physical_devices("GPU")
    if backend == "jax":
        import jax

        return jax.default_backend() == "cpu"
    if backend == "torch":
        from keras.src.backend.torch.core import get_device

        return str(get_device()).startswith("cpu")
    return False


def can_call() -> bool:
    """Whether the kernel can be called from the code being traced now: not inside TensorFlow's
    XLA compilation (``jit_compile=True``), which has no host callbacks."""
    import keras

    if keras.backend.backend() != "tensorflow":
        return True
    import tensorflow as tf
    from tensorflow.python.ops import control_flow_util

    return not control_flow_util.GraphOrParentsInXlaContext(tf.compat.v1.get_default_graph())


def contraction(a, w, key_words, rate, drop=False):
    """``sum_i a keep w`` on backend tensors, differentiable in ``a`` and ``w``.

    Args:
        a: float32 ``(batch, d_in)`` tensor.
        w: float32 ``(d_in, units)`` tensor with a static shape.
        key_words: int32 ``(2,)`` tensor, the call's key (``bits.random_words``).
        rate: float in [0, 1); see ``contract``.
        drop: bool; see ``contract``.
    """
    import keras

    _require()
    bits, t, drop = _layout(rate, drop)
    cfg = (bits, t, drop, _path_code(None), _thread_count(None))
    backend = keras.backend.backend()
    if backend == "tensorflow":
        return _tf_contract(a, w, key_words, cfg)
    if backend == "jax":
        return _jax_op(cfg, _on_cpu("jax"))(a, w, key_words)
    if backend == "torch":
        return _torch_ops()(a, w, key_words, *cfg)
    raise RuntimeError(f"The fused sampler runs on TensorFlow, JAX and PyTorch, not {backend!r}")


def _tf_contract(a, w, key_words, cfg):
    import tensorflow as tf

    out_shape = (a.shape[0], w.shape[1])

    @tf.custom_gradient
    def op(a, w):
        y = tf.numpy_function(lambda a_, w_, k_: _forward_np(a_, w_, k_, *cfg), [a, w, key_words], tf.float32,
                              stateful=False, name="pernode_fused_forward")
        y.set_shape(out_shape)

        def grad(up):
            ga, gw = tf.numpy_function(lambda a_, w_, u_, k_: _backward_np(a_, w_, u_, k_, *cfg),
                                       [a, w, up, key_words], [tf.float32, tf.float32], stateful=False,
                                       name="pernode_fused_backward")
            ga.set_shape(a.shape)
            gw.set_shape(w.shape)
            return ga, gw

        return y, grad

    return op(tf.convert_to_tensor(a), tf.convert_to_tensor(w))


@functools.lru_cache(maxsize=1)
def _jax_targets() -> bool:
    """Registers the two custom-call targets with XLA's CPU platform (once)."""
    import jax

    lib = _require()
    for name in ("forward", "backward"):
        fn = getattr(lib, f"pernode_ffi_{name}")
        jax.ffi.register_ffi_target(f"pernode_fused_{name}", jax.ffi.pycapsule(fn), platform="cpu")
    return True


@functools.lru_cache(maxsize=None)
def _jax_op(cfg, cpu: bool):
    import jax
    import jax.numpy as jnp

    def config(a, w):
        return jnp.asarray(np.array([a.shape[0], a.shape[1], w.shape[1], *cfg], np.int32))

    if cpu:
        _jax_targets()

        def forward(a, w, key):
            out = jax.ShapeDtypeStruct((a.shape[0], w.shape[1]), jnp.float32)
            call = jax.ffi.ffi_call("pernode_fused_forward", out, vmap_method="sequential")
            return call(a, w, key, config(a, w))

        def backward(a, w, up, key):
            outs = (jax.ShapeDtypeStruct(a.shape, jnp.float32), jax.ShapeDtypeStruct(w.shape, jnp.float32))
            call = jax.ffi.ffi_call("pernode_fused_backward", outs, vmap_method="sequential")
            return call(a, w, up, key, config(a, w))
    else:  # arrays on another device: a host round trip

        def forward(a, w, key):
            out = jax.ShapeDtypeStruct((a.shape[0], w.shape[1]), jnp.float32)
            return jax.pure_callback(lambda a_, w_, k_: _forward_np(a_, w_, k_, *cfg), out, a, w, key,
                                     vmap_method="sequential")

        def backward(a, w, up, key):
            outs = (jax.ShapeDtypeStruct(a.shape, jnp.float32), jax.ShapeDtypeStruct(w.shape, jnp.float32))
            return jax.pure_callback(lambda a_, w_, u_, k_: _backward_np(a_, w_, u_, k_, *cfg), outs, a, w, up, key,
                                     vmap_method="sequential")

    @jax.custom_vjp
    def op(a, w, key):
        return forward(a, w, key)

    def op_fwd(a, w, key):
        return forward(a, w, key), (a, w, key)

    def op_bwd(saved, up):
        a, w, key = saved
        ga, gw = backward(a, w, up.astype(jnp.float32), key)
        return ga, gw, None

    op.defvjp(op_fwd, op_bwd)
    return op


@functools.lru_cache(maxsize=1)
def _torch_ops():
    """The forward ``torch.library`` custom op (registered once, with the backward as an op of
    its own and ``register_autograd`` joining them)."""
    import torch

    lib = _require()

    def host(x):
        return x.detach().to("cpu", torch.float32).contiguous()

    cfg = "int bits, int t, int drop, int path, int threads"

    @torch.library.custom_op("pernode::fused_forward", mutates_args=(),
                             schema=f"(Tensor a, Tensor w, Tensor key, {cfg}) -> Tensor")
    def forward(a, w, key, bits, t, drop, path, threads):
        a_, w_ = host(a), host(w)
        y = torch.empty((a_.shape[0], w_.shape[1]), dtype=torch.float32)
        _check(lib.pernode_fused_forward(a_.data_ptr(), w_.data_ptr(), y.data_ptr(), a_.shape[0], a_.shape[1],
                                         w_.shape[1], key_of(key.cpu().numpy()), bits, t, drop, path, threads))
        return y.to(a.device)

    @forward.register_fake
    def _(a, w, key, bits, t, drop, path, threads):
        return a.new_empty((a.shape[0], w.shape[1]), dtype=torch.float32)

    @torch.library.custom_op("pernode::fused_backward", mutates_args=(),
                             schema=f"(Tensor a, Tensor w, Tensor up, Tensor key, {cfg}) -> (Tensor, Tensor)")
    def backward(a, w, up, key, bits, t, drop, path, threads):
        a_, w_, up_ = host(a), host(w), host(up)
        ga, gw = torch.empty_like(a_), torch.empty_like(w_)
        _check(lib.pernode_fused_backward(a_.data_ptr(), w_.data_ptr(), up_.data_ptr(), ga.data_ptr(), gw.data_ptr(),
                                          a_.shape[0], a_.shape[1], w_.shape[1], key_of(key.cpu().numpy()), bits, t,
                                          drop, path, threads))
        return ga.to(a.device), gw.to(w.device)

    @backward.register_fake
    def _(a, w, up, key, bits, t, drop, path, threads):
        return a.new_empty(a.shape, dtype=torch.float32), w.new_empty(w.shape, dtype=torch.float32)

    def setup_context(ctx, inputs, output):
        a, w, key, *cfg = inputs
        ctx.save_for_backward(a, w, key)
        ctx.cfg = cfg

    def grad(ctx, up):
        a, w, key = ctx.saved_tensors
        ga, gw = backward(a, w, up, key, *ctx.cfg)
        return ga, gw, None, None, None, None, None, None

    forward.register_autograd(grad, setup_context=setup_context)
    return forward
