"""Name -> implementation registries: models, losses, datasets and metrics are looked up here."""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

from gankit.errors import GankitError, did_you_mean

T = TypeVar("T")


class Registry(Generic[T]):
    """A named collection filled by decorators, e.g. ``@MODELS.register("dcgan")``."""

    def __init__(self, kind: str, list_command: str):
        self.kind = kind
        self.list_command = list_command
        self._items: dict[str, T] = {}

    def register(self, name: str) -> Callable[[T], T]:
        def add(item: T) -> T:
            if name in self._items:
                raise ValueError(f"{self.kind} '{name}' is registered twice")
            self._items[name] = item
            return item

        return add

    def get(self, name: str) -> T:
        try:
            return self._items[name]
        except KeyError:
            raise GankitError(
                f"unknown {self.kind} '{name}'",
                f"{did_you_mean(name, list(self._items))} (see `gankit {self.list_command}`)",
            ) from None

    def names(self) -> list[str]:
        return list(self._items)

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def items(self):
        return self._items.items()
