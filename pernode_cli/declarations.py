"""One declaration per setting: a dataclass field whose metadata says how a person gives it.

The library's records (``schema.RunSettings``, ``stats.ranking.RankOptions``,
``training.config.TimeitConfig``) declare their fields with ``option(...)``: the default, the
help, the placeholder, the choices and how a command-line string becomes the value. The
command line builds its options from these fields (``cli.options``), so a new setting is its
declaration and the code that uses it. Nothing here imports the rest of pernode.
"""

from __future__ import annotations

from dataclasses import MISSING, field
from typing import Callable, Optional


def option(default=MISSING, help: str = "", *, metavar: Optional[str] = None, choices: Optional[tuple] = None,
           show_default=None, parse: Optional[Callable] = None, flag: Optional[str] = None, cli: bool = True,
           group: Optional[str] = None, **metadata):
    """A declared field.

    Args:
        default: the default value (``MISSING``: required).
        help: one line for ``--help``.
        metavar: the placeholder (``RATE``, ``LOG``); default: the field's name in capitals.
        choices: the values allowed (shown as ``{a|b}`` and checked by the command line).
        show_default: what ``--help`` shows as the default where the value is None (``"all"``).
        parse: ``parse(text) -> value`` for a value written as one string (``"a,b"`` -> a tuple).
        flag: the option's name when it is not ``--field-name``.
        cli: False for a field no command takes as an option.
        group: a name that joins fields into one command-line shape of their own (``cli.options``
            knows ``"direction"``: ``--maximize`` / ``--minimize``; ``"across"``: two flags).
        metadata: more keys for the record's own use (a run setting's kind, table, identity...).
    """
    meta = dict(metadata, help=help, metavar=metavar, choices=choices, show_default=show_default, parse=parse,
                flag=flag, cli=cli, group=group)
    return field(default=default, metadata=meta)


def comma_list(text) -> Optional[tuple]:
    """``"a, b,c"`` -> ``("a", "b", "c")``; None stays None."""
    if text is None or isinstance(text, (tuple, list)):
        return None if text is None else tuple(text)
    return tuple(part.strip() for part in str(text).split(",") if part.strip())
