"""One registry type for everything pernode and its plugins register: variants, data sets,
backbones, stirs, samplers and trackers.

A ``Registry`` maps names to entries (frozen records with ``name``, ``description`` and
``source``). Every registry matches names the same way (exactly, else in any case, plus the
aliases it declares), refuses a taken name unless ``replace=True``, and lists its entries as
``pernode list`` shows them (name, description, source). Plugins register when imported: the
modules of the entry-point group ``pernode.plugins`` (``pernode_cli.plugins``) and, for a
registry that names one, the entry points of its own group (``pernode.trackers``: a tracker
found by its scheme), imported the first time a name is not found.

Importing this module imports nothing heavy.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Callable, Iterator, Optional

from pernode_cli.argchecks import check_name, check_replace, invalid
from pernode_cli.errors import PernodeError


def own_source() -> str:
    """The ``source`` of what pernode itself registers: ``pernode VERSION``."""
    from pernode_cli import __version__

    return f"pernode {__version__}"


class Registry(Mapping):
    """Named entries of one kind (``what``: "variant", "data set", ...), in registration order.

    Args:
        what: the kind's name in messages ("variant").
        plural: its plural ("variants").
        aliases: ``aliases(name) -> [other spellings]`` tried after the name itself
            (``PerNodeBernoulli_F`` for ``PerNodeBernoulli_Fixed``).
        unknown: ``unknown(name, registry) -> Exception`` raised for a name not registered
            (default: a ``PernodeError`` naming the registered ones).
        group: an entry-point group of its own, loaded when a name is not found.
        validate: ``validate(name)`` -> the name, raising for a malformed one (default
            ``argchecks.check_name``).
    """

    def __init__(self, what: str, plural: str, aliases: Optional[Callable] = None,
                 unknown: Optional[Callable] = None, group: Optional[str] = None,
                 validate: Callable = check_name):
        self.what, self.plural, self.group = what, plural, group
        self._aliases, self._unknown, self._validate = aliases, unknown, validate
        self._entries: dict = {}
        self._group_loaded = False

    # -- the mapping: exact names
    def __getitem__(self, name):
        return self._entries[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    # -- registering
    def add(self, entry, replace: bool = False):
        """Register ``entry`` under ``entry.name``; a name taken in any case is refused unless
        ``replace`` (then the earlier entry goes, whatever its case)."""
        name = self._validate(entry.name)
        check_replace(replace)
        clash = self._find(name)
        if clash is not None and not replace:
            raise ValueError(
                f"Invalid value received for argument `name`. A {self.what} named {clash!r} is already registered; "
                f"pass replace=True to replace it. Received: name={name!r}"
            )
        if clash is not None:
            del self._entries[clash]
        self._entries[name] = entry
        return entry

    # -- finding
    def _find(self, name) -> Optional[str]:
        """The registered spelling of ``name``: exact, else in any case, else an alias's."""
        if name in self._entries:
            return name
        text = str(name).strip()
        folded = {k.lower(): k for k in self._entries}
        for candidate in [text, *(self._aliases(text) if self._aliases else ())]:
            if candidate in self._entries:
                return candidate
            if candidate.lower() in folded:
                return folded[candidate.lower()]
        return None

    def canonical(self, name) -> str:
        """The registered spelling of ``name``; an unknown name raises (``unknown``)."""
        found = self._find(name)
        if found is None and self.group and not self._group_loaded:
            self.load_group()
            found = self._find(name)
        if found is None:
            if self._unknown is not None:
                raise self._unknown(name, self)
            raise PernodeError(f"Unknown {self.what} {name!r}. Valid {self.plural}: {', '.join(self._entries)}.")
        return found

    def lookup(self, name):
        """The entry of ``name`` (matched as ``canonical`` matches it)."""
        return self._entries[self.canonical(name)]

    def load_group(self) -> list:
        """Import the entry points of this registry's own group (once); returns their names."""
        self._group_loaded = True
        if not self.group:
            return []
        from importlib.metadata import entry_points

        from pernode_cli.plugins import load_entry_point

        loaded = []
        for ep in entry_points(group=self.group):
            if self._find(ep.name) is None:
                load_entry_point(ep)
                loaded.append(ep.name)
        return loaded

    def snapshot(self) -> dict:
        """The entries now (``restore`` puts them back: tests that register undo it)."""
        return dict(self._entries)

    def restore(self, snapshot: dict) -> None:
        self._entries = dict(snapshot)

    def rows(self) -> list[dict]:
        """``[{"name", "description", "source"}]`` in registration order (``pernode list``)."""
        own = own_source()
        return [{"name": e.name, "description": e.description, "source": e.source or own}
                for e in self._entries.values()]

    def source_of(self, name) -> str:
        """Where entry ``name`` came from: its plugin's source, or ``pernode VERSION``."""
        return self.lookup(name).source or own_source()


def check_entry_name(name) -> str:
    """A name of a stir or sampler: a non-empty str of letters, digits and ``_``."""
    if not isinstance(name, str) or not name or not name.replace("_", "a").isalnum():
        raise invalid("name", "a non-empty str of letters, digits and '_'", name)
    return name
