"""mkdocs hooks: the parts of the site that describe code are generated from that code.

A page asks for a generated block with a placeholder comment on a line of its own::

    <!-- pernode:options train -->      the options table of `pernode train` (from the Typer app)
    <!-- pernode:commands -->           every command, its summary and its page
    <!-- pernode:root-options -->       the options of `pernode` itself (--version, completion, -h)
    <!-- pernode:schema-columns -->     the training log's columns (``schema.EpochRow``)
    <!-- pernode:schema-settings -->    the run settings (``schema.RunSettings``)
    <!-- pernode:schema-versions -->    ``SCHEMA_VERSION``, ``TIMING_SCHEMA_VERSION``, ``KNOWN_HEADERS``
    <!-- pernode:schema-derived -->     block, mixed-settings and later-settings columns
    <!-- pernode:schema-timing -->      the timing log's columns (``schema.TimingRecord``)
    <!-- pernode:rank-options -->       the keywords of ``pernode_cli.rank`` (``RankOptions``)
    <!-- pernode:record MODULE:CLASS --> the fields of a record (a dataclass)
    <!-- pernode:returns NAME -->       the fields of the record ``pernode_cli.NAME(...)`` returns
    <!-- pernode:public -->             ``pernode_cli``'s public names and their signatures
    <!-- pernode:modules -->            every module and package of ``pernode_cli``: its docstring's summary

The command tables come from ``typer.main.get_command(app)``: every parameter's name, placeholder,
default and help as ``--help`` prints them. The schema tables come from the fields of
``pernode_cli/schema.py`` and their declared ``Cell`` rules. Nothing here imports TensorFlow or
Keras: signatures of the public names are read from their source (``ast``), not imported.

An unknown placeholder stops the build; a command without its page, a command page without its
table and a public name the API page does not mention are warnings, which ``mkdocs build
--strict`` turns into a failed build.
"""

from __future__ import annotations

import ast
import dataclasses
import html
import logging
import re
import sys
import typing
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # build from a checkout without installing it
    sys.path.insert(0, str(ROOT))

log = logging.getLogger("mkdocs.hooks.pernode")

PLACEHOLDER = re.compile(r"^<!--[ \t]*pernode:([a-z-]+)(?:[ \t]+(\S+))?[ \t]*-->[ \t]*$", re.MULTILINE)
COMMAND_PAGE = "commands/{}.md"
API_PAGE = "api.md"


# --- text --------------------------------------------------------------------------------------


_LITERAL = re.compile(r"``(.+?)``|`([^`]+)`")


def _escaped(value: str) -> str:
    out = html.escape(value, quote=False)
    for char in "\\|*_`[]":
        out = out.replace(char, "\\" + char)
    return out


def text(value) -> str:
    """Text for a Markdown table cell: literals (``x`` or `x`) as code spans, the rest with HTML,
    pipes and emphasis characters escaped."""
    value = " ".join(str(value).split())
    out, at = [], 0
    for match in _LITERAL.finditer(value):
        out += [_escaped(value[at:match.start()]), code(match.group(1) or match.group(2))]
        at = match.end()
    return "".join(out + [_escaped(value[at:])])


def code(value) -> str:
    """A code span for a table cell (pipes inside a code span do not split cells)."""
    value = " ".join(str(value).split())
    fence = "``" if "`" in value else "`"
    pad = " " if "`" in value else ""
    return f"{fence}{pad}{value}{pad}{fence}"


def table(header: list, rows: list) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cells) + " |" for cells in rows]
    return "\n".join(lines)


def shown(value) -> str:
    """A default as a person reads it."""
    if value is None:
        return ""
    if value is dataclasses.MISSING:
        return "required"
    if value == "":
        return "empty"
    if isinstance(value, float) and value != value:
        return "nan"
    return repr(value) if isinstance(value, str) else str(value)


# --- the command line --------------------------------------------------------------------------


def _click():
    import typer
    from typer.main import get_command

    from pernode_cli.cli import app

    try:
        from typer import _click as click  # typer >= 0.20 carries its own click
    except ImportError:  # pragma: no cover - older typer
        import click
    group = get_command(app)
    root = click.Context(group, info_name="pernode", **(group.context_settings or {}))
    return typer, click, group, root


def _choices(param) -> tuple:
    choices = getattr(getattr(param, "type", None), "choices", None)
    if choices:
        return tuple(choices)
    descriptor = getattr(param, "type_descriptor", None)
    annotation = getattr(descriptor, "annotation", None)
    if typing.get_origin(annotation) is typing.Literal:
        return typing.get_args(annotation)
    return ()


_DEFAULT = re.compile(r"\s*\[default: (.*?)\]\s*$")
_REQUIRED = re.compile(r"\s*\[required\]\s*$")


def param_rows(command, ctx) -> list:
    """``[(name, default, help)]`` of every parameter of ``command``, as ``--help`` words them."""
    rows = []
    for param in command.get_params(ctx):
        if getattr(param, "hidden", False):
            continue
        if param.param_type_name == "argument":
            name = param.metavar or param.name.upper()
            choices = _choices(param)
            if choices:
                name = f"{name} <{'|'.join(choices)}>"
            name += "..." if param.nargs == -1 else ""
            default = "required" if param.required else (
                param.show_default if isinstance(param.show_default, str) else shown(param.default) or "none")
            rows.append((name, default, param.help or ""))
            continue
        record = param.get_help_record(ctx)
        if record is None:
            continue
        name, help_text = record
        default = ""
        match = _DEFAULT.search(help_text)
        if match:
            default, help_text = match.group(1).strip("()"), help_text[:match.start()]
        if _REQUIRED.search(help_text):
            default, help_text = "required", _REQUIRED.sub("", help_text)
        if getattr(param, "multiple", False):
            help_text = help_text if "repeatable" in help_text.lower() else help_text + " (repeatable)"
        rows.append((name, default, help_text))
    return rows


def options_block(name: str) -> str:
    _, click, group, root = _click()
    command = group.commands.get(name)
    if command is None:
        raise ValueError(f"docs: no command {name!r} (commands: {', '.join(sorted(group.commands))})")
    ctx = click.Context(command, info_name=name, parent=root)
    usage = " ".join(["pernode", name, *command.collect_usage_pieces(ctx)]).replace("{", "").replace("}", "")
    rows = [(code(n), text(d) if d else "", text(h)) for n, d, h in param_rows(command, ctx)]
    summary = command.get_short_help_str(limit=500)
    return "\n".join([f"```text\n{usage}\n```", "", text(summary), "",
                      table(["option", "default", "what it does"], rows), ""])


def root_options_block() -> str:
    _, click, group, root = _click()
    rows = [(code(n), text(d) if d else "", text(h)) for n, d, h in param_rows(group, root)]
    return table(["option", "default", "what it does"], rows)


def commands_block(page_urls: dict) -> str:
    _, _, group, _ = _click()
    rows = []
    for name in sorted(group.commands):
        command = group.commands[name]
        page = COMMAND_PAGE.format(name)
        link = f"[`pernode {name}`]({Path(page).name})" if page in page_urls else code(f"pernode {name}")
        rows.append((link, text(command.get_short_help_str(limit=500))))
    return table(["command", "what it does"], rows)


def command_names() -> list:
    _, _, group, _ = _click()
    return sorted(group.commands)


# --- the schema --------------------------------------------------------------------------------

# What a column means, in words (the settings' own help is used for the settings). The rest of
# each row (role, type, the cell rule, default) is read from the column's declaration.
MEANING = {
    "run_id": "deterministic id from the run's settings: the variant and a hash of the identity settings",
    "attempt": "1, or 1 + the earlier (interrupted) attempts of this run in the log",
    "epoch": "epoch number, from 1",
    "timestamp": "UTC time the epoch's row was written (ISO 8601)",
    "data_fingerprint": "what the data are: NAME@VERSION for a registered data set (+dir:HASH of its files "
                        "when read from --data-dir), npz:HASH of an .npz file's bytes",
    "split": "how train, validation and test were split (sizes, stratification, seed)",
    "train_samples": "training samples used (the seeded stratified subset when max_train_samples cuts)",
    "realised_rate": "the drop probability that ran: for Bernoulli masks (PerNodeBernoulli, DropConnect) the "
                     "15-bit threshold's, within 1.5e-5 of rate; rate itself otherwise",
    "val_loss": "validation loss, inference mode",
    "val_acc": "validation accuracy, inference mode",
    "test_loss": "loss on the held-out test split (empty where the data have none)",
    "test_acc": "accuracy on the held-out test split (empty where the data have none)",
    "train_loss": "the paper's epoch-end training loss: the updated model evaluated in inference mode on the "
                  "whole training set after the epoch",
    "train_acc": "the epoch-end training accuracy, as train_loss",
    "fit_loss": "the running loss Keras reports during the epoch (noise on, weights changing)",
    "fit_acc": "the running accuracy Keras reports during the epoch",
    "val_ece": "expected calibration error of the validation predictions (15 equal-width bins)",
    "val_brier": "Brier score of the validation predictions",
    "mc_passes": "Monte Carlo passes run (1 for deterministic variants; empty when mc_samples is 0)",
    "mc_val_loss": "validation loss of the mean of the MC passes' probabilities (empty when off)",
    "mc_val_acc": "validation accuracy of the mean of the MC passes' probabilities (empty when off)",
    "mc_val_ece": "validation ECE of the mean of the MC passes' probabilities (empty when off)",
    "epoch_seconds": "wall time of the epoch's training pass only (no evaluation), the clock read after waiting "
                     "for the device at both ends; the same clock in train, sweep and timeit",
    "status": "ok, or nonfinite when a loss was NaN or infinite (the run stops, exit code 1)",
    "run_end": "on the attempt's last row only, why it ended: epochs (all of them), patience (early stopping) or "
               "nonfinite; empty on other rows. A run is finished when the log holds this row",
    "module_params": "trainable parameters of the regularization module (the paper's fairness rule: equal for "
                     "every variant at one width)",
    "sources": "where the variant, data set and backbone came from: pernode VERSION, or a plugin's "
               "'mypkg 1.3 (module mypkg.regs, sha256:...)'",
    "sampler": "the PerNodeDense sampler that ran (empty for other variants)",
    "backend": "Keras backend",
    "backend_version": "the backend's version",
    "device": "accelerator name, or CPU",
    "machine": "OS, CPU count, Python",
    "pernode_version": "version of pernode that wrote the row",
    "schema_version": "version of this column layout (SCHEMA_VERSION)",
}


def _type_name(annotation) -> str:
    if isinstance(annotation, str):
        return annotation.replace("Optional[", "").rstrip("]") + (" or empty" if "Optional" in annotation else "")
    if typing.get_origin(annotation) is typing.Union:
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        return " or ".join(getattr(a, "__name__", str(a)) for a in args) + " or empty"
    return getattr(annotation, "__name__", str(annotation))


def schema_columns_block() -> str:
    from pernode_cli import schema

    settings = {f.name: f for f in schema.SETTINGS}
    rows = []
    for f in dataclasses.fields(schema.EpochRow):
        cell = f.metadata["cell"]
        rule = cell.expected() + ("; never empty" if cell.required else "")
        if f.name in settings:
            meaning = settings[f.name].metadata["help"]
        else:
            meaning = MEANING.get(f.name, "")
        default = f.default if f.default is not dataclasses.MISSING else dataclasses.MISSING
        rows.append((code(f.name), text(f.metadata["role"]), text(_type_name(f.type)), text(rule),
                     text(shown(default) or "empty"), text(meaning)))
    missing = [f.name for f in dataclasses.fields(schema.EpochRow) if f.name not in settings and f.name not in MEANING]
    if missing:
        log.warning("docs/hooks.py: no meaning written for the log column(s) %s; add them to MEANING",
                    ", ".join(missing))
    return table(["column", "role", "type", "a cell holds", "default", "meaning"], rows)


def _sweep_place(meta, name) -> str:
    where = meta["table"]
    if where is None:
        return "not in a config"
    key = meta["key"] or name
    if where == "":
        return f"{key} (top level)"
    return f"[{where}] {key}" + (" (a list)" if where == "grid" else "")


def schema_settings_block() -> str:
    from pernode_cli import schema

    rows = []
    for f in schema.SETTINGS:
        m = f.metadata
        identity = {True: "yes", False: "no", "nondefault": "where not the default"}[m["identity"]]
        default = m["show_default"] if f.default is None and m.get("show_default") else shown(f.default)
        rows.append((code(f.name), text(default), text(m["kind"]), text(_sweep_place(m, f.name)), text(identity),
                     "yes" if m["block"] else "no", "yes" if m["mixed"] else "no", text(m["help"])))
    return table(["setting", "default", "kind", "sweep config", "run identity", "block", "mix pointed out",
                  "help"], rows)


def schema_versions_block() -> str:
    from pernode_cli import schema

    current = tuple(schema.TRAIN_COLUMNS)
    rows = []
    previous = None
    for version, header in schema.KNOWN_HEADERS:
        if previous is None:
            change = "first layout"
        else:
            added = [c for c in header if c not in previous]
            dropped = [c for c in previous if c not in header]
            change = "; ".join(filter(None, [
                ("adds " + ", ".join(added)) if added else "",
                ("drops " + ", ".join(dropped)) if dropped else "",
                "columns reordered" if not added and not dropped and header != previous else ""])) or "same columns"
        role = "written by new logs; read and appended to" if header == current else "read, not appended to"
        rows.append((text(version), text(len(header)), text(change), text(role)))
        previous = header
    return "\n".join([
        f"- `SCHEMA_VERSION` = **{schema.SCHEMA_VERSION}** (the training log), "
        f"`TIMING_SCHEMA_VERSION` = **{schema.TIMING_SCHEMA_VERSION}** (the timing log).",
        f"- `KNOWN_HEADERS`: {len(schema.KNOWN_HEADERS)} training-log headers pernode has written, each with its "
        "schema version; a header inside a log is recognised whatever its schema, and every row must carry the "
        "version of its log's header.",
        "",
        table(["schema", "columns", "change from the header above", "pernode today"], rows),
        ""])


def schema_derived_block() -> str:
    from pernode_cli import schema

    later = ", ".join(f"`{k}` (default {shown(v)})" for k, v in schema.LATER_SETTINGS.items()) or "none"
    return "\n".join([
        "- **Block columns** (`BLOCK_COLUMNS`: with the data set, they tell configuration blocks apart): "
        + ", ".join(f"`{c}`" for c in schema.BLOCK_COLUMNS) + ".",
        "- **Columns whose mix among ranked rows is pointed out** (`MIXED_COLUMNS`): "
        + ", ".join(f"`{c}`" for c in schema.MIXED_COLUMNS) + ".",
        "- **Settings added after schema 4** (`LATER_SETTINGS`: in the run id only where not at their default, "
        "so older logs keep their run ids and are read with the column at its default): " + later + ".",
        "- **Roles** (`COLUMN_ROLES`): " + "; ".join(
            f"{role}: " + ", ".join(f"`{c}`" for c, r in schema.COLUMN_ROLES.items() if r == role)
            for role in dict.fromkeys(schema.COLUMN_ROLES.values())) + ".",
        ""])


def schema_timing_block() -> str:
    from pernode_cli import schema

    rows = []
    for f in dataclasses.fields(schema.TimingRecord):
        default = "[]" if f.default_factory is list else shown(f.default)
        header = f.metadata.get("header") or ""
        rows.append((code(f.name), text(_type_name(f.type)), text(default or "empty"), text(header)))
    doc = " ".join((schema.TimingRecord.__doc__ or "").split())
    return "\n".join([text(doc), "", table(["column", "type", "default", "table heading"], rows)])


# --- the Python API ----------------------------------------------------------------------------


def rank_options_block() -> str:
    from pernode_cli.stats.ranking.options import RankOptions

    rows = []
    for f in dataclasses.fields(RankOptions):
        m = f.metadata
        values = " \\| ".join(code(c) for c in m["choices"]) if m.get("choices") else ""
        rows.append((code(f.name), text(shown(f.default)) if f.default is not None else "None", values,
                     text(m["help"])))
    return table(["keyword", "default", "values", "what it does"], rows)


def record_block(target: str) -> str:
    import importlib

    module, _, name = target.partition(":")
    cls = getattr(importlib.import_module(module), name)
    if not dataclasses.is_dataclass(cls):
        raise ValueError(f"docs: {target} is not a dataclass")
    rows = []
    for f in dataclasses.fields(cls):
        default = ("[]" if f.default_factory is list else "{}" if f.default_factory is dict
                   else "None" if f.default is None
                   else shown(f.default) if f.default is not dataclasses.MISSING else "required")
        rows.append((code("." + f.name), text(_type_name(f.type)), text(default)))
    doc = " ".join((cls.__doc__ or "").split())
    if doc.startswith(f"{cls.__name__}("):  # the signature dataclasses write where no docstring is
        doc = ""
    return "\n".join(([text(doc), ""] if doc else []) + [table(["attribute", "type", "default"], rows), ""])


def returns_block(name: str) -> str:
    """The record a public function returns, found from its return annotation."""
    import importlib

    if name not in public_names():
        raise ValueError(f"docs: pernode_cli has no public name {name!r}")
    module, attr = public_names()[name]
    function = getattr(importlib.import_module(module), attr)
    returned = typing.get_type_hints(function).get("return")
    if returned is None or not dataclasses.is_dataclass(returned):
        raise ValueError(f"docs: pernode_cli.{name} declares no dataclass it returns")
    return record_block(f"{returned.__module__}:{returned.__qualname__}")


def public_names() -> dict:
    import pernode_cli

    return dict(pernode_cli._PUBLIC)


def _signature(module: str, attr: str):
    """``(signature, first doc line)`` of ``module.attr`` from its source, or None (not a function)."""
    path = ROOT.joinpath(*module.split("."))
    path = path / "__init__.py" if path.is_dir() else path.with_suffix(".py")
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == attr:
            returns = f" -> {ast.unparse(node.returns)}" if node.returns else ""
            doc = (ast.get_docstring(node) or "").strip().split("\n\n")[0]
            return f"{attr}({ast.unparse(node.args)}){returns}", " ".join(doc.split())
        if isinstance(node, ast.ClassDef) and node.name == attr:
            doc = (ast.get_docstring(node) or "").strip().split("\n\n")[0]
            return f"class {attr}", " ".join(doc.split())
    return None


def public_block() -> str:
    rows = []
    for name, (module, attr) in public_names().items():
        found = _signature(module, attr)
        if found is None:
            rows.append((code(f"pernode_cli.{name}"), code(f"{module}.{attr}"), "a constant"))
        else:
            sig, doc = found
            rows.append((code(f"pernode_cli.{sig.replace(attr + '(', name + '(', 1)}"), code(f"{module}.{attr}"),
                         text(doc)))
    return table(["name", "defined in", "what it is"], rows)


def modules_block() -> str:
    rows = []
    for path in sorted((ROOT / "pernode_cli").iterdir()):
        source = path / "__init__.py" if path.is_dir() else path
        if path.name.startswith("_") or source.suffix != ".py" or not source.is_file():
            continue
        doc = (ast.get_docstring(ast.parse(source.read_text(encoding="utf-8"))) or "").strip().split("\n\n")[0]
        name = f"pernode_cli/{path.name}" + ("/" if path.is_dir() else "")
        rows.append((code(name), text(" ".join(doc.split()))))
    return table(["path", "what lives there"], rows)


# --- the hooks ---------------------------------------------------------------------------------


def on_page_markdown(markdown, page, config, files, **kwargs):
    src = page.file.src_uri
    urls = {f.src_uri for f in files}

    def generate(match):
        kind, arg = match.group(1), match.group(2)
        if kind == "options":
            return options_block(arg)
        if kind == "root-options":
            return root_options_block()
        if kind == "commands":
            return commands_block(urls)
        if kind == "record":
            return record_block(arg)
        if kind == "returns":
            return returns_block(arg)
        makers = {"schema-columns": schema_columns_block, "schema-settings": schema_settings_block,
                  "schema-versions": schema_versions_block, "schema-derived": schema_derived_block,
                  "schema-timing": schema_timing_block, "rank-options": rank_options_block,
                  "public": public_block, "modules": modules_block}
        if kind not in makers:
            raise ValueError(f"docs: unknown placeholder 'pernode:{kind}' in {src}")
        return makers[kind]()

    for name in command_names():
        if src == COMMAND_PAGE.format(name) and not re.search(rf"<!--\s*pernode:options\s+{name}\s*-->", markdown):
            log.warning("%s has no '<!-- pernode:options %s -->' table", src, name)
    if src == API_PAGE:
        for name in public_names():
            if name not in markdown:
                log.warning("%s does not mention pernode_cli.%s", src, name)
    return PLACEHOLDER.sub(lambda match: generate(match).rstrip("\n") + "\n", markdown)


def on_files(files, config, **kwargs):
    have = {f.src_uri for f in files}
    for name in command_names():
        if COMMAND_PAGE.format(name) not in have:
            log.warning("the command `pernode %s` has no page %s", name, COMMAND_PAGE.format(name))
    return files
