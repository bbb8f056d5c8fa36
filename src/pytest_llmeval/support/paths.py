"""How a path is shown in messages and reports: relative to a root where it lies inside it."""

from __future__ import annotations

from pathlib import Path


def shown_path(path: Path, root: Path) -> str:
    """`path` relative to `root` when it is inside it, else `path` as given."""
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)
