"""A named registry: field types, expression functions, triggers and actions register here.

Built-in entries register through the same call an extension would use, so adding
one is a single registration (the Datasette/pluggy lesson) instead of edits in
several modules.
"""
from __future__ import annotations

import difflib
from typing import Callable, Generic, Iterator, TypeVar

T = TypeVar("T")


class Registry(Generic[T]):
    """A mapping of unique names to registered objects."""

    def __init__(self, kind: str):
        self.kind = kind
        self._items: dict[str, T] = {}

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator registering `obj` under `name`; duplicate names are a bug."""
        def decorator(obj: T) -> T:
            if name in self._items:
                raise ValueError(f"{self.kind} {name!r} is already registered")
            self._items[name] = obj
            return obj
        return decorator

    def add(self, name: str, obj: T) -> T:
        """Register `obj` under `name` without decorator syntax."""
        return self.register(name)(obj)

    def get(self, name: str) -> T:
        """The object registered as `name`; KeyError with a suggestion otherwise."""
        try:
            return self._items[name]
        except KeyError:
            raise KeyError(self.unknown_message(name)) from None

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def names(self) -> list[str]:
        """Registered names in registration order."""
        return list(self._items)

    def items(self):
        """(name, object) pairs in registration order."""
        return self._items.items()

    def suggest(self, name: str) -> str | None:
        """The closest registered name, for "did you mean" messages."""
        match = difflib.get_close_matches(str(name), self._items, n=1, cutoff=0.6)
        return match[0] if match else None

    def unknown_message(self, name: str) -> str:
        """A message for an unknown name, with a suggestion when one is close."""
        hint = self.suggest(name)
        msg = f"{name!r} is not a {self.kind}"
        return f"{msg} (did you mean {hint!r}?)" if hint else msg
