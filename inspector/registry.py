"""One registry mechanism: named things of one kind, in declared order, each loaded on first use.

Log readers (`runlog.registry.READERS`), console-log dialects (`runlog.text_dialects.DIALECTS`), detector
adapters (`adapters.ADAPTERS`) and CLI commands (`cli.COMMANDS`) are each a `Registry`. An entry is either
the thing itself (`add`) or where to import it from (`declare("package.module")` for a module,
`"package.module:attribute"` for an object in it), so a registry can list its names without importing
heavy modules. `listing()` says what each entry is, in the registry's own words.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Generic, TypeVar, cast

from inspector.errors import InspectorError

T = TypeVar("T")


@dataclass
class Entry(Generic[T]):
    """One registered name: the thing, or the dotted path it is imported from on first use."""

    name: str
    target: str | None = None  # "package.module" or "package.module:attribute"
    thing: T | None = None

    def load(self) -> T:
        """The registered thing, imported on the first call."""
        if self.thing is None:
            assert self.target is not None
            module_name, _, attribute = self.target.partition(":")
            loaded: object = importlib.import_module(module_name)
            for part in attribute.split(".") if attribute else ():
                loaded = getattr(loaded, part)
            self.thing = cast(T, loaded)
        return self.thing


def doc_summary(thing: object) -> str:
    """The first paragraph of `thing`'s docstring on one line ("" when it has none)."""
    doc = (getattr(thing, "__doc__", None) or "").strip()
    return " ".join(doc.split("\n\n", 1)[0].split())


class Registry(Generic[T]):
    """Things of one kind by name, in the order they were declared (which may be an order of preference).

    `kind` names the kind in messages ("log format", "adapter"); `describe(thing)` gives the line
    `listing()` shows for it (by default the first paragraph of its docstring).
    """

    def __init__(self, kind: str, describe: Callable[[T], str] = doc_summary) -> None:
        self.kind = kind
        self._describe = describe
        self._entries: dict[str, Entry[T]] = {}

    def declare(self, name: str, target: str) -> None:
        """Registers `name` as the module or object at `target`, imported when first used."""
        self._put(Entry(name, target=target))

    def add(self, name: str, thing: T) -> None:
        """Registers `name` as `thing`, replacing an earlier entry of that name."""
        self.remove(name)
        self._put(Entry(name, thing=thing))

    def remove(self, name: str) -> None:
        """Forgets `name` (an adapter registered for a while); no error when it is not registered."""
        self._entries.pop(name, None)

    def _put(self, entry: Entry[T]) -> None:
        if entry.name in self._entries:
            raise ValueError(f"{self.kind} {entry.name!r} is registered twice")
        self._entries[entry.name] = entry

    def names(self) -> tuple[str, ...]:
        """The registered names, in declared order (nothing is imported)."""
        return tuple(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[tuple[str, T]]:
        """(name, thing) for every entry, in declared order; imports what was declared by path."""
        return ((name, entry.load()) for name, entry in self._entries.items())

    def get(self, name: str) -> T:
        """The thing registered as `name`; InspectorError naming the choices when there is none."""
        entry = self._entries.get(name)
        if entry is None:
            raise InspectorError(f"unknown {self.kind} {name!r}; choose one of {', '.join(self._entries)}")
        return entry.load()

    def listing(self) -> dict[str, str]:
        """{name: one line on what it is}, in declared order."""
        return {name: self._describe(thing) for name, thing in self}
