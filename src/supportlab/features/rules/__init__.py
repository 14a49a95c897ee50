"""The rule language: the one condition language over partner (and event) columns.

A rule says which partners receive a support package, for example
``completion_rate < 0.5 or days_since_last_login >= 30``. The text is split into tokens and
parsed by hand into a small tree; it is never given to ``eval``, ``exec`` or Python's own parser,
so a rule can do nothing but compare feature columns with constants.

Grammar (keywords are case-insensitive)::

    rule      := or_expr
    or_expr   := and_expr (("or" | "||") and_expr)*
    and_expr  := not_expr (("and" | "&&") not_expr)*
    not_expr  := ("not" | "!") not_expr | "(" or_expr ")" | condition
    condition := operand OP operand                 at least one side is a feature
               | feature ["not"] "in" list          also written with ( ... )
               | string ["not"] "in" feature        an item of a list feature ('A' in products)
               | feature "is" ["not"] "null"
               | feature                            a bool feature, or a number one (means != 0)
               | "true" | "false"
    OP        := "<" | "<=" | ">" | ">=" | "==" | "=" | "!=" | "<>"
    operand   := feature | value
    list      := "[" value ("," value)* [","] "]"  all values of one kind, no null
    value     := number | string | "true" | "false"
    number    := ["-"] 12 | 1_000 | 0.5 | 2.5e-3 | 50%  (a percentage is divided by 100)
    string    := '...' | "..."  with the escapes \\ \' \" \n \t \r
    feature   := a letter or "_", then letters, digits or "_", in any script (地域 works);
                 not a keyword, and not starting with "__"

Precedence, loosest first: ``or``, ``and``, ``not``, comparisons. So ``not a and b`` is
``(not a) and b`` and ``not x < 5`` is ``not (x < 5)``. Comparisons do not chain: ``a < b < c`` is
an error; write ``a < b and b < c``. ``=`` means ``==``, ``<>`` means ``!=``, and ``&&``, ``||``,
``!`` are accepted for ``and``, ``or``, ``not``; :func:`str` of a rule always writes the keywords.

Kinds: every feature is a ``number``, ``string``, ``bool`` or ``date``. Numbers compare with
numbers, strings with strings (by code point, like SQL's binary collation), dates with dates or with
date strings (``joined_at >= '2025-04-01'``, also ``'2025-04-01 09:00:00'``; for a column with a
time zone the string is read in that zone), and bools with ``true``/``false`` using ``==``/``!=``
only. Categorical columns compare by their values, not by category order.

Nulls follow SQL's three-valued logic. A comparison or ``in`` test with a missing value (None, NaN,
NA, NaT) is *unknown*; ``not unknown`` is unknown; ``and`` is false if any side is false, true if
all are true, otherwise unknown; ``or`` is true if any side is true, false if all are false,
otherwise unknown. Only ``is null`` / ``is not null`` are never unknown. At the end an unknown rule
is **not selected**. So with ``x`` missing, both ``x < 5`` and ``not (x < 5)`` leave the partner
out, ``x < 5 or y == 1`` selects it when ``y == 1``, and ``x not in [1, 2]`` leaves it out; write
``x is null or ...`` to select partners with a missing value.

Where a rule runs: :meth:`Rule.to_ibis` compiles it to one engine expression (DuckDB, Parquet,
Spark), so targeting filters partners in the engine; :meth:`Rule.evaluate` and
:meth:`Rule.explain` run the same expression on a pandas frame; :meth:`Rule.reasons` says why a
partner holds, listing only the conditions that held. Segments and metric filters are rules too;
their mapping forms (``{rank: [B], tenure_days: {max: 365}}``) are shorthand compiled by
:func:`condition_rule`.

Modules: :mod:`.lexer` (tokens, :class:`RuleError`), :mod:`.parser`, :mod:`.tree` (nodes and
canonical text), :mod:`.kinds` (feature kinds and checks), :mod:`.compile` (ibis and SQL),
:mod:`.explain` (reasons), :mod:`.rule` (:class:`Rule`), :mod:`.sugar` (mapping forms).

Limits: a rule has at most :data:`MAX_RULE_LENGTH` characters and at most :data:`MAX_DEPTH`
nested parentheses and ``not``; integers fit in 64 bits and decimals must be finite and not
underflow to zero. Control and invisible format characters are rejected outside and inside strings.

Example:
    >>> import pandas as pd
    >>> df = pd.DataFrame({"completion_rate": [0.2, 0.9, None],
    ...                    "days_since_last_login": [3, 45, 60]})
    >>> rule = parse_rule("completion_rate < 50% OR days_since_last_login >= 30")
    >>> str(rule)
    'completion_rate < 0.5 or days_since_last_login >= 30'
    >>> rule.evaluate(df).tolist()
    [True, True, True]
    >>> parse_rule("not (completion_rate < 0.5)").evaluate(df).tolist()
    [False, True, False]
"""

from __future__ import annotations

from supportlab.features.rules.compile import LIST_SEPARATOR
from supportlab.features.rules.kinds import FEATURE_KINDS, infer_feature_kinds, kinds_of_schema
from supportlab.features.rules.lexer import RuleError
from supportlab.features.rules.parser import MAX_DEPTH, MAX_RULE_LENGTH
from supportlab.features.rules.rule import Rule, parse_rule
from supportlab.features.rules.sugar import condition_rule, condition_text

__all__ = [
    "FEATURE_KINDS", "LIST_SEPARATOR", "MAX_DEPTH", "MAX_RULE_LENGTH", "Rule", "RuleError",
    "condition_rule", "condition_text", "infer_feature_kinds", "kinds_of_schema", "parse_rule",
]
