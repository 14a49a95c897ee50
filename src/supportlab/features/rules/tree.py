"""The tree a rule parses into, and its canonical text.

Nodes are frozen dataclasses that compare by content (positions in the text are kept for error
messages but ignored by ``==``), so two spellings of one rule give equal trees.

Example:
    >>> tree = Or((Compare("<", Feature("x"), Literal(5, "number")), Not(Truth(Feature("done")))))
    >>> format_node(tree)
    'x < 5 or not done'
    >>> [format_node(a) for a in atoms(tree)]
    ['x < 5', 'done']
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

__all__ = ["And", "Atom", "Compare", "Contains", "Feature", "InList", "IsNull", "Literal", "Node",
           "Not", "Operand", "Or", "Truth", "atoms", "features_of", "format_literal",
           "format_node", "format_operand", "label", "negated_label"]

_FLIP = {"<": ">=", "<=": ">", ">": "<=", ">=": "<", "==": "!=", "!=": "=="}

@dataclass(frozen=True, slots=True)
class Feature:
    """A reference to a feature column by name."""

    name: str
    pos: int = field(default=0, compare=False)


@dataclass(frozen=True, slots=True)
class Literal:
    """A constant: a number, a string, true/false or null."""

    value: int | float | str | bool | None
    kind: str  # number, string, bool, null
    pos: int = field(default=0, compare=False)
    source: str = field(default="", compare=False)


Operand = Feature | Literal


@dataclass(frozen=True, slots=True)
class Compare:
    """``left op right``, with at least one side a feature."""

    op: str
    left: Operand
    right: Operand
    pos: int = field(default=0, compare=False)


@dataclass(frozen=True, slots=True)
class InList:
    """``feature [not] in [values]``."""

    feature: Feature
    items: tuple[Literal, ...]
    negated: bool
    pos: int = field(default=0, compare=False)


@dataclass(frozen=True, slots=True)
class IsNull:
    """``feature is [not] null``."""

    feature: Feature
    negated: bool
    pos: int = field(default=0, compare=False)


@dataclass(frozen=True, slots=True)
class Truth:
    """A bare feature (a bool, or a number meaning ``!= 0``) or ``true``/``false``."""

    operand: Operand
    pos: int = field(default=0, compare=False)


@dataclass(frozen=True, slots=True)
class Not:
    """``not operand``."""

    operand: Node
    pos: int = field(default=0, compare=False)


@dataclass(frozen=True, slots=True)
class And:
    """All children hold."""

    children: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Or:
    """At least one child holds."""

    children: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Contains:
    """``'A' [not] in products``: a value is [not] one of a list feature's items."""

    item: Literal
    feature: Feature
    negated: bool
    pos: int = field(default=0, compare=False)


Atom = Compare | InList | Contains | IsNull | Truth
Node = Atom | Not | And | Or


def atoms(root: Node) -> Iterator[Atom]:
    """Yield the atomic conditions left to right (without recursion)."""
    stack: list[Node] = [root]
    while stack:
        node = stack.pop()
        if isinstance(node, And | Or):
            stack.extend(reversed(node.children))
        elif isinstance(node, Not):
            stack.append(node.operand)
        else:
            yield node


def features_of(atom: Atom) -> list[Feature]:
    """The features an atomic condition refers to, left to right."""
    if isinstance(atom, Compare):
        return [o for o in (atom.left, atom.right) if isinstance(o, Feature)]
    if isinstance(atom, InList | IsNull | Contains):
        return [atom.feature]
    return [atom.operand] if isinstance(atom.operand, Feature) else []


# ------------------------------------------------------------------------------------ rendering

def _quote(value: str) -> str:
    escaped = (value.replace("\\", "\\\\").replace("'", "\\'").replace("\n", "\\n")
               .replace("\t", "\\t").replace("\r", "\\r"))
    return f"'{escaped}'"


def format_literal(lit: Literal) -> str:
    """A literal as the language writes it (strings in single quotes)."""
    if lit.kind == "string":
        return _quote(str(lit.value))
    if lit.kind == "bool":
        return "true" if lit.value else "false"
    if lit.kind == "null":
        return "null"
    return repr(lit.value)


def format_operand(operand: Operand) -> str:
    """A feature's name or a literal's text."""
    return operand.name if isinstance(operand, Feature) else format_literal(operand)


def format_node(node: Node) -> str:
    """The canonical text of a (sub)tree; it parses back to an equal tree."""
    if isinstance(node, Or):
        return " or ".join(format_node(c) for c in node.children)
    if isinstance(node, And):
        return " and ".join(f"({format_node(c)})" if isinstance(c, Or) else format_node(c)
                            for c in node.children)
    if isinstance(node, Not):
        inner = format_node(node.operand)
        if isinstance(node.operand, Truth | Not):
            return f"not {inner}"
        return f"not ({inner})"
    if isinstance(node, Compare):
        return f"{format_operand(node.left)} {node.op} {format_operand(node.right)}"
    if isinstance(node, InList):
        items = ", ".join(format_literal(i) for i in node.items)
        return f"{node.feature.name} {'not in' if node.negated else 'in'} [{items}]"
    if isinstance(node, Contains):
        return f"{format_literal(node.item)} {'not in' if node.negated else 'in'} {node.feature.name}"
    if isinstance(node, IsNull):
        return f"{node.feature.name} is {'not null' if node.negated else 'null'}"
    return format_operand(node.operand)


def label(atom: Atom, kinds: Mapping[str, str | None]) -> str:
    if isinstance(atom, Truth) and isinstance(atom.operand, Feature):
        name = atom.operand.name
        kind = kinds.get(name)
        return f"{name} != 0" if kind == "number" else f"{name} == true"
    return format_node(atom)



def negated_label(atom: Atom, kinds: Mapping[str, str | None]) -> str:
    """How to say that ``atom`` is (known to be) false, as a condition that holds.

    A comparison flips its operator (``x < 5`` false is ``x >= 5``), a list test and a null test
    swap ``in``/``not in`` and ``is``/``is not``, a bare feature says it is false.

    Example:
        >>> negated_label(Truth(Feature("video_completed")), {"video_completed": "bool"})
        'not video_completed (false)'
        >>> negated_label(Compare("<", Feature("x"), Literal(5, "number", source="5")), {})
        'x >= 5'
    """
    if isinstance(atom, Compare):
        return format_node(Compare(_FLIP[atom.op], atom.left, atom.right))
    if isinstance(atom, InList):
        return format_node(InList(atom.feature, atom.items, not atom.negated))
    if isinstance(atom, Contains):
        return format_node(Contains(atom.item, atom.feature, not atom.negated))
    if isinstance(atom, IsNull):
        return format_node(IsNull(atom.feature, not atom.negated))
    operand = atom.operand
    if isinstance(operand, Feature):
        if kinds.get(operand.name) == "number":
            return f"{operand.name} == 0"
        return f"not {operand.name} (false)"
    return "not true" if operand.value else "false is false"
