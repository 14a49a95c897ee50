"""Why a partner is selected: the conditions that held, and only those.

Given the truth value of every atomic condition for one partner (true, false or unknown, as the
engine computed them), :func:`reasons` walks the rule's tree and keeps what made it hold: for
``and`` every part, for ``or`` only the parts that held (never a failed branch), and for ``not x``
the reasons why ``x`` failed, said positively (``not video_completed (false)``,
``completion_rate >= 0.5``).

Example:
    >>> from supportlab.features.rules.parser import parse_tree
    >>> tree = parse_tree("(not video_completed and not template_downloaded) or "
    ...                   "days_since_last_login >= 30")
    >>> values = {"video_completed == true": False, "template_downloaded == true": False,
    ...           "days_since_last_login >= 30": False}
    >>> reasons(tree, values, {"video_completed": "bool", "template_downloaded": "bool"})
    ['not video_completed (false)', 'not template_downloaded (false)']
"""

from __future__ import annotations

from collections.abc import Mapping

from supportlab.features.rules.tree import And, Atom, Node, Not, Or, label, negated_label

__all__ = ["Truth3", "reasons", "truth"]

Truth3 = bool | None
"""True, False or None (unknown)."""


def truth(node: Node, values: Mapping[str, Truth3], kinds: Mapping[str, str | None]) -> Truth3:
    """Three-valued truth of ``node`` from the truth values of its atoms (keyed by label)."""
    if isinstance(node, And):
        parts = [truth(c, values, kinds) for c in node.children]
        if any(p is False for p in parts):
            return False
        return True if all(p is True for p in parts) else None
    if isinstance(node, Or):
        parts = [truth(c, values, kinds) for c in node.children]
        if any(p is True for p in parts):
            return True
        return False if all(p is False for p in parts) else None
    if isinstance(node, Not):
        inner = truth(node.operand, values, kinds)
        return None if inner is None else not inner
    return _atom_value(node, values, kinds)


def _atom_value(atom: Atom, values: Mapping[str, Truth3], kinds: Mapping[str, str | None]
                ) -> Truth3:
    value = values.get(label(atom, kinds))
    if value is None or value != value:  # None, NA or NaN: unknown
        return None
    return bool(value)


def reasons(node: Node, values: Mapping[str, Truth3], kinds: Mapping[str, str | None]
            ) -> list[str]:
    """The conditions that made ``node`` hold, as readable conditions, without repeats.

    Args:
        node: The rule's tree.
        values: Truth of each atomic condition, keyed by its label (see
            :func:`supportlab.features.rules.tree.label`); missing or None means unknown.
        kinds: Feature kinds, for the labels of bare features.

    Returns:
        The reasons, left to right; empty when ``node`` does not hold.
    """
    out: list[str] = []
    if truth(node, values, kinds) is True:
        _held(node, values, kinds, out)
    return list(dict.fromkeys(out))


def _held(node: Node, values: Mapping[str, Truth3], kinds: Mapping[str, str | None],
          out: list[str]) -> None:
    if isinstance(node, And):
        for child in node.children:
            _held(child, values, kinds, out)
    elif isinstance(node, Or):
        for child in node.children:
            if truth(child, values, kinds) is True:
                _held(child, values, kinds, out)
    elif isinstance(node, Not):
        _failed(node.operand, values, kinds, out)
    else:
        out.append(label(node, kinds))


def _failed(node: Node, values: Mapping[str, Truth3], kinds: Mapping[str, str | None],
            out: list[str]) -> None:
    if isinstance(node, And):
        for child in node.children:
            if truth(child, values, kinds) is False:
                _failed(child, values, kinds, out)
    elif isinstance(node, Or):
        for child in node.children:
            _failed(child, values, kinds, out)
    elif isinstance(node, Not):
        _held(node.operand, values, kinds, out)
    else:
        out.append(negated_label(node, kinds))
