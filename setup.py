"""Build of the optional C extension; the package metadata lives in pyproject.toml.

``pernode_cli.layers._fused`` is the fused CPU kernel of the exact per-connection masked
contraction (``sampler="fused"``). It is optional: without a working C compiler the build
skips it and the package installs without it, and the layers fall back to the other exact
samplers (``pernode_cli.layers.fused.kernel_info()`` says which case holds).
"""

import os
import sys

from setuptools import Extension, setup

if sys.platform == "win32":
    compile_args, libraries = ["/O2"], []
else:
    # No contraction of a * b + c: the kernel's portable path spells out its fused
    # multiply-adds, so every path rounds alike.
    compile_args, libraries = ["-O3", "-ffp-contract=off", "-fno-math-errno"], ["m", "pthread"]

setup(
    ext_modules=[
        Extension(
            "pernode_cli.layers._fused",
            sources=[os.path.join("pernode_cli", "layers", "_fused.c")],
            extra_compile_args=compile_args,
            libraries=libraries,
            optional=True,
        )
    ]
)
