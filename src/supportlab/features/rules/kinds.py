"""Feature kinds and the checks that run once the kinds of the features are known.

Every feature is a ``number``, ``string``, ``bool`` or ``date``. Kinds come from a catalogue
(``{name: kind}``), from a pandas frame (:func:`infer_feature_kinds`) or from an engine table's
schema (:func:`kinds_of_schema`). A string feature also serves as a list of ``|``-separated items
(``'A' in products``).

Example:
    >>> import pandas as pd
    >>> infer_feature_kinds(pd.DataFrame({"rank": ["A"], "done": [True]}))
    {'rank': 'string', 'done': 'bool'}
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import pandas as pd

from supportlab.features.rules.lexer import RuleError, at_position, printable
from supportlab.features.rules.tree import (
    Atom,
    Compare,
    Contains,
    Feature,
    InList,
    Literal,
    Node,
    Operand,
    Truth,
    atoms,
    features_of,
    format_literal,
)

__all__ = ["FEATURE_KINDS", "check_kinds", "infer_feature_kinds", "kinds_of_schema",
           "normalize_kinds", "parse_date", "series_kind"]

FEATURE_KINDS = ("number", "string", "bool", "date")
"""The kinds a feature can have."""

_DATE = re.compile(r"\d{4}-\d{2}-\d{2}(?:[ T]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,6})?)?)?")

def _kind_of(operand: Operand, kinds: Mapping[str, str | None]) -> str | None:
    if isinstance(operand, Feature):
        return kinds.get(operand.name)
    return operand.kind


def _describe_operand(operand: Operand, kind: str | None) -> str:
    if isinstance(operand, Feature):
        return f"{kind} feature '{operand.name}'"
    if operand.kind == "bool":
        return f"boolean {operand.source}"
    return f"{operand.kind} {printable(operand.source[:30])}"


def parse_date(value: str) -> pd.Timestamp | None:
    """A naive timestamp for ``'YYYY-MM-DD[ HH:MM[:SS[.ffffff]]]'``, else None."""
    if not _DATE.fullmatch(value):
        return None
    try:
        return pd.Timestamp(datetime.fromisoformat(value))
    except ValueError:
        return None


def _check_pair(op: str, left: Operand, right: Operand, at_pos: int, text: str,
                kinds: Mapping[str, str | None]) -> None:
    kl, kr = _kind_of(left, kinds), _kind_of(right, kinds)
    if kl is None or kr is None:
        return
    for date_kind, other, other_kind in ((kl, right, kr), (kr, left, kl)):
        if date_kind == "date" and isinstance(other, Literal) and other_kind == "string":
            if parse_date(str(other.value)) is None:
                raise RuleError(f"{printable(other.source[:30])} at "
                                f"{at_position(text, other.pos)} is not a date", text=text,
                                position=other.pos, length=len(other.source),
                                fix="write dates as 'YYYY-MM-DD' or 'YYYY-MM-DD HH:MM:SS'")
            return
    if kl != kr:
        fix = None
        kinds_pair = {kl, kr}
        if kinds_pair == {"number", "bool"}:
            fix = _bool_hint(op, left, right, kl)
        elif kinds_pair == {"string", "number"}:
            fix = _quote_hint(op, left, right, kl)
        raise RuleError(f"cannot compare {_describe_operand(left, kl)} with "
                        f"{_describe_operand(right, kr)} at {at_position(text, at_pos)}", text=text,
                        position=at_pos, length=len(op) if op else 1, fix=fix)
    if kl == "bool" and op not in ("==", "!="):
        raise RuleError(f"true/false values can only be compared with '==' or '!=', not "
                        f"'{op}' at {at_position(text, at_pos)}", text=text, position=at_pos,
                        length=len(op))


def _bool_hint(op: str, left: Operand, right: Operand, left_kind: str | None) -> str | None:
    """A rewrite that parses, for a bool feature compared with a number (``done == 1``)."""
    feature, number = (left, right) if left_kind == "bool" else (right, left)
    if not isinstance(feature, Feature) or not isinstance(number, Literal):
        return "compare true/false features with true or false"
    name = feature.name
    if op not in ("==", "!=") or number.value not in (0, 1):
        return f"'{name}' is true or false: write '{name}' or 'not {name}'"
    holds = (number.value == 1) == (op == "==")
    short, long = (name, f"{name} == true") if holds else (f"not {name}", f"{name} == false")
    return f"'{name}' is true or false: write '{short}' or '{long}'"


def _quote_hint(op: str, left: Operand, right: Operand, left_kind: str | None) -> str:
    """A rewrite that quotes the number compared with a text feature (``rank == '3'``)."""
    feature, number = (left, right) if left_kind == "string" else (right, left)
    if isinstance(feature, Feature) and isinstance(number, Literal):
        return (f"quote the value if the feature holds text, e.g. "
                f"{feature.name} {op} '{number.source}'")
    return "quote the value if the feature holds text, e.g. rank == '3'"


def _unknown_value_hint(atom: Atom, unknown: Feature, kinds: Mapping[str, str | None]
                        ) -> str | None:
    """``region == 関東``: the unknown name is a text value that lost its quotes."""
    if not isinstance(atom, Compare):
        return None
    other = atom.right if atom.left is unknown else atom.left
    if isinstance(other, Feature) and kinds.get(other.name) in ("string", "date"):
        quoted = format_literal(Literal(unknown.name, "string"))
        if atom.left is unknown:
            return f"quote text values: write {quoted} {atom.op} {other.name}"
        return f"quote text values: write {other.name} {atom.op} {quoted}"
    return None


def _suggest(name: str, known: list[str]) -> str | None:
    for candidate in known:
        if candidate.lower() == name.lower():
            return candidate
    close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
    return close[0] if close else None


def check_kinds(root: Node, text: str, kinds: Mapping[str, str | None],
                *, known: list[str] | None = None, in_data: bool = False) -> None:
    """Check names and kinds of every atom, left to right; raise the first problem found."""
    for atom in atoms(root):
        for feature in features_of(atom):
            if feature.name not in kinds:
                names = sorted(known if known is not None else kinds)
                suggestion = _suggest(feature.name, names)
                what = f"unknown feature '{feature.name}' at {at_position(text, feature.pos)}"
                if in_data:
                    what += " (the data has no such column)"
                fix = _unknown_value_hint(atom, feature, kinds)
                if fix:
                    pass
                elif suggestion:
                    what += f"; did you mean '{suggestion}'?"
                elif names:
                    shown = ", ".join(names[:10]) + (", …" if len(names) > 10 else "")
                    fix = f"known features: {shown}"
                raise RuleError(what, text=text, position=feature.pos,
                                length=len(feature.name), fix=fix)
        if isinstance(atom, Compare):
            _check_pair(atom.op, atom.left, atom.right, atom.pos, text, kinds)
        elif isinstance(atom, InList):
            for item in atom.items:
                _check_pair("==", atom.feature, item, item.pos, text, kinds)
        elif isinstance(atom, Contains):
            kind = kinds.get(atom.feature.name)
            if kind is not None and kind != "string":
                raise RuleError(f"'in {atom.feature.name}' at {at_position(text, atom.pos)} needs a "
                                f"list feature (text of '|'-separated items), not a {kind} "
                                "feature", text=text, position=atom.pos, length=2,
                                fix=f"write {atom.feature.name} in [...] to test its value")
        elif isinstance(atom, Truth) and isinstance(atom.operand, Feature):
            kind = kinds.get(atom.operand.name)
            if kind in ("string", "date"):
                name = atom.operand.name
                example = f"{name} == 'A'" if kind == "string" else f"{name} >= '2025-04-01'"
                raise RuleError(f"{kind} feature '{name}' at {at_position(text, atom.pos)} is not a "
                                "condition by itself", text=text, position=atom.pos,
                                length=len(name), fix=f"compare it, e.g. {example}")


def normalize_kinds(features: Mapping[str, str]) -> dict[str, str | None]:
    """Check a feature catalogue ``{name: kind}``.

    Raises:
        RuleError: It is not a mapping, or a kind is not one of :data:`FEATURE_KINDS`.
    """
    if not isinstance(features, Mapping):
        raise RuleError(f"features must be a mapping of feature name to kind, got "
                        f"{type(features).__name__}")
    out: dict[str, str | None] = {}
    for name, kind in features.items():
        if kind not in FEATURE_KINDS:
            raise RuleError(f"feature '{name}' has unknown kind {kind!r}",
                            fix=f"use one of {', '.join(FEATURE_KINDS)}")
        out[str(name)] = kind
    return out


def series_kind(series: pd.Series) -> str | None:
    """The feature kind of a pandas column, or None when it cannot be told."""
    dtype = series.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        categories = pd.Series(dtype.categories)
        return series_kind(categories) if len(categories) else None
    if isinstance(dtype, pd.ArrowDtype):
        import pyarrow as pa

        arrow = dtype.pyarrow_dtype
        if pa.types.is_boolean(arrow):
            return "bool"
        if pa.types.is_integer(arrow) or pa.types.is_floating(arrow) or pa.types.is_decimal(arrow):
            return "number"
        if pa.types.is_string(arrow) or pa.types.is_large_string(arrow):
            return "string"
        if pa.types.is_timestamp(arrow) or pa.types.is_date(arrow):
            return "date"
        return None
    if pd.api.types.is_bool_dtype(dtype):
        return "bool"
    if pd.api.types.is_datetime64_any_dtype(dtype):
        return "date"
    if pd.api.types.is_complex_dtype(dtype) or pd.api.types.is_timedelta64_dtype(dtype):
        return None
    if pd.api.types.is_numeric_dtype(dtype):
        return "number"
    if isinstance(dtype, pd.StringDtype):
        return "string"
    if pd.api.types.is_object_dtype(dtype):
        inferred = pd.api.types.infer_dtype(series, skipna=True)
        return {"string": "string", "boolean": "bool", "integer": "number",
                "floating": "number", "mixed-integer-float": "number", "decimal": "number",
                "date": "date", "datetime": "date", "datetime64": "date"}.get(inferred)
    return None


def infer_feature_kinds(df: pd.DataFrame) -> dict[str, str]:
    """Infer each column's feature kind from its dtype (and, for object columns, its values).

    Args:
        df: Features, one row per partner, one column per feature.

    Returns:
        ``{column: kind}`` with kinds from :data:`FEATURE_KINDS`. Columns whose kind cannot be
        told (mixed values, entirely missing object columns, durations, non-string names) are
        left out.

    Example:
        >>> import pandas as pd
        >>> infer_feature_kinds(pd.DataFrame({"rank": ["A", "B"], "logins_30d": [3, 0],
        ...                                   "video_completed": [True, False]}))
        {'rank': 'string', 'logins_30d': 'number', 'video_completed': 'bool'}
    """
    kinds: dict[str, str] = {}
    for i, column in enumerate(df.columns):
        if isinstance(column, str) and column not in kinds:
            kind = series_kind(df.iloc[:, i])
            if kind is not None:
                kinds[column] = kind
    return kinds


def kinds_of_schema(schema: Any) -> dict[str, str]:
    """Feature kinds of an ibis table schema (engine columns), leaving out other types.

    Example:
        >>> import ibis
        >>> kinds_of_schema(ibis.schema({"rank": "string", "n": "int64", "at": "timestamp"}))
        {'rank': 'string', 'n': 'number', 'at': 'date'}
    """
    kinds: dict[str, str] = {}
    for name, dtype in schema.items():
        if dtype.is_boolean():
            kinds[name] = "bool"
        elif dtype.is_numeric():
            kinds[name] = "number"
        elif dtype.is_string():
            kinds[name] = "string"
        elif dtype.is_timestamp() or dtype.is_date():
            kinds[name] = "date"
    return kinds
