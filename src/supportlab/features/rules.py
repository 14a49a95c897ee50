"""Targeting rules: a small, safe expression language over per-partner features.

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
``x is null or ...`` to select partners with a missing value. :meth:`Rule.to_sql` keeps the same
meaning in a SQL ``WHERE`` clause.

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

import difflib
import operator
import re
import unicodedata
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

import numpy as np
import pandas as pd

from supportlab.errors import ConfigError

__all__ = [
    "FEATURE_KINDS", "MAX_DEPTH", "MAX_RULE_LENGTH", "Rule", "RuleError", "infer_feature_kinds",
    "parse_rule",
]

MAX_RULE_LENGTH = 10_000
"""Longest accepted rule, in characters."""

MAX_DEPTH = 100
"""Deepest accepted nesting of parentheses and ``not``."""

FEATURE_KINDS = ("number", "string", "bool", "date")
"""The kinds a feature can have."""

_INT_MIN, _INT_MAX = -(2**63), 2**63 - 1
_MAX_NUMBER_CHARS = 100
_KEYWORDS = frozenset({"and", "or", "not", "in", "is", "null", "true", "false"})
_STRING_PREFIXES = frozenset({"f", "r", "b", "u", "rb", "br", "fr", "rf"})
_ESCAPES = {"\\": "\\", "'": "'", '"': '"', "n": "\n", "t": "\t", "r": "\r"}
_NUMBER = re.compile(
    r"[0-9](?:_?[0-9])*(?:\.[0-9](?:_?[0-9])*)?(?:[eE][+-]?[0-9](?:_?[0-9])*)?%?")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}(?:[ T]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,6})?)?)?")
_HINT = ("A rule uses feature names, numbers, quoted strings, comparisons (< <= > >= == !=), "
         "'in [...]', 'is null', 'and', 'or', 'not' and parentheses")

_TWO_CHAR = {"<=": ("op", "<="), ">=": ("op", ">="), "==": ("op", "=="), "!=": ("op", "!="),
             "<>": ("op", "!="), "&&": ("kw", "and"), "||": ("kw", "or")}
_ONE_CHAR = {"<": ("op", "<"), ">": ("op", ">"), "=": ("op", "=="), "!": ("kw", "not"),
             "(": ("(", "("), ")": (")", ")"), "[": ("[", "["), "]": ("]", "]"),
             ",": (",", ","), "-": ("-", "-")}
_ARITHMETIC = "arithmetic is not supported; compare a feature with a constant"
_BAD_TWO = {":=": "assignment (':=') is not allowed; a rule only tests conditions",
            "=>": "did you mean '>='?", "=<": "did you mean '<='?", "**": _ARITHMETIC,
            "//": _ARITHMETIC, "->": "arrows are not allowed"}
_BAD_ONE = {
    ".": "attribute access ('.') is not allowed; feature names contain only letters, digits and "
         "'_', and decimals start with a digit (0.5)",
    ";": "';' is not allowed; a rule is a single condition",
    "`": "backticks are not allowed; feature names are written bare, strings in quotes",
    ":": "':' is not allowed (no lambdas, slices, dictionaries or assignments)",
    "&": "write 'and' (or '&&')", "|": "write 'or' (or '||')",
    "+": _ARITHMETIC, "*": _ARITHMETIC, "/": _ARITHMETIC, "%": _ARITHMETIC, "^": _ARITHMETIC,
    "~": "write 'not' for negation",
    "#": "comments are not supported",
    "\\": "a backslash is only allowed inside a quoted string",
    "{": "braces are not allowed", "}": "braces are not allowed",
}
_FANCY_QUOTES = frozenset("‘’‚‛“”„‟「」『』«»")

_Ops = Callable[[object, object], object]
_COMPARE: dict[str, _Ops] = {"<": operator.lt, "<=": operator.le, ">": operator.gt,
                             ">=": operator.ge, "==": operator.eq, "!=": operator.ne}
_SQL_OPS = {"<": "<", "<=": "<=", ">": ">", ">=": ">=", "==": "=", "!=": "<>"}


# --------------------------------------------------------------------------------------- errors

class RuleError(ConfigError):
    """A targeting rule cannot be parsed, checked or evaluated.

    The message names the problem and where it is, and is followed by the rule's line with a caret
    under the offending token.

    Attributes:
        reason: The one-line message, without the caret lines.
        text: The rule's text, if known.
        position: 0-based offset of the offending token in ``text``, or None.
        line: 1-based line of the offending token (rules are usually one line), or None.
        column: 1-based column of the offending token within its line, or None.
        length: Length of the offending token in characters.

    Example:
        >>> try:
        ...     parse_rule("rank == 'B' and")
        ... except RuleError as exc:
        ...     print(exc.column, exc.reason)
        16 expected a condition at column 16, found end of rule
    """

    def __init__(self, what: str, *, text: str | None = None, position: int | None = None,
                 length: int = 1, fix: str | None = None, where: str | None = None) -> None:
        self.reason = what
        self.text = text
        self.position = position
        self.length = max(1, length)
        self.line: int | None = None
        self.column: int | None = None
        if text is not None and position is not None:
            self.line, self.column = _line_column(text, position)
        super().__init__(what, where=where, fix=fix)

    def _compose(self) -> str:
        head = super()._compose()
        snippet = self.snippet()
        return f"{head}\n{snippet}" if snippet else head

    def snippet(self) -> str:
        """Return the offending line of the rule and a caret line under the offending token."""
        if self.text is None or self.position is None:
            return ""
        text, pos = self.text, min(max(self.position, 0), len(self.text))
        start = text.rfind("\n", 0, pos) + 1
        end = text.find("\n", pos)
        line = text[start:] if end == -1 else text[start:end]
        col = pos - start
        lo = max(0, col - 40)
        hi = min(len(line), max(col + 40, lo + 80))
        prefix = "…" if lo > 0 else ""
        suffix = "…" if hi < len(line) else ""
        mark = _width(_printable(line[col:col + self.length])) or 1
        caret = " " * (_width(prefix) + _width(_printable(line[lo:col]))) + "^" * min(mark, 40)
        return f"    {prefix}{_printable(line[lo:hi])}{suffix}\n    {caret}"


def _line_column(text: str, pos: int) -> tuple[int, int]:
    pos = min(max(pos, 0), len(text))
    return text.count("\n", 0, pos) + 1, pos - (text.rfind("\n", 0, pos) + 1) + 1


def _where(text: str, pos: int) -> str:
    line, column = _line_column(text, pos)
    return f"line {line}, column {column}" if "\n" in text else f"column {column}"


def _printable(s: str) -> str:
    return "".join(c if c.isprintable() else (" " if c.isspace() else "?") for c in s)


def _width(s: str) -> int:
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in s)


# --------------------------------------------------------------------------------------- tokens

@dataclass(frozen=True, slots=True)
class _Token:
    kind: str  # ident, number, string, op, kw, eof, or the punctuation itself: ( ) [ ] , -
    value: object
    pos: int
    end: int
    source: str


def _describe(tok: _Token) -> str:
    text = tok.source if len(tok.source) <= 30 else tok.source[:29] + "…"
    if tok.kind == "eof":
        return "end of rule"
    if tok.kind == "string":
        return f"string {_printable(text)}"
    if tok.kind == "number":
        return f"number {text}"
    return f"token '{_printable(text)}'"


def _is_ident_start(ch: str) -> bool:
    return ch == "_" or ch.isalpha()


def _is_ident_char(ch: str) -> bool:
    return ch == "_" or ch.isalnum()


def _lex_error(text: str, pos: int, what: str, length: int = 1,
               fix: str | None = None) -> RuleError:
    return RuleError(what, text=text, position=pos, length=length, fix=fix)


def _tokenize(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch in " \t\r\n":
            i += 1
            continue
        category = unicodedata.category(ch)
        if category in ("Zs", "Zl", "Zp"):
            i += 1
            continue
        if category in ("Cc", "Cf", "Cs"):
            raise _lex_error(text, i, f"control character U+{ord(ch):04X} at {_where(text, i)} "
                             "is not allowed", fix="remove it")
        if "0" <= ch <= "9":
            tok = _lex_number(text, i)
        elif _is_ident_start(ch):
            tok = _lex_word(text, i)
        elif ch in "'\"":
            tok = _lex_string(text, i)
        elif text[i:i + 2] in _TWO_CHAR:
            kind, value = _TWO_CHAR[text[i:i + 2]]
            tok = _Token(kind, value, i, i + 2, text[i:i + 2])
        elif text[i:i + 2] in _BAD_TWO:
            raise _lex_error(text, i, f"unexpected '{text[i:i + 2]}' at {_where(text, i)}; "
                             f"{_BAD_TWO[text[i:i + 2]]}", length=2)
        elif ch in _ONE_CHAR:
            kind, value = _ONE_CHAR[ch]
            tok = _Token(kind, value, i, i + 1, ch)
        else:
            raise _unexpected_character(text, i)
        tokens.append(tok)
        i = tok.end
    tokens.append(_Token("eof", None, n, n, ""))
    return tokens


def _unexpected_character(text: str, i: int) -> RuleError:
    ch = text[i]
    where = _where(text, i)
    if ch in _BAD_ONE:
        return _lex_error(text, i, f"unexpected '{ch}' at {where}; {_BAD_ONE[ch]}")
    if ch in _FANCY_QUOTES:
        return _lex_error(text, i, f"unexpected quotation mark '{ch}' at {where}; "
                          "write strings in ASCII quotes, 'like this' or \"like this\"")
    ascii_form = unicodedata.normalize("NFKC", ch)
    if ascii_form != ch and len(ascii_form) == 1 and ascii_form.isascii():
        return _lex_error(text, i, f"unexpected full-width character '{ch}' at {where}; "
                          f"use '{ascii_form}' instead")
    shown = ch if ch.isprintable() else f"U+{ord(ch):04X}"
    return _lex_error(text, i, f"unexpected character '{shown}' at {where}", fix=_HINT)


def _lex_number(text: str, i: int) -> _Token:
    match = _NUMBER.match(text, i)
    assert match is not None  # text[i] is a digit
    j = match.end()
    if j < len(text) and (_is_ident_char(text[j]) or text[j] in ".%"):
        k = j
        while k < len(text) and (_is_ident_char(text[k]) or text[k] in ".%+-"):
            k += 1
        bad = text[i:k]
        raise _lex_error(text, i, f"invalid number '{_printable(bad[:30])}' at "
                         f"{_where(text, i)}", length=k - i,
                         fix="write numbers like 12, 1_000, 0.5, 2.5e-3 or 50%")
    raw = text[i:j]
    if len(raw) > _MAX_NUMBER_CHARS:
        raise _lex_error(text, i, f"number at {_where(text, i)} is too long "
                         f"({len(raw)} characters; at most {_MAX_NUMBER_CHARS})", length=len(raw))
    digits = raw.replace("_", "")
    percent = digits.endswith("%")
    digits = digits.rstrip("%")
    value: int | float
    if not percent and not any(c in digits for c in ".eE"):
        value = int(digits)
    else:
        exact = Decimal(digits)
        try:
            value = float(exact.scaleb(-2) if percent else exact)
        except ArithmeticError:
            value = float("inf")
        if value in (float("inf"), float("-inf")):
            raise _lex_error(text, i, f"number '{raw[:30]}' at {_where(text, i)} is too large",
                             length=len(raw))
        if value == 0 and exact != 0:
            raise _lex_error(text, i, f"number '{raw[:30]}' at {_where(text, i)} is too small "
                             "(it would be rounded to 0)", length=len(raw))
    return _Token("number", value, i, j, raw)


def _lex_word(text: str, i: int) -> _Token:
    j = i + 1
    while j < len(text) and _is_ident_char(text[j]):
        j += 1
    word = text[i:j]
    where = _where(text, i)
    if j < len(text) and text[j] in "'\"" and word.lower() in _STRING_PREFIXES:
        raise _lex_error(text, i, f"string prefix '{word}' at {where} is not supported; "
                         "write a plain quoted string", length=j - i + 1)
    if word.startswith("__"):
        raise _lex_error(text, i, f"names starting with '__' are not allowed ('{word[:30]}' at "
                         f"{where})", length=j - i)
    lower = word.lower()
    if lower in _KEYWORDS:
        return _Token("kw", lower, i, j, word)
    return _Token("ident", word, i, j, word)


def _lex_string(text: str, i: int) -> _Token:
    quote = text[i]
    chars: list[str] = []
    j = i + 1
    while j < len(text):
        ch = text[j]
        if ch == quote:
            return _Token("string", "".join(chars), i, j + 1, text[i:j + 1])
        if ch == "\\":
            nxt = text[j + 1] if j + 1 < len(text) else ""
            if nxt not in _ESCAPES:
                if not nxt:
                    break
                raise _lex_error(text, j, f"unknown escape '\\{_printable(nxt)}' in string at "
                                 f"{_where(text, j)}", length=2,
                                 fix="the escapes are \\\\ \\' \\\" \\n \\t \\r; write \\\\ "
                                 "for a backslash")
            chars.append(_ESCAPES[nxt])
            j += 2
            continue
        if unicodedata.category(ch) in ("Cc", "Cf", "Cs"):
            raise _lex_error(text, j, f"control character U+{ord(ch):04X} inside string at "
                             f"{_where(text, j)} is not allowed",
                             fix="write \\n, \\t or \\r for a line break or tab, or remove it")
        chars.append(ch)
        j += 1
    raise _lex_error(text, i, f"unterminated string starting at {_where(text, i)}",
                     fix=f"add the closing quote ({quote})")


# ----------------------------------------------------------------------------------------- tree

@dataclass(frozen=True, slots=True)
class _Feature:
    name: str
    pos: int = field(default=0, compare=False)


@dataclass(frozen=True, slots=True)
class _Literal:
    value: int | float | str | bool | None
    kind: str  # number, string, bool, null
    pos: int = field(default=0, compare=False)
    source: str = field(default="", compare=False)


_Operand = _Feature | _Literal


@dataclass(frozen=True, slots=True)
class _Compare:
    op: str
    left: _Operand
    right: _Operand
    pos: int = field(default=0, compare=False)


@dataclass(frozen=True, slots=True)
class _InList:
    feature: _Feature
    items: tuple[_Literal, ...]
    negated: bool
    pos: int = field(default=0, compare=False)


@dataclass(frozen=True, slots=True)
class _IsNull:
    feature: _Feature
    negated: bool
    pos: int = field(default=0, compare=False)


@dataclass(frozen=True, slots=True)
class _Truth:
    operand: _Operand
    pos: int = field(default=0, compare=False)


@dataclass(frozen=True, slots=True)
class _Not:
    operand: _Node
    pos: int = field(default=0, compare=False)


@dataclass(frozen=True, slots=True)
class _And:
    children: tuple[_Node, ...]


@dataclass(frozen=True, slots=True)
class _Or:
    children: tuple[_Node, ...]


_Atom = _Compare | _InList | _IsNull | _Truth
_Node = _Atom | _Not | _And | _Or


def _atoms(root: _Node) -> Iterator[_Atom]:
    """Yield the atomic conditions left to right (without recursion)."""
    stack: list[_Node] = [root]
    while stack:
        node = stack.pop()
        if isinstance(node, _And | _Or):
            stack.extend(reversed(node.children))
        elif isinstance(node, _Not):
            stack.append(node.operand)
        else:
            yield node


def _features_of(atom: _Atom) -> list[_Feature]:
    if isinstance(atom, _Compare):
        return [o for o in (atom.left, atom.right) if isinstance(o, _Feature)]
    if isinstance(atom, _InList | _IsNull):
        return [atom.feature]
    return [atom.operand] if isinstance(atom.operand, _Feature) else []


# --------------------------------------------------------------------------------------- parser

_PREC_OR, _PREC_AND, _PREC_NOT = 1, 2, 3


def _is_kw(tok: _Token, word: str) -> bool:
    return tok.kind == "kw" and tok.value == word


def _join(cls: type[_And] | type[_Or], left: _Node, right: _Node) -> _Node:
    parts: list[_Node] = []
    for node in (left, right):
        parts.extend(node.children if isinstance(node, cls) else (node,))
    return cls(tuple(parts))


class _Parser:
    """Precedence-climbing parser; one stack frame per precedence step, depth-capped."""

    def __init__(self, text: str, tokens: list[_Token]) -> None:
        self.text = text
        self.tokens = tokens
        self.i = 0
        self.depth = 0

    def peek(self, ahead: int = 0) -> _Token:
        return self.tokens[min(self.i + ahead, len(self.tokens) - 1)]

    def advance(self) -> _Token:
        tok = self.tokens[self.i]
        if tok.kind != "eof":
            self.i += 1
        return tok

    def at(self, tok: _Token) -> str:
        return _where(self.text, tok.pos)

    def error(self, what: str, tok: _Token, fix: str | None = None) -> RuleError:
        return RuleError(what, text=self.text, position=tok.pos, length=tok.end - tok.pos, fix=fix)

    def parse(self) -> _Node:
        root = self.expr(_PREC_OR)
        tok = self.peek()
        if tok.kind == ")":
            raise self.error(f"unexpected ')' at {self.at(tok)}; it has no matching '('", tok)
        if tok.kind != "eof":
            raise self.error(f"unexpected {_describe(tok)} at {self.at(tok)}; expected 'and', "
                             "'or' or the end of the rule", tok)
        return root

    def enter(self, tok: _Token) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise self.error(f"the rule nests too deeply at {self.at(tok)}: more than "
                             f"{MAX_DEPTH} levels of parentheses and 'not'", tok,
                             fix="simplify the rule")

    def expr(self, min_prec: int) -> _Node:
        tok = self.peek()
        left: _Node
        if _is_kw(tok, "not"):
            self.advance()
            self.enter(tok)
            left = _Not(self.expr(_PREC_NOT), pos=tok.pos)
            self.depth -= 1
        elif tok.kind == "(":
            self.advance()
            self.enter(tok)
            left = self.expr(_PREC_OR)
            close = self.peek()
            if close.kind != ")":
                raise self.error(f"expected ')' at {self.at(close)}, found {_describe(close)}; "
                                 f"the '(' at {self.at(tok)} is not closed", close)
            self.advance()
            self.depth -= 1
            after = self.peek()
            if after.kind == "op" or _is_kw(after, "in") or _is_kw(after, "is"):
                raise self.error(f"unexpected {_describe(after)} at {self.at(after)}; only a "
                                 "feature or a value can be compared, not a parenthesized "
                                 "condition", after)
        else:
            left = self.condition()
        while True:
            tok = self.peek()
            if _is_kw(tok, "and"):
                prec, cls = _PREC_AND, _And
            elif _is_kw(tok, "or"):
                prec, cls = _PREC_OR, _Or
            else:
                return left
            if prec < min_prec:
                return left
            self.advance()
            left = _join(cls, left, self.expr(prec + 1))

    def condition(self) -> _Atom:
        start = self.peek()
        left = self.operand(after=None)
        tok = self.peek()
        if tok.kind == "op":
            self.advance()
            right = self.operand(after=tok)
            nxt = self.peek()
            if nxt.kind == "op":
                raise self.error(f"unexpected {_describe(nxt)} at {self.at(nxt)}; comparisons "
                                 "cannot be chained", nxt,
                                 fix="join them with 'and', e.g. 'a < b and b < c'")
            for side in (left, right):
                if isinstance(side, _Literal) and side.kind == "null":
                    raise RuleError(f"cannot compare with null at {_where(self.text, side.pos)}; "
                                    "a comparison with a missing value is never true",
                                    text=self.text, position=side.pos, length=4,
                                    fix="test for missing values with 'is null' or "
                                        "'is not null'")
            if isinstance(left, _Literal) and isinstance(right, _Literal):
                raise self.error(f"the comparison at {self.at(tok)} compares two values; one "
                                 "side must be a feature", tok)
            return _Compare(str(tok.value), left, right, pos=tok.pos)
        if _is_kw(tok, "in") or (_is_kw(tok, "not") and _is_kw(self.peek(1), "in")):
            negated = _is_kw(tok, "not")
            if negated:
                self.advance()
            in_tok = self.advance()
            if not isinstance(left, _Feature):
                raise self.error(f"the left side of 'in' must be a feature, found "
                                 f"{_describe(start)} at {self.at(start)}", start)
            return _InList(left, self.list_items(in_tok), negated, pos=tok.pos)
        if _is_kw(tok, "not"):
            raise self.error(f"unexpected token 'not' at {self.at(tok)}; after a value 'not' "
                             "must be followed by 'in'", tok,
                             fix="write 'x not in [...]', or 'not (x < 5)' to negate a "
                                 "comparison")
        if _is_kw(tok, "is"):
            self.advance()
            negated = False
            if _is_kw(self.peek(), "not"):
                self.advance()
                negated = True
            null = self.peek()
            if not _is_kw(null, "null"):
                fix = ("to test a bool feature write 'x == true'"
                       if _is_kw(null, "true") or _is_kw(null, "false") else None)
                raise self.error(f"expected 'null' at {self.at(null)}, found {_describe(null)}; "
                                 "only 'is null' and 'is not null' are supported", null, fix)
            self.advance()
            if not isinstance(left, _Feature):
                raise self.error(f"'is null' needs a feature on its left, found "
                                 f"{_describe(start)} at {self.at(start)}", start)
            return _IsNull(left, negated, pos=tok.pos)
        if isinstance(left, _Feature) or left.kind == "bool":
            return _Truth(left, pos=left.pos)
        raise self.error(f"{_describe(start)} at {self.at(start)} is not a condition by itself",
                         start, fix="compare it with a feature, e.g. 'logins_30d >= 3'")

    def operand(self, after: _Token | None) -> _Operand:
        tok = self.peek()
        if tok.kind == "ident":
            self.advance()
            nxt = self.peek()
            if nxt.kind == "(":
                raise self.error(f"unexpected '(' after '{tok.source}' at {self.at(nxt)}; "
                                 "function calls are not allowed", nxt)
            if nxt.kind == "[":
                raise self.error(f"unexpected '[' after '{tok.source}' at {self.at(nxt)}; "
                                 "subscripts are not allowed", nxt)
            return _Feature(str(tok.value), pos=tok.pos)
        value = self.value()
        if value is not None:
            return value
        if tok.kind == "[":
            raise self.error(f"a list at {self.at(tok)} is only allowed after 'in'", tok,
                             fix="write e.g. rank in ['B', 'C']")
        if after is None:
            if tok.kind == "eof":
                raise self.error(f"expected a condition at {self.at(tok)}, found end of rule",
                                 tok)
            raise self.error(f"unexpected {_describe(tok)} at {self.at(tok)}; expected a "
                             "condition", tok)
        if tok.kind == "eof":
            raise self.error(f"expected a value after '{after.source}' at {self.at(tok)}, found "
                             "end of rule", tok)
        raise self.error(f"unexpected {_describe(tok)} at {self.at(tok)}; expected a feature "
                         f"or a value after '{after.source}'", tok)

    def value(self) -> _Literal | None:
        """Parse a literal if one starts here, else return None without consuming anything."""
        tok = self.peek()
        if tok.kind == "number":
            self.advance()
            return self.number(tok, tok, negative=False)
        if tok.kind == "-":
            self.advance()
            num = self.peek()
            if num.kind != "number":
                raise self.error(f"expected a number after '-' at {self.at(num)}, found "
                                 f"{_describe(num)}", num, fix=_ARITHMETIC)
            self.advance()
            return self.number(tok, num, negative=True)
        if tok.kind == "string":
            self.advance()
            return _Literal(str(tok.value), "string", pos=tok.pos, source=tok.source)
        if _is_kw(tok, "true") or _is_kw(tok, "false"):
            self.advance()
            return _Literal(tok.value == "true", "bool", pos=tok.pos, source=str(tok.value))
        if _is_kw(tok, "null"):
            self.advance()
            return _Literal(None, "null", pos=tok.pos, source="null")
        return None

    def number(self, start: _Token, tok: _Token, *, negative: bool) -> _Literal:
        value = tok.value
        assert isinstance(value, int | float)
        if negative:
            value = -value
        source = self.text[start.pos:tok.end]
        if isinstance(value, int) and not _INT_MIN <= value <= _INT_MAX:
            raise RuleError(f"integer at {self.at(start)} is out of range (more than 64 bits)",
                            text=self.text, position=start.pos, length=tok.end - start.pos,
                            fix="write it as a decimal, e.g. 1e20")
        return _Literal(value, "number", pos=start.pos, source=source)

    def list_items(self, in_tok: _Token) -> tuple[_Literal, ...]:
        opener = self.peek()
        if opener.kind not in ("[", "("):
            raise self.error(f"expected '[' after 'in' at {self.at(opener)}, found "
                             f"{_describe(opener)}", opener, fix="write e.g. rank in ['B', 'C']")
        self.advance()
        closer = "]" if opener.kind == "[" else ")"
        items: list[_Literal] = []
        while True:
            tok = self.peek()
            if tok.kind == closer:
                if not items:
                    raise self.error(f"empty list at {self.at(opener)}; list at least one value",
                                     opener)
                self.advance()
                break
            item = self.list_item()
            if items and item.kind != items[0].kind:
                raise RuleError(f"the list mixes {items[0].kind}s and {item.kind}s at "
                                f"{_where(self.text, item.pos)}", text=self.text,
                                position=item.pos, length=len(item.source),
                                fix="use values of one kind in a list")
            items.append(item)
            sep = self.peek()
            if sep.kind == ",":
                self.advance()
            elif sep.kind == closer:
                self.advance()
                break
            else:
                raise self.error(f"expected ',' or '{closer}' at {self.at(sep)}, found "
                                 f"{_describe(sep)}; the list at {self.at(opener)} is not "
                                 "closed", sep)
        return tuple(items)

    def list_item(self) -> _Literal:
        tok = self.peek()
        if tok.kind == "ident":
            raise self.error(f"list items must be values (numbers, strings, true or false), "
                             f"found feature '{tok.source}' at {self.at(tok)}", tok)
        item = self.value()
        if item is None:
            if tok.kind == "eof":
                raise self.error(f"expected a value at {self.at(tok)}, found end of rule; the "
                                 "list is not closed", tok)
            raise self.error(f"unexpected {_describe(tok)} at {self.at(tok)}; expected a value "
                             "in the list", tok)
        if item.kind == "null":
            raise RuleError(f"null cannot be a list item (at {_where(self.text, item.pos)})",
                            text=self.text, position=item.pos, length=4,
                            fix="test missing values with 'x is null' and combine with 'or'")
        return item


# ------------------------------------------------------------------------------ semantic checks

def _kind_of(operand: _Operand, kinds: Mapping[str, str | None]) -> str | None:
    if isinstance(operand, _Feature):
        return kinds.get(operand.name)
    return operand.kind


def _describe_operand(operand: _Operand, kind: str | None) -> str:
    if isinstance(operand, _Feature):
        return f"{kind} feature '{operand.name}'"
    if operand.kind == "bool":
        return f"boolean {operand.source}"
    return f"{operand.kind} {_printable(operand.source[:30])}"


def _parse_date(value: str) -> pd.Timestamp | None:
    if not _DATE.fullmatch(value):
        return None
    try:
        return pd.Timestamp(datetime.fromisoformat(value))
    except ValueError:
        return None


def _check_pair(op: str, left: _Operand, right: _Operand, at_pos: int, text: str,
                kinds: Mapping[str, str | None]) -> None:
    kl, kr = _kind_of(left, kinds), _kind_of(right, kinds)
    if kl is None or kr is None:
        return
    for date_kind, other, other_kind in ((kl, right, kr), (kr, left, kl)):
        if date_kind == "date" and isinstance(other, _Literal) and other_kind == "string":
            if _parse_date(str(other.value)) is None:
                raise RuleError(f"{_printable(other.source[:30])} at "
                                f"{_where(text, other.pos)} is not a date", text=text,
                                position=other.pos, length=len(other.source),
                                fix="write dates as 'YYYY-MM-DD' or 'YYYY-MM-DD HH:MM:SS'")
            return
    if kl != kr:
        fix = None
        kinds_pair = {kl, kr}
        if kinds_pair == {"number", "bool"}:
            fix = "for a 0/1 number feature write e.g. 'video_completed == 1'"
        elif kinds_pair == {"string", "number"}:
            fix = "quote the value if the feature holds text, e.g. rank == '3'"
        raise RuleError(f"cannot compare {_describe_operand(left, kl)} with "
                        f"{_describe_operand(right, kr)} at {_where(text, at_pos)}", text=text,
                        position=at_pos, length=len(op) if op else 1, fix=fix)
    if kl == "bool" and op not in ("==", "!="):
        raise RuleError(f"true/false values can only be compared with '==' or '!=', not "
                        f"'{op}' at {_where(text, at_pos)}", text=text, position=at_pos,
                        length=len(op))


def _suggest(name: str, known: list[str]) -> str | None:
    for candidate in known:
        if candidate.lower() == name.lower():
            return candidate
    close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
    return close[0] if close else None


def _check(root: _Node, text: str, kinds: Mapping[str, str | None],
           *, known: list[str] | None = None, in_data: bool = False) -> None:
    """Check names and kinds of every atom, left to right; raise the first problem found."""
    for atom in _atoms(root):
        for feature in _features_of(atom):
            if feature.name not in kinds:
                names = sorted(known if known is not None else kinds)
                suggestion = _suggest(feature.name, names)
                what = f"unknown feature '{feature.name}' at {_where(text, feature.pos)}"
                if in_data:
                    what += " (the data has no such column)"
                fix = None
                if suggestion:
                    what += f"; did you mean '{suggestion}'?"
                elif names:
                    shown = ", ".join(names[:10]) + (", …" if len(names) > 10 else "")
                    fix = f"known features: {shown}"
                raise RuleError(what, text=text, position=feature.pos,
                                length=len(feature.name), fix=fix)
        if isinstance(atom, _Compare):
            _check_pair(atom.op, atom.left, atom.right, atom.pos, text, kinds)
        elif isinstance(atom, _InList):
            for item in atom.items:
                _check_pair("==", atom.feature, item, item.pos, text, kinds)
        elif isinstance(atom, _Truth) and isinstance(atom.operand, _Feature):
            kind = kinds.get(atom.operand.name)
            if kind in ("string", "date"):
                name = atom.operand.name
                example = f"{name} == 'A'" if kind == "string" else f"{name} >= '2025-04-01'"
                raise RuleError(f"{kind} feature '{name}' at {_where(text, atom.pos)} is not a "
                                "condition by itself", text=text, position=atom.pos,
                                length=len(name), fix=f"compare it, e.g. {example}")


def _normalize_kinds(features: Mapping[str, str]) -> dict[str, str | None]:
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


# ------------------------------------------------------------------------------------ rendering

def _quote(value: str) -> str:
    escaped = (value.replace("\\", "\\\\").replace("'", "\\'").replace("\n", "\\n")
               .replace("\t", "\\t").replace("\r", "\\r"))
    return f"'{escaped}'"


def _format_literal(lit: _Literal) -> str:
    if lit.kind == "string":
        return _quote(str(lit.value))
    if lit.kind == "bool":
        return "true" if lit.value else "false"
    if lit.kind == "null":
        return "null"
    return repr(lit.value)


def _format_operand(operand: _Operand) -> str:
    return operand.name if isinstance(operand, _Feature) else _format_literal(operand)


def _format(node: _Node) -> str:
    if isinstance(node, _Or):
        return " or ".join(_format(c) for c in node.children)
    if isinstance(node, _And):
        return " and ".join(f"({_format(c)})" if isinstance(c, _Or) else _format(c)
                            for c in node.children)
    if isinstance(node, _Not):
        inner = _format(node.operand)
        if isinstance(node.operand, _Truth | _Not):
            return f"not {inner}"
        return f"not ({inner})"
    if isinstance(node, _Compare):
        return f"{_format_operand(node.left)} {node.op} {_format_operand(node.right)}"
    if isinstance(node, _InList):
        items = ", ".join(_format_literal(i) for i in node.items)
        return f"{node.feature.name} {'not in' if node.negated else 'in'} [{items}]"
    if isinstance(node, _IsNull):
        return f"{node.feature.name} is {'not null' if node.negated else 'null'}"
    return _format_operand(node.operand)


def _label(atom: _Atom, kinds: Mapping[str, str | None]) -> str:
    if isinstance(atom, _Truth) and isinstance(atom.operand, _Feature):
        name = atom.operand.name
        kind = kinds.get(name)
        return f"{name} != 0" if kind == "number" else f"{name} == true"
    return _format(atom)


def _sql_identifier(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _sql_literal(lit: _Literal) -> str:
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


def _sql_operand(operand: _Operand) -> str:
    if isinstance(operand, _Feature):
        return _sql_identifier(operand.name)
    return _sql_literal(operand)


def _sql(node: _Node, kinds: Mapping[str, str | None]) -> str:
    if isinstance(node, _Or | _And):
        joiner = " OR " if isinstance(node, _Or) else " AND "
        return "(" + joiner.join(_sql(c, kinds) for c in node.children) + ")"
    if isinstance(node, _Not):
        return f"(NOT {_sql(node.operand, kinds)})"
    if isinstance(node, _Compare):
        return (f"({_sql_operand(node.left)} {_SQL_OPS[node.op]} "
                f"{_sql_operand(node.right)})")
    if isinstance(node, _InList):
        items = ", ".join(_sql_literal(i) for i in node.items)
        return f"({_sql_identifier(node.feature.name)} {'NOT IN' if node.negated else 'IN'} " \
               f"({items}))"
    if isinstance(node, _IsNull):
        return f"({_sql_identifier(node.feature.name)} IS {'NOT NULL' if node.negated else 'NULL'})"
    operand = node.operand
    if isinstance(operand, _Feature) and kinds.get(operand.name) == "number":
        return f"({_sql_identifier(operand.name)} <> 0)"
    return _sql_operand(operand)


# ----------------------------------------------------------------------------------- evaluation

def _series_kind(series: pd.Series) -> str | None:
    dtype = series.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        categories = pd.Series(dtype.categories)
        return _series_kind(categories) if len(categories) else None
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
            kind = _series_kind(df.iloc[:, i])
            if kind is not None:
                kinds[column] = kind
    return kinds


def _tz_of(series: pd.Series) -> object:
    try:
        return series.dt.tz
    except (AttributeError, TypeError):
        return None


class _Evaluation:
    """A rule bound to one DataFrame: checked columns, prepared values and null masks."""

    def __init__(self, rule: Rule, df: pd.DataFrame) -> None:
        if not isinstance(df, pd.DataFrame):
            raise TypeError(f"df must be a pandas DataFrame, got {type(df).__name__}")
        self.text = rule._text
        self.n = len(df)
        positions: dict[object, list[int]] = {}
        for i, column in enumerate(df.columns):
            positions.setdefault(column, []).append(i)
        self.original: dict[str, pd.Series] = {}
        self.kinds: dict[str, str | None] = {}
        for name in rule._order:
            found = positions.get(name)
            if not found:
                continue
            if len(found) > 1:
                first = next(f for a in _atoms(rule._root) for f in _features_of(a)
                             if f.name == name)
                raise RuleError(f"feature '{name}' at {_where(self.text, first.pos)} is in "
                                f"{len(found)} columns of the data", text=self.text,
                                position=first.pos, length=len(name),
                                fix="give every column a unique name")
            self.original[name] = df.iloc[:, found[0]]
            self.kinds[name] = _series_kind(self.original[name])
        known = [c for c in df.columns if isinstance(c, str)]
        _check(rule._root, self.text, self.kinds, known=known, in_data=True)
        self.series: dict[str, pd.Series] = {}
        self.known: dict[str, np.ndarray] = {}
        for name, series in self.original.items():
            prepared = series.reset_index(drop=True)
            if isinstance(prepared.dtype, pd.CategoricalDtype):
                prepared = prepared.astype(object)
            if self.kinds[name] == "date" and not pd.api.types.is_datetime64_any_dtype(
                    prepared.dtype):
                try:
                    prepared = pd.to_datetime(prepared)
                except (ValueError, TypeError) as exc:
                    raise RuleError(f"feature '{name}' holds dates that cannot be compared: "
                                    f"{exc}") from None
            self.series[name] = prepared
            self.known[name] = prepared.notna().to_numpy(dtype=bool)

    def fail(self, node_pos: int, what: str, exc: Exception) -> RuleError:
        return RuleError(f"cannot evaluate the condition at {_where(self.text, node_pos)}: "
                         f"{what} ({exc})", text=self.text, position=node_pos,
                         fix="make sure each feature column holds one kind of value, and that "
                             "compared dates are all with or all without a time zone")

    def operand(self, operand: _Operand, other: _Operand) -> tuple[object, np.ndarray | None]:
        if isinstance(operand, _Feature):
            return self.series[operand.name], self.known[operand.name]
        value: object = operand.value
        if (isinstance(other, _Feature) and self.kinds.get(other.name) == "date"
                and operand.kind == "string"):
            value = self.timestamp(str(value), self.series[other.name])
        return value, None

    @staticmethod
    def timestamp(value: str, series: pd.Series) -> pd.Timestamp:
        stamp = _parse_date(value)
        assert stamp is not None  # checked before evaluation
        tz = _tz_of(series)
        return stamp.tz_localize(tz) if tz is not None else stamp

    def eval(self, node: _Node) -> tuple[np.ndarray, np.ndarray]:
        """Return (value, known): value is meaningful only where known is True."""
        n = self.n
        if isinstance(node, _And | _Or):
            parts = [self.eval(c) for c in node.children]
            trues = [v & k for v, k in parts]
            falses = [~v & k for v, k in parts]
            if isinstance(node, _And):
                value = np.logical_and.reduce(trues)
                return value, value | np.logical_or.reduce(falses)
            value = np.logical_or.reduce(trues)
            return value, value | np.logical_and.reduce(falses)
        if isinstance(node, _Not):
            value, known = self.eval(node.operand)
            return ~value & known, known
        if isinstance(node, _IsNull):
            known = self.known[node.feature.name]
            return (known.copy() if node.negated else ~known), np.ones(n, dtype=bool)
        value = np.zeros(n, dtype=bool)
        if isinstance(node, _Truth):
            operand = node.operand
            if isinstance(operand, _Literal):
                return np.full(n, bool(operand.value)), np.ones(n, dtype=bool)
            series, known = self.series[operand.name], self.known[operand.name]
            if known.any():
                kind = self.kinds[operand.name]
                subset = series[known]
                try:
                    if kind == "bool":
                        result = subset.astype(bool)
                    elif kind == "number":
                        result = subset != 0
                    else:
                        raise TypeError(f"values of kind {kind or 'mixed'}")
                except (TypeError, ValueError) as exc:
                    raise self.fail(node.pos, f"'{operand.name}' is not true/false", exc) from None
                value[known] = np.asarray(result, dtype=bool)
            return value, known
        if isinstance(node, _InList):
            series, known = self.series[node.feature.name], self.known[node.feature.name]
            if known.any():
                items: list[object] = [self.operand(item, node.feature)[0] for item in node.items]
                try:
                    found = np.asarray(series[known].isin(items), dtype=bool)
                except (TypeError, ValueError) as exc:
                    raise self.fail(node.pos, "the list cannot be matched", exc) from None
                value[known] = ~found if node.negated else found
            return value, known
        left, left_known = self.operand(node.left, node.right)
        right, right_known = self.operand(node.right, node.left)
        if left_known is None:
            known = right_known if right_known is not None else np.ones(n, dtype=bool)
        else:
            known = left_known if right_known is None else left_known & right_known
        if known.any():
            a = left[known] if isinstance(left, pd.Series) else left
            b = right[known] if isinstance(right, pd.Series) else right
            try:
                result = _COMPARE[node.op](a, b)
                value[known] = np.asarray(result, dtype=bool)
            except (TypeError, ValueError) as exc:
                raise self.fail(node.pos, "the values cannot be compared", exc) from None
        return value, known


# ----------------------------------------------------------------------------------------- rule

class Rule:
    """A parsed targeting rule. Create one with :func:`parse_rule`.

    Rules compare equal when their trees are equal, whatever the spelling, and ``str(rule)`` is the
    canonical text, which parses back to an equal rule.

    Example:
        >>> rule = parse_rule("rank IN ('B', 'C') && tenure_days < 365")
        >>> print(rule)
        rank in ['B', 'C'] and tenure_days < 365
        >>> sorted(rule.names)
        ['rank', 'tenure_days']
        >>> print(rule.to_sql())
        (("rank" IN ('B', 'C')) AND ("tenure_days" < 365))
    """

    __slots__ = ("_kinds", "_order", "_root", "_text")

    def __init__(self, root: _Node, text: str, kinds: Mapping[str, str | None] | None) -> None:
        self._root = root
        self._text = text
        order: dict[str, None] = {}
        for atom in _atoms(root):
            for feature in _features_of(atom):
                order.setdefault(feature.name, None)
        self._order = tuple(order)
        self._kinds = None if kinds is None else {n: kinds.get(n) for n in self._order}

    @property
    def text(self) -> str:
        """The rule as written."""
        return self._text

    @property
    def names(self) -> frozenset[str]:
        """The features the rule refers to."""
        return frozenset(self._order)

    @property
    def features(self) -> dict[str, str | None] | None:
        """Kinds of the referenced features, if the rule was parsed with a feature catalog."""
        return None if self._kinds is None else dict(self._kinds)

    def evaluate(self, df: pd.DataFrame) -> pd.Series:
        """Select partners: True where the rule holds, False where it fails or is unknown.

        Args:
            df: Features, one row per partner; every referenced feature must be a column.

        Returns:
            A boolean Series aligned with ``df.index``.

        Raises:
            RuleError: A referenced column is missing or duplicated, or holds values of a kind the
                rule cannot compare (e.g. text compared with a number).

        Example:
            >>> import pandas as pd
            >>> df = pd.DataFrame({"latest_test_score": [55, 90, None]})
            >>> parse_rule("latest_test_score is null or latest_test_score < 70"
            ...            ).evaluate(df).tolist()
            [True, False, True]
        """
        evaluation = _Evaluation(self, df)
        value, known = evaluation.eval(self._root)
        return pd.Series(value & known, index=df.index, dtype=bool)

    def explain(self, df: pd.DataFrame, *, result: str = "selected") -> pd.DataFrame:
        """Show why each partner is (not) selected.

        Args:
            df: Features, one row per partner.
            result: Name of the final column.

        Returns:
            A frame aligned with ``df.index``: the referenced features' values (in order of first
            mention), then one nullable-boolean column per distinct atomic condition, labelled by
            its text (``<NA>`` where it is unknown because of a missing value; a bare feature is
            labelled ``x == true``, or ``x != 0`` for a number feature), then ``result``, the
            final selection as in :meth:`evaluate`.

        Raises:
            RuleError: As :meth:`evaluate`, or if ``result`` is also a feature's name.

        Example:
            >>> import pandas as pd
            >>> df = pd.DataFrame({"rank": ["B", "A"], "logins_30d": [0, None]})
            >>> parse_rule("rank == 'B' or logins_30d = 0").explain(df)
              rank  logins_30d  rank == 'B'  logins_30d == 0  selected
            0    B         0.0         True             True      True
            1    A         NaN        False             <NA>     False
        """
        evaluation = _Evaluation(self, df)
        columns: dict[str, object] = {name: evaluation.original[name].array
                                      for name in self._order}
        for atom in _atoms(self._root):
            label = _label(atom, evaluation.kinds)
            if label not in columns:
                value, known = evaluation.eval(atom)
                columns[label] = pd.arrays.BooleanArray(value & known, ~known)
        if result in columns:
            raise RuleError(f"the result column name '{result}' is also a feature or condition",
                            fix="pass another name with result=...")
        value, known = evaluation.eval(self._root)
        columns[result] = value & known
        return pd.DataFrame(columns, index=df.index)

    def to_sql(self, features: Mapping[str, str] | None = None) -> str:
        """Render the rule as a SQL boolean expression for a ``WHERE`` clause.

        Identifiers are double-quoted, strings single-quoted with quotes doubled, decimals are
        written as approximate (double) literals. SQL's null logic matches :meth:`evaluate`:
        ``WHERE`` drops rows where the expression is unknown. Date strings are left for the
        engine to cast; for zoned timestamps it uses its session time zone. Some engines (DuckDB)
        match even quoted identifiers case-insensitively.

        Args:
            features: Feature kinds; by default those given to :func:`parse_rule`. A bare number
                feature becomes ``("x" <> 0)``; other bare features are used as booleans.

        Returns:
            The SQL expression.

        Example:
            >>> print(parse_rule("region == \\"関東\\" or not video_completed").to_sql())
            (("region" = '関東') OR (NOT "video_completed"))
        """
        kinds: Mapping[str, str | None] = (
            _normalize_kinds(features) if features is not None else (self._kinds or {}))
        return _sql(self._root, kinds)

    def __str__(self) -> str:
        return _format(self._root)

    def __repr__(self) -> str:
        return f"Rule({str(self)!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Rule):
            return NotImplemented
        return self._root == other._root

    def __hash__(self) -> int:
        return hash(self._root)


def parse_rule(text: str, features: Mapping[str, str] | None = None) -> Rule:
    """Parse a targeting rule.

    Args:
        text: The rule, e.g. ``"completion_rate < 0.5 or days_since_last_login >= 30"``.
        features: Optional catalog ``{name: kind}`` with kinds from :data:`FEATURE_KINDS`
            (see :func:`infer_feature_kinds`). When given, unknown names and comparisons of the
            wrong kind are errors now rather than at :meth:`Rule.evaluate`.

    Returns:
        The parsed :class:`Rule`.

    Raises:
        RuleError: The rule is empty, too long, too deeply nested, not valid syntax, or (with
            ``features``) names an unknown feature or compares values of different kinds. The
            error's ``position``/``column`` point at the offending token.

    Example:
        >>> parse_rule("not video_completed and not template_downloaded").names == {
        ...     "video_completed", "template_downloaded"}
        True
        >>> try:
        ...     parse_rule("complet_rate < 0.5", {"completion_rate": "number"})
        ... except RuleError as exc:
        ...     print(exc)
        unknown feature 'complet_rate' at column 1; did you mean 'completion_rate'?
            complet_rate < 0.5
            ^^^^^^^^^^^^
    """
    if not isinstance(text, str):
        raise RuleError(f"a rule must be text, got {type(text).__name__}")
    kinds = _normalize_kinds(features) if features is not None else None
    if len(text) > MAX_RULE_LENGTH:
        raise RuleError(f"the rule is too long: {len(text):,} characters, the limit is "
                        f"{MAX_RULE_LENGTH:,}", fix="split it, or move long lists into a feature")
    if not text.strip(" \t\r\n"):
        raise RuleError("empty rule", text=text, position=0,
                        fix="write a condition such as 'completion_rate < 0.5'")
    try:
        root = _Parser(text, _tokenize(text)).parse()
    except RecursionError:  # only reachable when called from an already very deep stack
        raise RuleError("the rule nests too deeply", fix="simplify the rule") from None
    if kinds is not None:
        _check(root, text, kinds)
    return Rule(root, text, kinds)
