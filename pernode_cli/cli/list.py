"""`pernode list`: every registered variant, data set, backbone, stir and sampler, with its
description and where it came from (pernode, or a plugin's package and module)."""

from __future__ import annotations

from typing import Annotated, Literal, Optional

import typer

from pernode_cli.catalog import KINDS
from pernode_cli.cli.app import PluginOpt, app


@app.command(name="list")
def list_(
    kind: Annotated[Optional[Literal[KINDS]], typer.Argument(help="What to list (default: variants, datasets and backbones).", show_default=False)] = None,
    plugin: PluginOpt = None,
) -> None:
    """List what pernode can run: variants, data sets, backbones, stirs and samplers, with their sources."""
    from rich.console import Console

    from pernode_cli.catalog import catalog
    from pernode_cli.plugins import load_plugins
    from pernode_cli.report.document import Heading, Table, print_rich

    load_plugins(plugin or ())
    blocks = []
    for k in [kind] if kind else ["variants", "datasets", "backbones"]:
        rows = tuple({"Name": r["name"], "Description": r["description"], "Source": r["source"]} for r in catalog(k))
        blocks += [Heading(2, k.capitalize()), Table(rows)]
    print_rich(blocks, Console(highlight=False))
