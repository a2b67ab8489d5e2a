"""The import contract: data flow one way (command -> library -> records -> rendering), with no
import cycle among pernode's modules, function-level imports included, and no module of the
lower layers importing the upper ones. Read from the source (the AST), not by importing."""

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "pernode_cli"
LOWER = ("pernode_cli.stats", "pernode_cli.layers", "pernode_cli.schema", "pernode_cli.logs")
UPPER = ("pernode_cli.rendering", "pernode_cli.cli", "pernode_cli.export")
# Modules that only the command line and the Python API may import (rendering and tracking).
ROOT_ONLY = ("pernode_cli.rendering", "pernode_cli.cli")


def _modules() -> dict:
    out = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = path
    return out


MODULES = _modules()


def _target(name: str):
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def _imports(name: str, path: Path) -> set:
    """Every pernode module ``name`` imports, anywhere in its body (``from P import sub``: the submodule)."""
    found = set()
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {_target(a.name) for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join(up + ([node.module] if node.module else []))
            subs = {f"{base}.{a.name}" for a in node.names if f"{base}.{a.name}" in MODULES}
            found |= subs
            if len(subs) < len(node.names):
                found.add(_target(base))
    return {m for m in found if m and m.startswith("pernode_cli") and m != name}


GRAPH = {name: _imports(name, path) for name, path in MODULES.items()}


def _cycles() -> list:
    """Strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in GRAPH[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(GRAPH):
        if v not in index:
            visit(v)
    return out


def test_no_import_cycle_among_pernodes_modules():
    assert _cycles() == []


def test_the_lower_layers_never_import_the_upper_ones():
    upward = {name: sorted(d for d in deps if d.startswith(UPPER))
              for name, deps in GRAPH.items() if name.startswith(LOWER)}
    assert {k: v for k, v in upward.items() if v} == {}


def test_rendering_and_commands_are_imported_only_from_above():
    allowed = ("pernode_cli.cli", "pernode_cli.rendering", "pernode_cli.api", "pernode_cli.__main__")
    wrong = {name: sorted(d for d in deps if d.startswith(ROOT_ONLY))
             for name, deps in GRAPH.items() if not name.startswith(allowed) and name != "pernode_cli"}
    assert {k: v for k, v in wrong.items() if v} == {}


def test_the_contract_sees_function_level_imports():
    # stats.ranking.designs imports stats.effects inside a function: the graph must hold that edge.
    assert "pernode_cli.stats.effects" in GRAPH["pernode_cli.stats.ranking.designs"]
    assert len(MODULES) > 60
