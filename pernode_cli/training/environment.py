"""Where a run happens, stamped into every log row, and how to talk to its device.

- ``environment_stamp()``: backend, its version, device and machine.
- ``sync_device(model)``: wait for the device to finish queued work, so a clock read after
  it measures the work itself on every backend (JAX and PyTorch dispatch asynchronously).
- ``peak_memory()``: peak accelerator bytes where the backend reports them.
- ``import_backend()``: import Keras (and its backend) with the backend's start-up
  chatter hidden unless ``PERNODE_BACKEND_LOGS=1``.
"""

from __future__ import annotations

import contextlib
import os
import platform
import sys
from typing import Optional

BACKEND_LOGS_ENV = "PERNODE_BACKEND_LOGS"


@contextlib.contextmanager
def backend_chatter_hidden(fds=(2,)):
    """Point file descriptors (stderr, and stdout where asked) at /dev/null, since C++
    libraries and engines write there directly; ``PERNODE_BACKEND_LOGS=1`` keeps them."""
    if os.environ.get(BACKEND_LOGS_ENV) == "1":
        yield
        return
    sys.stdout.flush()
    sys.stderr.flush()
    null = os.open(os.devnull, os.O_WRONLY)
    saved = {fd: os.dup(fd) for fd in fds}
    for fd in fds:
        os.dup2(null, fd)
    streams = {1: "stdout", 2: "stderr"}
    python_level = {fd: getattr(sys, streams[fd]) for fd in fds}  # Python writers too (a captured stream)
    try:
        with open(os.devnull, "w") as sink:
            for fd in fds:
                setattr(sys, streams[fd], sink)
            try:
                yield
            finally:  # while the sink is still open (a handler flushes it when it is repointed)
                _repoint_handlers(sink, python_level.get(2) or next(iter(python_level.values())))
    finally:
        for fd, stream in python_level.items():
            setattr(sys, streams[fd], stream)
        for fd, copy in saved.items():
            os.dup2(copy, fd)
            os.close(copy)
        os.close(null)


def _repoint_handlers(sink, stream) -> None:
    """A logging handler made while the streams were hidden (TensorFlow's, at import) holds the
    sink, closed once this returns, and would print a "Logging error" traceback at its next
    warning: point it at the real stream, and keep its logger's warnings (tf.function retracing
    and the like) hidden, its errors shown."""
    import logging

    loggers = [logging.getLogger()] + [x for x in logging.root.manager.loggerDict.values()
                                       if isinstance(x, logging.Logger)]
    for logger in loggers:
        for handler in logger.handlers:
            if isinstance(handler, logging.StreamHandler) and handler.stream is sink:
                handler.setStream(stream)
                logger.setLevel(max(logger.level, logging.ERROR))


BACKEND_MODULES = {"tensorflow": "tensorflow", "jax": "jax", "torch": "torch"}


def requested_backend() -> str:
    """The backend Keras will start: ``KERAS_BACKEND``, else ``~/.keras/keras.json``'s, else TensorFlow."""
    import json

    if os.environ.get("KERAS_BACKEND"):
        return os.environ["KERAS_BACKEND"]
    home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    try:
        with open(os.path.join(home, "keras.json")) as f:
            return str(json.load(f).get("backend") or "tensorflow")
    except (OSError, ValueError, AttributeError):
        return "tensorflow"


def installed_backends() -> list[str]:
    """Keras backends whose package is installed (found, not imported)."""
    import importlib.util

    return [name for name, module in BACKEND_MODULES.items() if importlib.util.find_spec(module) is not None]


def _backend_error(exc: BaseException):
    from pernode_cli.errors import PernodeError

    wanted = os.environ.get("KERAS_BACKEND") or "the one in ~/.keras/keras.json"
    have = installed_backends()
    fix = (f"set KERAS_BACKEND to one of the installed backends: {', '.join(have)}" if have else
           "install one: pip install tensorflow (or jax, or torch)")
    reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return PernodeError(f"Keras cannot start the backend {wanted} ({reason}); {fix}.")


@contextlib.contextmanager
def quiet_backend_import():
    """Whatever imports the backend inside (Keras, a plugin importing it) does so with its C++
    start-up lines hidden, unless ``PERNODE_BACKEND_LOGS=1``; nothing is hidden once Keras is in."""
    if "keras" in sys.modules or os.environ.get(BACKEND_LOGS_ENV) == "1":
        yield
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    with backend_chatter_hidden():
        yield
        if "keras" in sys.modules:
            import keras

            if keras.backend.backend() == "tensorflow":
                import tensorflow as tf

                tf.config.list_physical_devices("GPU")  # probes CUDA now, while silenced


def import_backend():
    """Import and return ``keras``; TensorFlow's C++ start-up lines (CUDA probing, absl
    notices) are not shown unless ``PERNODE_BACKEND_LOGS=1`` asks for them. An unknown or
    missing backend is a ``PernodeError`` naming the installed ones."""
    wanted = os.environ.get("KERAS_BACKEND")
    if wanted is not None and wanted not in BACKEND_MODULES and "keras" not in sys.modules:
        raise _backend_error(ValueError(f"unknown backend {wanted!r}"))
    try:
        with quiet_backend_import():
            import keras
        return keras
    except (ImportError, ValueError, RuntimeError) as exc:
        raise _backend_error(exc) from None


def jit_compile_setting():
    """``jit_compile`` for ``Model.compile``: off for TensorFlow on the CPU (XLA made Dropout's own
    training step about 6x slower on the 2-core CPU, and host calls such as the fused sampler's
    cannot run inside it), Keras' ``"auto"`` elsewhere."""
    import keras

    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        if not tf.config.list_physical_devices("GPU"):
            return False
    return "auto"


def backend_name() -> str:
    import keras

    return keras.backend.backend()


def backend_version(backend: str) -> str:
    module = {"tensorflow": "tensorflow", "jax": "jax", "torch": "torch"}.get(backend)
    try:
        return __import__(module).__version__ if module else "unknown"
    except ImportError:
        return "unknown"


def device_name(backend: str) -> str:
    """The accelerator the backend computes on, or "CPU" said plainly."""
    try:
        if backend == "tensorflow":
            import tensorflow as tf

            gpus = tf.config.list_physical_devices("GPU")
            if gpus:
                details = tf.config.experimental.get_device_details(gpus[0])
                return str(details.get("device_name", "GPU"))
        elif backend == "jax":
            import jax

            dev = jax.devices()[0]
            if dev.platform != "cpu":
                return str(getattr(dev, "device_kind", dev.platform))
        elif backend == "torch":
            import torch

            if torch.cuda.is_available():
                return torch.cuda.get_device_name(0)
    except Exception:  # a broken driver must not stop a CPU run
        pass
    return "CPU"


def machine_info() -> str:
    return f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}"


def environment_stamp() -> dict:
    """The columns every log row and timing record carries about where it ran."""
    backend = backend_name()
    return {
        "backend": backend,
        "backend_version": backend_version(backend),
        "device": device_name(backend),
        "machine": machine_info(),
    }


def sync_device(model) -> None:
    """Block until the device has finished the model's queued updates.

    Reading a trained variable back to the host waits for every step that writes it.
    """
    import keras

    keras.ops.convert_to_numpy(model.trainable_variables[0])


def _tf_peak(reset: bool) -> Optional[int]:
    import tensorflow as tf

    if not tf.config.list_physical_devices("GPU"):
        return None
    if reset:
        tf.config.experimental.reset_memory_stats("GPU:0")
        return None
    return int(tf.config.experimental.get_memory_info("GPU:0")["peak"])


def _torch_peak(reset: bool) -> Optional[int]:
    import torch

    if not torch.cuda.is_available():
        return None
    if reset:
        torch.cuda.reset_peak_memory_stats()
        return None
    return int(torch.cuda.max_memory_allocated())


def _jax_peak(reset: bool) -> Optional[int]:
    import jax

    dev = jax.devices()[0]
    if dev.platform == "cpu" or reset:
        return None
    stats = dev.memory_stats() or {}
    return int(stats["peak_bytes_in_use"]) if "peak_bytes_in_use" in stats else None


def peak_memory(backend: str, reset: bool = False) -> Optional[int]:
    """Peak bytes on the accelerator where the backend reports it; None on CPU."""
    probe = {"tensorflow": _tf_peak, "torch": _torch_peak, "jax": _jax_peak}.get(backend)
    try:
        return probe(reset) if probe else None
    except Exception:
        return None
