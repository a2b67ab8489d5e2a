"""What is registered: every variant, data set, backbone, stir and sampler with its
description and source (``pernode list``). Stirs and samplers are Keras code: listing them
imports the backend."""

from __future__ import annotations

KINDS = ("variants", "datasets", "backbones", "stirs", "samplers")


class _SamplerText(dict):
    """Sampler descriptions; a callable value is called when read (the fused kernel's line says
    whether it is built here and which SIMD path runs, which needs the loaded kernel)."""

    def get(self, key, default=None):
        value = super().get(key, default)
        return value() if callable(value) else value


def _fused_text() -> str:
    from pernode_cli.layers.fused import describe

    return describe()


def _auto_text() -> str:
    import keras

    from pernode_cli.layers.samplers import resolve_sampler

    runs = ", ".join(f"{stir} {resolve_sampler('auto', stir, 4096, 128)}" for stir in
                     ("bernoulli", "gaussian", "partial_gaussian"))
    return (f"the fastest exact sampler for the stir, the backend and the shape; here ({keras.backend.backend()}, "
            f"4,096 -> 128): {runs}")


SAMPLER_TEXT = _SamplerText({
    "auto": _auto_text,
    "reference": "materialises the (batch, d_in, units) mask and contracts it with einsum: the ground truth",
    "chunked": "draws the mask chunk by chunk of d_in in a loop and again in the backward pass (any stir)",
    "local_reparam": "Gaussian stir: x @ W + sqrt(v (x*x) @ (W*W)) * eps, two matmuls, no mask",
    "partial_reparam": "partial-Gaussian stir: the choice of perturbed connections, then one Gaussian per output",
    "fused": _fused_text,
})


def catalog(kind: str) -> list[dict]:
    """``[{"name", "description", "source"}]`` of one kind, in registration order."""
    from pernode_cli import __version__

    own = f"pernode {__version__}"
    if kind == "variants":
        from pernode_cli.variants import REGISTRY, variant_source

        return [{"name": v.name, "description": v.description, "source": variant_source(v)} for v in REGISTRY.values()]
    if kind == "datasets":
        from pernode_cli.data import DATASETS, dataset_source

        out = [{"name": s.name, "description": s.description or f"input {s.input_shape}, {s.n_outputs} outputs",
                "source": dataset_source(s.name)} for s in DATASETS.values()]
        return out + [{"name": "path/to/file.npz", "description": "your arrays x_train, y_train, x_val, y_val "
                       "(and optionally x_test, y_test)", "source": own}]
    if kind == "backbones":
        from pernode_cli.backbones import BACKBONES, backbone_source

        return [{"name": b.name, "description": b.description, "source": backbone_source(b)} for b in BACKBONES.values()]
    from pernode_cli.training.environment import import_backend

    import_backend()
    if kind == "stirs":
        from pernode_cli.layers.stirs import get_stir, stir_names
        from pernode_cli.sources import source_of

        return [{"name": n, "description": (get_stir(n).__doc__ or "").strip().splitlines()[0] if get_stir(n).__doc__
                 else "", "source": source_of(get_stir(n))} for n in stir_names()]
    from pernode_cli.layers.samplers import SAMPLERS

    return [{"name": n, "description": SAMPLER_TEXT.get(n, ""), "source": own} for n in ["auto", *SAMPLERS]]
