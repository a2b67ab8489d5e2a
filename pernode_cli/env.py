"""Where a run happens: backend, device and machine, stamped into every log row."""

from __future__ import annotations

import os
import platform


def backend_name() -> str:
    import keras

    return keras.backend.backend()


def backend_version(backend: str) -> str:
    try:
        if backend == "tensorflow":
            import tensorflow as tf

            return tf.__version__
        if backend == "jax":
            import jax

            return jax.__version__
        if backend == "torch":
            import torch

            return torch.__version__
    except ImportError:
        pass
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
