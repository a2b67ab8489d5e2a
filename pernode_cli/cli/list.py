"""`pernode list`: every registered variant, data set, backbone, stir, sampler and tracker, with
its description and where it came from (pernode, or a plugin's package and module)."""

from __future__ import annotations

from typing import Annotated, Literal, Optional

import typer

from pernode_cli.catalog import KINDS
from pernode_cli.cli.app import PluginOpt, app


@app.command(name="list")
def list_(
    kind: Annotated[Optional[Literal[KINDS]], typer.Argument(
        help="What to list.", show_default="variants, datasets and backbones")] = None,
    plugin: PluginOpt = None,
    format: Annotated[Literal["table", "json"], typer.Option(
        help="table: one table per kind; json: {kind: [{name, description, source}]} as one JSON document.")
    ] = "table",
) -> None:
    """List what pernode can run: variants, data sets, backbones, stirs, samplers and trackers, with their sources."""
    from pernode_cli.catalog import catalog
    from pernode_cli.plugins import load_plugins

    load_plugins(plugin or ())
    kinds = [kind] if kind else ["variants", "datasets", "backbones"]
    if format == "json":
        import json

        typer.echo(json.dumps({k: [{"name": r["name"], "description": r["description"], "source": r["source"]}
                                   for r in catalog(k)] for k in kinds}, indent=2))
        return
    from rich.console import Console

    from pernode_cli.rendering.document import Heading, Table, print_rich

    blocks = []
    for k in kinds:
        rows = tuple({"Name": r["name"], "Description": r["description"], "Source": r["source"]} for r in catalog(k))
        blocks += [Heading(2, k.capitalize()), Table(rows)]
    print_rich(blocks, Console(highlight=False))
