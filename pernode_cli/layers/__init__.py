"""Backend-agnostic Keras 3 regularizer layers."""

from pernode_cli.layers.dropconnect_dense import DropConnectDense
from pernode_cli.layers.fused import kernel_info as fused_kernel_info
from pernode_cli.layers.mask_ensemble import MaskEnsemble, ensemble_masks
from pernode_cli.layers.pernode_dense import PerNodeDense
from pernode_cli.layers.samplers import SAMPLERS
from pernode_cli.layers.stirs import get_stir, register_stir, stir_names
from pernode_cli.layers.wan_dropconnect_dense import WanDropConnectDense

__all__ = [
    "DropConnectDense",
    "MaskEnsemble",
    "PerNodeDense",
    "SAMPLERS",
    "ensemble_masks",
    "fused_kernel_info",
    "get_stir",
    "register_stir",
    "stir_names",
    "WanDropConnectDense",
]
