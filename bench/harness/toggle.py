"""Switch an instrumentation's patches off and on again, whatever library made them.

Snapshot every attribute of the SDK's modules (and of the classes defined in them) before and
after instrumenting, and swap the ones that changed. With the patches off, the same process runs
the bare SDK call: a paired control measured under the same conditions (interpreter, memory
layout, CPU state) as the instrumented call, batch by batch.
"""

from __future__ import annotations

import sys
import types
from collections.abc import Iterator
from typing import Any

_ABSENT = object()


class PatchToggle:
    def __init__(self, prefixes: tuple[str, ...], skip: tuple[str, ...] = ()) -> None:
        # prefixes: the modules an instrumentation may patch; skip: module trees none patches
        # (an SDK's thousands of response-model classes).
        self.prefixes = prefixes
        self.skip = skip
        self.before = self._snapshot()
        self.changes: list[tuple[Any, str, Any, Any]] = []

    def _owners(self) -> Iterator[Any]:
        for name, module in list(sys.modules.items()):
            if module is None or not name.startswith(self.prefixes) or (self.skip and name.startswith(self.skip)):
                continue
            yield module
            for value in list(vars(module).values()):
                # type(), not isinstance(): an SDK's lazy proxies would import on __class__.
                if issubclass(type(value), type) and vars(value).get("__module__") == name:
                    yield value

    def _snapshot(self) -> dict[tuple[int, str], tuple[Any, Any]]:
        out = {}
        for owner in self._owners():
            for key, value in list(vars(owner).items()):
                out[(id(owner), key)] = (owner, value)
        return out

    def capture(self) -> None:
        known_owners = {owner_id for owner_id, _ in self.before}
        for key, (owner, value) in self._snapshot().items():
            name = key[1]
            if key[0] not in known_owners or issubclass(type(value), (types.ModuleType, type)):
                continue  # a module imported since, a submodule bound on its package, a lazy export
            if name.startswith(("__pydantic", "__signature__")):
                continue  # pydantic completing a model lazily
            old = self.before.get(key)
            if old is None:  # added (e.g. a method patched onto a subclass that inherited it)
                self.changes.append((owner, name, _ABSENT, value))
            elif old[1] is not value:
                self.changes.append((owner, name, old[1], value))

    def set(self, instrumented: bool) -> None:
        for owner, name, original, patched in self.changes:
            if instrumented:
                setattr(owner, name, patched)
            elif original is _ABSENT:
                if name in vars(owner):
                    delattr(owner, name)
            else:
                setattr(owner, name, original)
