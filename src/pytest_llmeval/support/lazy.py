"""Package attributes imported on first access (PEP 562), so importing a package stays cheap."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any


def lazy_attributes(package: str, homes: Mapping[str, str]) -> Callable[[str], Any]:
    """A module `__getattr__` for `package`: `homes` maps each public name to the module that
    defines it (relative to `package`), imported on first access.

    The value is not kept in the package: each access asks `sys.modules`, so a module dropped
    from it (pytest's `pytester` does that between in-process runs) is imported afresh and
    its objects stay the ones every other import of it sees, the `Case` class included.
    """

    def __getattr__(name: str) -> Any:
        home = homes.get(name)
        if home is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(home, package), name)

    return __getattr__
