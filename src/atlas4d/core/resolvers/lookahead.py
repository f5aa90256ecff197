"""Look-ahead: what the operation selects below a root list field, so the page resolver can preload it."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from strawberry.types.nodes import FragmentSpread, InlineFragment, SelectedField

from atlas4d.core.context import Info


def _children(selections: Iterable[Any]) -> Iterable[SelectedField]:
    """Fields of a selection set, looking through fragments."""
    for sel in selections:
        if isinstance(sel, SelectedField):
            yield sel
        elif isinstance(sel, FragmentSpread | InlineFragment):
            yield from _children(sel.selections)


def selects(info: Info, *paths: Sequence[str]) -> bool:
    """Whether any of `paths` (field names below the current field) is selected, e.g.
    `selects(info, ("nodes", "entity"), ("edges", "node", "entity"))`. Directives are not evaluated: a
    field under @skip counts as selected, which at worst preloads something unused."""
    roots = list(_children(info.selected_fields))
    for path in paths:
        level = [f for root in roots for f in _children(root.selections)]
        for i, name in enumerate(path):
            matched = [f for f in level if f.name == name]
            if not matched:
                break
            if i == len(path) - 1:
                return True
            level = [c for f in matched for c in _children(f.selections)]
    return False
