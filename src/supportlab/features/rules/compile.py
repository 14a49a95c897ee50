"""Compile a rule's tree for an engine: one ibis boolean expression, or SQL text.

The ibis expression runs wherever the partner features live (DuckDB, Parquet files read by DuckDB,
Spark), so targeting filters partners in the engine. Nulls keep SQL's three-valued logic: a
comparison with a missing value is unknown, ``not unknown`` is unknown, and a ``WHERE`` (or
:func:`selected`) leaves unknown rows out. NaN in a decimal column counts as missing.

Example:
    >>> import ibis
    >>> from supportlab.features.rules.parser import parse_tree
    >>> t = ibis.table({"rank": "string", "logins_30d": "int64"}, name="partners")
    >>> expr = to_ibis(parse_tree("rank in ['B', 'C'] and not logins_30d"), t)
    >>> expr.type().is_boolean()
    True
    >>> print(to_sql(parse_tree("rank == 'B' or logins_30d"), {"logins_30d": "number"}))
    (("rank" = 'B') OR ("logins_30d" <> 0))
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import ibis
import ibis.expr.datatypes as dt

from supportlab.features.rules.kinds import parse_date
from supportlab.features.rules.lexer import RuleError, at_position
from supportlab.features.rules.tree import (
    And,
    Atom,
    Compare,
    Contains,
    Feature,
    InList,
    IsNull,
    Literal,
    Node,
    Not,
    Operand,
    Or,
)

__all__ = ["LIST_SEPARATOR", "selected", "to_ibis", "to_sql"]

LIST_SEPARATOR = "|"
"""Separator of the items of a list feature (``products`` is ``"A|B"``)."""

_SQL_OPS = {"<": "<", "<=": "<=", ">": ">", ">=": ">=", "==": "=", "!=": "<>"}


class _Compiler:
    """Turns nodes into ibis expressions over one table."""

    def __init__(self, table: ibis.Table, tz: str | None, text: str) -> None:
        self.table = table
        self.schema = table.schema()
        self.tz = tz
        self.text = text

    def column(self, feature: Feature) -> ibis.Value:
        if feature.name not in self.schema:
            raise RuleError(f"unknown feature '{feature.name}' at "
                            f"{at_position(self.text, feature.pos)} (the table has no such column)",
                            text=self.text or None, position=feature.pos if self.text else None,
                            length=len(feature.name))
        col = self.table[feature.name]
        dtype = self.schema[feature.name]
        if dtype.is_null():
            return ibis.null()
        if dtype.is_floating():
            return col.nullif(float("nan"))
        return col

    def literal(self, lit: Literal, other: Operand) -> ibis.Value:
        if isinstance(other, Feature) and lit.kind == "string" and other.name in self.schema:
            dtype = self.schema[other.name]
            if dtype.is_timestamp() or dtype.is_date():
                return self.date_literal(str(lit.value), dtype)
        if lit.kind == "number":
            return ibis.literal(lit.value, type="float64" if isinstance(lit.value, float)
                                else "int64")
        if lit.kind == "string":
            return ibis.literal(lit.value, type="string")
        if lit.kind == "bool":
            return ibis.literal(bool(lit.value))
        return ibis.null()

    def date_literal(self, value: str, dtype: dt.DataType) -> ibis.Value:
        stamp = parse_date(value)
        if stamp is None:
            raise RuleError(f"'{value}' is not a date", fix="write dates as 'YYYY-MM-DD'")
        if dtype.is_date() and stamp == stamp.normalize():
            return ibis.literal(stamp.date())
        zone = getattr(dtype, "timezone", None) if dtype.is_timestamp() else None
        if zone:
            local = stamp.tz_localize(self.tz or zone)
            return ibis.literal(local.tz_convert("UTC"), type=dt.Timestamp(timezone="UTC"))
        return ibis.literal(stamp, type=dt.Timestamp())

    def operand(self, operand: Operand, other: Operand) -> ibis.Value:
        if isinstance(operand, Feature):
            value = self.column(operand)
            dtype = self.schema.get(operand.name)
            if (isinstance(other, Literal) and other.kind == "string" and dtype is not None
                    and dtype.is_date()):
                stamp = parse_date(str(other.value))
                if stamp is not None and stamp != stamp.normalize():
                    return value.cast("timestamp")
            return value
        return self.literal(operand, other)

    def atom(self, node: Atom) -> ibis.BooleanValue:
        if isinstance(node, Compare):
            left = self.operand(node.left, node.right)
            right = self.operand(node.right, node.left)
            op = node.op
            if op == "<":
                return left < right
            if op == "<=":
                return left <= right
            if op == ">":
                return left > right
            if op == ">=":
                return left >= right
            if op == "==":
                return left == right
            return left != right
        if isinstance(node, InList):
            col = self.column(node.feature)
            items = [self.literal(item, node.feature) for item in node.items]
            return col.notin(items) if node.negated else col.isin(items)
        if isinstance(node, Contains):
            col = self.column(node.feature)
            sep = LIST_SEPARATOR
            found = (ibis.literal(sep) + col.cast("string") + ibis.literal(sep)).contains(
                f"{sep}{node.item.value}{sep}")
            return ~found if node.negated else found
        if isinstance(node, IsNull):
            col = self.column(node.feature)
            return col.notnull() if node.negated else col.isnull()
        operand = node.operand
        if isinstance(operand, Literal):
            return ibis.literal(bool(operand.value))
        col = self.column(operand)
        dtype = self.schema[operand.name]
        if dtype.is_numeric():
            return col != 0
        return col.cast("boolean") if dtype.is_null() else col

    def node(self, node: Node) -> ibis.BooleanValue:
        if isinstance(node, And | Or):
            parts = [self.node(c) for c in node.children]
            out = parts[0]
            for part in parts[1:]:
                out = (out & part) if isinstance(node, And) else (out | part)
            return out
        if isinstance(node, Not):
            return ~self.node(node.operand)
        return self.atom(node)


def to_ibis(node: Node, table: ibis.Table, *, tz: str | None = None, text: str = ""
            ) -> ibis.BooleanValue:
    """One ibis boolean expression for a rule's tree over ``table``.

    Args:
        node: The rule's tree (:attr:`supportlab.features.rules.Rule.tree`).
        table: The table of features, one row per partner.
        tz: Zone in which date strings are read for zoned timestamp columns (the workspace's
            zone for engine tables); default: the column's own zone.
        text: The rule's text, for error messages.

    Returns:
        A nullable boolean expression: true, false or null (unknown).

    Raises:
        RuleError: A referenced feature is not a column of ``table``.
    """
    return _Compiler(table, tz, text).node(node)


def selected(expr: ibis.BooleanValue) -> ibis.BooleanValue:
    """True where the rule holds; false where it fails or is unknown (as in ``WHERE``)."""
    return expr.fill_null(False)


def _sql_identifier(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _sql_literal(lit: Literal) -> str:
    if lit.kind == "string":
        return "'" + str(lit.value).replace("'", "''") + "'"
    if lit.kind == "bool":
        return "TRUE" if lit.value else "FALSE"
    if lit.kind == "null":
        return "NULL"
    if isinstance(lit.value, float):
        text = repr(lit.value)
        return text if "e" in text else text + "e0"  # an approximate (DOUBLE) literal
    return str(lit.value)


def _sql_operand(operand: Operand) -> str:
    if isinstance(operand, Feature):
        return _sql_identifier(operand.name)
    return _sql_literal(operand)


def to_sql(node: Node, kinds: Mapping[str, str | None] | None = None) -> str:
    """A SQL boolean expression for a ``WHERE`` clause (see :meth:`Rule.to_sql`).

    Args:
        node: The rule's tree.
        kinds: Feature kinds; a bare number feature becomes ``("x" <> 0)``.
    """
    kinds = kinds or {}
    return _sql(node, kinds)


def _sql(node: Node, kinds: Mapping[str, Any]) -> str:
    if isinstance(node, Or | And):
        joiner = " OR " if isinstance(node, Or) else " AND "
        return "(" + joiner.join(_sql(c, kinds) for c in node.children) + ")"
    if isinstance(node, Not):
        return f"(NOT {_sql(node.operand, kinds)})"
    if isinstance(node, Compare):
        return (f"({_sql_operand(node.left)} {_SQL_OPS[node.op]} "
                f"{_sql_operand(node.right)})")
    if isinstance(node, InList):
        items = ", ".join(_sql_literal(i) for i in node.items)
        return (f"({_sql_identifier(node.feature.name)} {'NOT IN' if node.negated else 'IN'} "
                f"({items}))")
    if isinstance(node, Contains):
        sep = LIST_SEPARATOR
        needle = _sql_literal(Literal(f"%{sep}{node.item.value}{sep}%", "string"))
        like = "NOT LIKE" if node.negated else "LIKE"
        return f"(('{sep}' || {_sql_identifier(node.feature.name)} || '{sep}') {like} {needle})"
    if isinstance(node, IsNull):
        return f"({_sql_identifier(node.feature.name)} IS {'NOT NULL' if node.negated else 'NULL'})"
    operand = node.operand
    if isinstance(operand, Feature) and kinds.get(operand.name) == "number":
        return f"({_sql_identifier(operand.name)} <> 0)"
    return _sql_operand(operand)
