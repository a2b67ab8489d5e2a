"""Typer options built from the library's declarations (``pernode_cli.declarations.option``).

``parameters(cls, include)`` turns declared dataclass fields into the parameters of a command
(type, default, choices, help and placeholder from the declaration); ``command(app, name, params,
body)`` registers ``body(**values)`` with those parameters; ``library_values(cls, values)`` turns
what the command line gave into the keywords the library takes (a comma list into a tuple, the
``--maximize`` / ``--minimize`` pair into ``maximize``, the two across flags into ``across``). A
setting declared once is thereby an option of every command that reads its record.
"""

from __future__ import annotations

import inspect
import typing
from dataclasses import MISSING, fields
from typing import Annotated, Literal, Optional

import typer

from pernode_cli.errors import PernodeError


def _hints(cls) -> dict:
    return typing.get_type_hints(cls, include_extras=True)


def _typer_type(hint, choices, parsed: bool = False):
    """The annotation Typer parses: a Literal of the choices, the declared type, or text where the
    declaration parses its value from one string."""
    optional = type(None) in typing.get_args(hint)
    if parsed:
        return Optional[str]
    if choices:
        hint = Literal[tuple(choices)]
        return Optional[hint] if optional else hint
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    if typing.get_origin(hint) is typing.Union and len(args) == 1:
        return Optional[args[0]]
    if hint in (typing.Any, object):
        return Optional[str]
    return hint


def _option(name: str, f, hint) -> inspect.Parameter:
    meta = f.metadata
    flag = meta.get("flag") or "--" + name.replace("_", "-")
    extra = {}
    if meta.get("show_default") is not None:
        extra["show_default"] = meta["show_default"]
    elif f.default is None or f.default is MISSING:
        extra["show_default"] = False
    metavar = meta.get("metavar") or (None if meta.get("choices") else name.upper())
    kind = _typer_type(hint, meta.get("choices"), meta.get("parse") is not None)
    annotation = Annotated[kind, typer.Option(flag, help=meta.get("help", ""), metavar=metavar, **extra)]
    default = inspect.Parameter.empty if f.default is MISSING else f.default
    return inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=annotation)


def _flag(name: str, flag: str, help: str) -> inspect.Parameter:
    return inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=False,
                             annotation=Annotated[bool, typer.Option(flag, help=help)])


GROUPS = {  # a declared group -> its command-line parameters
    "direction": lambda f: [_flag("maximize", "--maximize", "Higher is better; needed for a column whose direction "
                                                             "is not known."),
                            _flag("minimize", "--minimize", "Lower is better; needed for a column whose direction "
                                                             "is not known.")],
    "across": lambda f: [_flag("across_datasets", "--across-datasets", "Also rank across data sets: the data sets are "
                                                                        "the blocks (Demsar 2006)."),
                         _flag("pooled_configurations", "--pooled-configurations", "Also rank the configuration "
                               "blocks of all data sets pooled (tests these configurations, not across data sets).")],
}


def parameters(cls, include: Optional[list] = None, exclude: tuple = ()) -> list[inspect.Parameter]:
    """The command-line parameters of ``cls``'s declared fields (``include``: these, in this order)."""
    hints = _hints(cls)
    by_name = {f.name: f for f in fields(cls) if f.metadata.get("cli", False) and f.name not in exclude}
    names = [n for n in (include or by_name) if n in by_name]
    out = []
    for name in names:
        f = by_name[name]
        group = f.metadata.get("group")
        out += GROUPS[group](f) if group else [_option(name, f, hints[name])]
    return out


def library_values(cls, values: dict) -> dict:
    """The keywords of ``cls`` from the command line's values (declared fields only, parsed)."""
    out = {}
    for f in fields(cls):
        group = f.metadata.get("group")
        if group == "direction" and "maximize" in values:
            if values["maximize"] and values["minimize"]:
                raise PernodeError("`maximize` and `minimize` contradict each other; give one of them, or neither "
                                   "for a metric whose direction is known.")
            out[f.name] = True if values["maximize"] else False if values["minimize"] else None
        elif group == "across" and "across_datasets" in values:
            if values["across_datasets"] and values["pooled_configurations"]:
                raise PernodeError("Give one of `across_datasets` and `pooled_configurations`.")
            out[f.name] = ("datasets" if values["across_datasets"] else "pooled" if values["pooled_configurations"]
                           else None)
        elif f.name in values:
            parse = f.metadata.get("parse")
            out[f.name] = parse(values[f.name]) if parse and values[f.name] is not None else values[f.name]
    return out


def command(app, name: str, params: list, body, help: Optional[str] = None):
    """Register ``body(**values)`` as command ``name`` taking ``params`` (built here or by hand)."""

    def run(**values):
        return body(**values)

    run.__signature__ = inspect.Signature(params)
    run.__annotations__ = {p.name: p.annotation for p in params}
    run.__doc__ = help or body.__doc__
    run.__name__ = name
    return app.command(name)(run)


def argument(name: str, annotation, help: str, metavar: str) -> inspect.Parameter:
    """A positional argument (``LOG...``, ``CONFIG``)."""
    return inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY,
                             annotation=Annotated[annotation, typer.Argument(help=help, metavar=metavar)])


def extra(name: str, annotation, default, help: str, metavar: Optional[str] = None, flag: Optional[str] = None,
          **kwargs) -> inspect.Parameter:
    """An option of one command only (not a record's setting: ``--out``, ``--format``)."""
    flag = flag or "--" + name.replace("_", "-")
    if metavar is None and typing.get_origin(annotation) is not Literal and annotation is not bool:
        metavar = name.upper()
    return inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default,
                             annotation=Annotated[annotation, typer.Option(flag, help=help, metavar=metavar,
                                                                           **kwargs)])
