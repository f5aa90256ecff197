"""The shape of a parsed document, measured in one linear pass before it is validated: selection depth, aliases,
field selections once fragments are expanded, and how much work graphql-core's field-merging rule would do.

Hand-written because no library measures documents without expanding fragments: a fragment spread twice in
each of 20 nested fragments stands for 2^20 selections, and walking them (as our old limit rules did, and as
any naive visitor does) took 26 CPU-seconds for a 0.9 KB request. Here each fragment is measured once, in
dependency order (no recursion through spreads, so a chain of 2,000 fragments is fine), and a spread adds its
fragment's numbers, so the totals count every selection a naive expansion would make without making them.

The field-merging rule of GraphQL validation (OverlappingFieldsCanBeMerged) compares every pair of fields
sharing a response name and every pair of fragments spread in one selection set: within the token limit, 1,000
copies of one field took graphql-core 4 s and 900 fragments spread side by side 4.5 s. `merge_work` estimates
those comparisons (per selection set, fragments unexpanded, as the rule sees them) so they can be refused first.
"""

from __future__ import annotations

from dataclasses import dataclass

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
)

# Sums are clamped here: a fragment bomb's true count has hundreds of digits, and only "too many" matters.
CAP = 10**12
# Field-merging work is only estimated for documents of at most this many expanded fields (more is refused anyway)
MERGE_WORK_BOUND = 100_000


@dataclass(frozen=True)
class Shape:
    depth: int = 0
    aliases: int = 0
    fields: int = 0

    def beside(self, other: Shape) -> Shape:
        """Both in one selection set."""
        return Shape(
            max(self.depth, other.depth),
            min(CAP, self.aliases + other.aliases),
            min(CAP, self.fields + other.fields),
        )


@dataclass(frozen=True)
class DocumentShape:
    depth: int  # deepest field nesting of any operation, introspection fields not counted
    aliases: int  # aliased fields in all operations, a fragment's counted each time it is spread
    fields: int  # field selections in all operations with every fragment expanded where it is spread
    merge_work: int  # comparisons the field-merging rule makes (0 when `fields` is too many already)


def measure(document: DocumentNode) -> DocumentShape:
    fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
    shapes: dict[str, Shape] = {}
    for name in dependency_order(fragments):
        shapes[name] = _selection_shape(fragments[name].selection_set, shapes)
    total = Shape()
    for definition in document.definitions:
        if isinstance(definition, OperationDefinitionNode):
            total = total.beside(_selection_shape(definition.selection_set, shapes))
    work = 0
    # larger documents are refused for their size already; below the bound, the sizes summed here stay small
    if total.fields <= MERGE_WORK_BOUND:
        for definition in document.definitions:
            if isinstance(definition, OperationDefinitionNode | FragmentDefinitionNode):
                work = min(CAP, work + _merge_work(definition.selection_set, shapes))
    return DocumentShape(total.depth, total.aliases, total.fields, work)


def _spreads(node: SelectionSetNode | None) -> set[str]:
    """Names of the fragments spread anywhere inside `node`."""
    out: set[str] = set()
    pending = [node]
    while pending:
        current = pending.pop()
        if current is None:
            continue
        for selection in current.selections:
            if isinstance(selection, FragmentSpreadNode):
                out.add(selection.name.value)
            elif isinstance(selection, FieldNode | InlineFragmentNode):
                pending.append(selection.selection_set)
    return out


def dependency_order(fragments: dict[str, FragmentDefinitionNode]) -> list[str]:
    """Fragments, each after every fragment it spreads. Fragments on a cycle (which validation refuses) and
    their dependants come last, seeing the cyclic spread as empty."""
    uses = {name: _spreads(f.selection_set) & fragments.keys() for name, f in fragments.items()}
    used_by: dict[str, list[str]] = {name: [] for name in fragments}
    waiting = {name: len(deps) for name, deps in uses.items()}
    for name, deps in uses.items():
        for dep in deps:
            used_by[dep].append(name)
    ready = [name for name, count in waiting.items() if count == 0]
    order: list[str] = []
    while ready:
        name = ready.pop()
        order.append(name)
        for user in used_by[name]:
            waiting[user] -= 1
            if waiting[user] == 0:
                ready.append(user)
    done = set(order)
    return order + [name for name in fragments if name not in done]


def _selection_shape(node: SelectionSetNode | None, fragments: dict[str, Shape]) -> Shape:
    if node is None:
        return Shape()
    shape = Shape()
    for selection in node.selections:
        if isinstance(selection, FieldNode):
            inner = _selection_shape(selection.selection_set, fragments)
            introspection = selection.name.value.startswith("__")
            shape = shape.beside(
                Shape(
                    0 if introspection else 1 + inner.depth,  # introspection depth is bounded by the schema
                    (1 if selection.alias is not None else 0) + inner.aliases,
                    1 + inner.fields,
                )
            )
        elif isinstance(selection, InlineFragmentNode):
            shape = shape.beside(_selection_shape(selection.selection_set, fragments))
        elif isinstance(selection, FragmentSpreadNode):
            shape = shape.beside(fragments.get(selection.name.value, Shape()))
    return shape


def _merge_work(root: SelectionSetNode, sizes: dict[str, Shape]) -> int:
    """What graphql-core's field-merging rule compares in `root` and every selection set inside it: per
    selection set (inline fragments flattened, spreads not, as the rule collects them), every pair of fields
    with one response name costs 1 plus the sizes of both subtrees; every pair of fragments spread there the
    sizes of both; each fragment against the set's own fields, their count plus its size."""
    total = 0
    pending: list[SelectionSetNode] = [root]
    while pending:
        node = pending.pop()
        by_name: dict[str, list[int]] = {}
        spread: set[str] = set()
        level = [node]
        while level:
            current = level.pop()
            for selection in current.selections:
                if isinstance(selection, FieldNode):
                    subtree = _selection_shape(selection.selection_set, sizes).fields
                    by_name.setdefault((selection.alias or selection.name).value, []).append(subtree)
                    if selection.selection_set is not None:
                        pending.append(selection.selection_set)
                elif isinstance(selection, InlineFragmentNode):
                    level.append(selection.selection_set)
                elif isinstance(selection, FragmentSpreadNode):
                    spread.add(selection.name.value)
        fields = 0
        for subtrees in by_name.values():
            k = len(subtrees)
            fields += k
            total += (k - 1) * sum(subtrees) + k * (k - 1) // 2
        if spread:
            f, fragment_fields = len(spread), sum(sizes.get(n, Shape()).fields for n in spread)
            total += (f - 1) * fragment_fields + f * fields + fragment_fields
        if total >= CAP:
            return CAP
    return total
