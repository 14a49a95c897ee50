"""Mapping forms of a condition, compiled to rules: one condition language, two spellings.

Segments and metric filters may be written as rules (``"rank in ['B'] and tenure_days < 365"``)
or as mappings, which are shorthand for the same rule:

=================================  =============================================
mapping                            rule
=================================  =============================================
``{rank: B}``                      ``rank == 'B'``
``{rank: [B, C]}``                 ``rank in ['B', 'C']``
``{tenure_days: {max: 365}}``      ``tenure_days < 365`` (``min`` is ``>=``)
``{value: {gte: 70}}``             ``value >= 70`` (``gt lt lte eq ne``)
``{won: {is_null: false}}``        ``won is not null``
``{stage: {not_in: [lost]}}``      ``stage not in ['lost']``
``{product: A}``                   ``'A' in products`` (carries product A)
``{product: [A, B]}``              ``('A' in products or 'B' in products)``
=================================  =============================================

Every entry must hold (``and``). Errors name the file and key (``segments.yaml: segments.young``).

Example:
    >>> str(condition_rule({"product": "A", "rank": ["B"], "tenure_days": {"max": 365}}))
    "'A' in products and rank in ['B'] and tenure_days < 365"
    >>> str(condition_rule("logins_30d < 3"))
    'logins_30d < 3'
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from typing import Any

from supportlab.errors import ConfigError
from supportlab.features.rules.lexer import RuleError
from supportlab.features.rules.rule import Rule, parse_rule
from supportlab.features.rules.tree import Literal, format_literal

__all__ = ["OPERATORS", "condition_rule", "condition_text"]

OPERATORS = {"min": ">=", "max": "<", "gt": ">", "gte": ">=", "lt": "<", "lte": "<=", "eq": "==",
             "ne": "!=", "in": "in", "not_in": "not in", "is_null": "is null"}
"""Operators of the mapping form and the rule operator each stands for."""

_NAME = re.compile(r"[^\W\d]\w*")
_PRODUCT_KEYS = ("product", "products")


def _value(value: Any, where: str) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, dt.datetime | dt.date):
        return format_literal(Literal(value.isoformat(sep=" ") if isinstance(value, dt.datetime)
                                      else value.isoformat(), "string"))
    if isinstance(value, str):
        return format_literal(Literal(value, "string"))
    raise ConfigError(f"{value!r} is not a value a condition can compare with", where=where,
                      fix="write a number, a text, true/false or a date")


def _items(value: Any, where: str) -> str:
    if not isinstance(value, list | tuple) or not value:
        raise ConfigError("expected a non-empty list of values", where=where,
                          fix="write e.g. [B, C]")
    return "[" + ", ".join(_value(v, where) for v in value) + "]"


def _entry(key: str, cond: Any, where: str, carries: bool) -> str:
    if not _NAME.fullmatch(key) or key.startswith("__"):
        raise ConfigError(f"'{key}' cannot be a condition's column", where=where,
                          fix="use a column name of letters, digits and underscores")
    if carries and key in _PRODUCT_KEYS and not isinstance(cond, Mapping):
        wanted = cond if isinstance(cond, list | tuple) else [cond]
        if not wanted:
            raise ConfigError("expected at least one product", where=where)
        parts = [f"{_value(str(w), where)} in products" for w in wanted]
        return parts[0] if len(parts) == 1 else "(" + " or ".join(parts) + ")"
    if isinstance(cond, Mapping):
        if not cond:
            raise ConfigError("an empty mapping of operators", where=where,
                              fix=f"write e.g. {{max: 365}}; operators: {', '.join(OPERATORS)}")
        parts = []
        for op, value in cond.items():
            at = f"{where}.{op}"
            if op not in OPERATORS:
                raise ConfigError(f"unknown operator '{op}'", where=at,
                                  fix=f"allowed operators: {', '.join(OPERATORS)}")
            if op == "is_null":
                if not isinstance(value, bool):
                    raise ConfigError(f"is_null == {value!r}, must be true or false", where=at)
                parts.append(f"{key} is null" if value else f"{key} is not null")
            elif op in ("in", "not_in"):
                parts.append(f"{key} {OPERATORS[op]} {_items(value, at)}")
            else:
                parts.append(f"{key} {OPERATORS[op]} {_value(value, at)}")
        return " and ".join(parts)
    if isinstance(cond, list | tuple):
        return f"{key} in {_items(cond, where)}"
    if cond is None:
        return f"{key} is null"
    return f"{key} == {_value(cond, where)}"


def condition_text(condition: str | Mapping[str, Any], where: str | None = None, *,
                   carries: bool = True) -> str:
    """The rule text a condition stands for (a rule's text is returned as it is).

    Args:
        condition: A rule's text, or a mapping (see the module's table).
        where: Where the condition is written, ``file: key``, for error messages.
        carries: Read ``product: A`` as "carries product A" (partners); False reads it as a
            column test ``product == 'A'`` (events, deals).

    Raises:
        ConfigError: The mapping uses an unknown operator or a value that cannot be compared.
    """
    if isinstance(condition, str):
        return condition
    if not isinstance(condition, Mapping):
        raise ConfigError(f"a condition must be a rule (text) or a mapping, got "
                          f"{type(condition).__name__}", where=where,
                          fix="write e.g. \"rank in ['B'] and tenure_days < 365\" or "
                              "{rank: [B], tenure_days: {max: 365}}")
    place = where or "condition"
    return " and ".join(_entry(str(k), v, f"{place}.{k}" if where else str(k), carries)
                        for k, v in condition.items())


def condition_rule(condition: str | Mapping[str, Any] | None, where: str | None = None,
                   features: Mapping[str, str] | None = None, *, carries: bool = True
                   ) -> Rule | None:
    """Compile a condition (a rule's text or its mapping form) to a :class:`Rule`.

    Args:
        condition: The rule, a mapping, or None / empty (no condition: everyone).
        where: ``file: key`` of the condition, added to every error.
        features: Optional feature catalogue, as for :func:`parse_rule`.
        carries: As for :func:`condition_text`.

    Returns:
        The rule, or None when there is no condition.

    Raises:
        RuleError: The rule does not parse or check; the message starts with ``where``.
        ConfigError: A mapping form is wrong.

    Example:
        >>> try:
        ...     condition_rule("rank == 'B' and", "experiments/x.yaml: eligibility")
        ... except RuleError as exc:
        ...     print(str(exc).splitlines()[0])
        experiments/x.yaml: eligibility: expected a condition at column 16, found end of rule.
    """
    if condition is None or (isinstance(condition, Mapping) and not condition):
        return None
    text = condition_text(condition, where, carries=carries)
    try:
        return parse_rule(text, features)
    except RuleError as exc:
        raise exc.located(where) if where else exc from None
