"""Tokens of the rule language, and :class:`RuleError`, which points at the offending token.

The lexer turns a rule's text into :class:`Token` objects. It knows the characters people type by
mistake (full-width symbols, curly quotes, ``&``, ``;``, ``.``) and says what to write instead.

Example:
    >>> [t.kind for t in tokenize("rank == 'B'")]
    ['ident', 'op', 'string', 'eof']
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from decimal import Decimal

from supportlab.errors import ConfigError

__all__ = ["ARITHMETIC_HINT", "RuleError", "Token", "at_position", "describe_token",
           "display_width", "line_column", "printable", "tokenize"]

_MAX_NUMBER_CHARS = 100
_KEYWORDS = frozenset({"and", "or", "not", "in", "is", "null", "true", "false"})
_STRING_PREFIXES = frozenset({"f", "r", "b", "u", "rb", "br", "fr", "rf"})
_ESCAPES = {"\\": "\\", "'": "'", '"': '"', "n": "\n", "t": "\t", "r": "\r"}
_NUMBER = re.compile(
    r"[0-9](?:_?[0-9])*(?:\.[0-9](?:_?[0-9])*)?(?:[eE][+-]?[0-9](?:_?[0-9])*)?%?")
_HINT = ("A rule uses feature names, numbers, quoted strings, comparisons (< <= > >= == !=), "
         "'in [...]', 'is null', 'and', 'or', 'not' and parentheses")

_TWO_CHAR = {"<=": ("op", "<="), ">=": ("op", ">="), "==": ("op", "=="), "!=": ("op", "!="),
             "<>": ("op", "!="), "&&": ("kw", "and"), "||": ("kw", "or")}
_ONE_CHAR = {"<": ("op", "<"), ">": ("op", ">"), "=": ("op", "=="), "!": ("kw", "not"),
             "(": ("(", "("), ")": (")", ")"), "[": ("[", "["), "]": ("]", "]"),
             ",": (",", ","), "-": ("-", "-")}
ARITHMETIC_HINT = "arithmetic is not supported; compare a feature with a constant"
_BAD_TWO = {":=": "assignment (':=') is not allowed; a rule only tests conditions",
            "=>": "did you mean '>='?", "=<": "did you mean '<='?", "**": ARITHMETIC_HINT,
            "//": ARITHMETIC_HINT, "->": "arrows are not allowed"}
_BAD_ONE = {
    ".": "attribute access ('.') is not allowed; feature names contain only letters, digits and "
         "'_', and decimals start with a digit (0.5)",
    ";": "';' is not allowed; a rule is a single condition",
    "`": "backticks are not allowed; feature names are written bare, strings in quotes",
    ":": "':' is not allowed (no lambdas, slices, dictionaries or assignments)",
    "&": "write 'and' (or '&&')", "|": "write 'or' (or '||')",
    "+": ARITHMETIC_HINT, "*": ARITHMETIC_HINT, "/": ARITHMETIC_HINT, "%": ARITHMETIC_HINT,
    "^": ARITHMETIC_HINT,
    "~": "write 'not' for negation",
    "#": "comments are not supported",
    "\\": "a backslash is only allowed inside a quoted string",
    "{": "braces are not allowed", "}": "braces are not allowed",
}
_FANCY_QUOTES = frozenset("‘’‚‛“”„‟「」『』«»")



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
        >>> err = RuleError("unexpected ';' at column 7", text="x < 1; y", position=5)
        >>> print(err.located("experiments/x.yaml: eligibility"))
        experiments/x.yaml: eligibility: unexpected ';' at column 7.
            x < 1; y
                 ^
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
            self.line, self.column = line_column(text, position)
        super().__init__(what, where=where, fix=fix)

    def located(self, where: str) -> RuleError:
        """The same error, told where the rule is written (``file: key``).

        Args:
            where: e.g. ``"experiments/x.yaml: eligibility"``; an existing location is kept
                after it (``"...: eligibility: segments.young"``).

        Returns:
            A new :class:`RuleError` with the same reason, token and fix.
        """
        place = where if not self.where else f"{where}: {self.where}"
        return RuleError(self.reason, text=self.text, position=self.position,
                         length=self.length, fix=self.fix, where=place)

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
        mark = display_width(printable(line[col:col + self.length])) or 1
        indent = display_width(prefix) + display_width(printable(line[lo:col]))
        caret = " " * indent + "^" * min(mark, 40)
        return f"    {prefix}{printable(line[lo:hi])}{suffix}\n    {caret}"


def line_column(text: str, pos: int) -> tuple[int, int]:
    """1-based line and column of offset ``pos`` in ``text``."""
    pos = min(max(pos, 0), len(text))
    return text.count("\n", 0, pos) + 1, pos - (text.rfind("\n", 0, pos) + 1) + 1


def at_position(text: str, pos: int) -> str:
    """``"column 7"``, or ``"line 2, column 7"`` for a rule of several lines."""
    line, column = line_column(text, pos)
    return f"line {line}, column {column}" if "\n" in text else f"column {column}"


def printable(s: str) -> str:
    """``s`` with control and invisible characters replaced, safe to print in a message."""
    return "".join(c if c.isprintable() else (" " if c.isspace() else "?") for c in s)


def display_width(s: str) -> int:
    """Width of ``s`` on a terminal: wide (CJK, full-width) characters take two cells."""
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in s)


# --------------------------------------------------------------------------------------- tokens

@dataclass(frozen=True, slots=True)
class Token:
    """One token: its kind, value, span ``[pos, end)`` and source text."""

    kind: str  # ident, number, string, op, kw, eof, or the punctuation itself: ( ) [ ] , -
    value: object
    pos: int
    end: int
    source: str


def describe_token(tok: Token) -> str:
    """How an error names a token: ``"token '=='"``, ``"string 'B'"``, ``"end of rule"``."""
    text = tok.source if len(tok.source) <= 30 else tok.source[:29] + "…"
    if tok.kind == "eof":
        return "end of rule"
    if tok.kind == "string":
        return f"string {printable(text)}"
    if tok.kind == "number":
        return f"number {text}"
    return f"token '{printable(text)}'"


def _is_ident_start(ch: str) -> bool:
    return ch == "_" or ch.isalpha()


def _is_ident_char(ch: str) -> bool:
    return ch == "_" or ch.isalnum()


def _lex_error(text: str, pos: int, what: str, length: int = 1,
               fix: str | None = None) -> RuleError:
    return RuleError(what, text=text, position=pos, length=length, fix=fix)


def tokenize(text: str) -> list[Token]:
    """Split a rule into tokens, ending with an ``eof`` token.

    Raises:
        RuleError: A character or number the language does not accept, pointing at it.
    """
    tokens: list[Token] = []
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
            raise _lex_error(text, i, f"control character U+{ord(ch):04X} at {at_position(text, i)} "
                             "is not allowed", fix="remove it")
        if "0" <= ch <= "9":
            tok = _lex_number(text, i)
        elif _is_ident_start(ch):
            tok = _lex_word(text, i)
        elif ch in "'\"":
            tok = _lex_string(text, i)
        elif text[i:i + 2] in _TWO_CHAR:
            kind, value = _TWO_CHAR[text[i:i + 2]]
            tok = Token(kind, value, i, i + 2, text[i:i + 2])
        elif text[i:i + 2] in _BAD_TWO:
            raise _lex_error(text, i, f"unexpected '{text[i:i + 2]}' at {at_position(text, i)}; "
                             f"{_BAD_TWO[text[i:i + 2]]}", length=2)
        elif ch in _ONE_CHAR:
            kind, value = _ONE_CHAR[ch]
            tok = Token(kind, value, i, i + 1, ch)
        else:
            raise _unexpected_character(text, i)
        tokens.append(tok)
        i = tok.end
    tokens.append(Token("eof", None, n, n, ""))
    return tokens


def _unexpected_character(text: str, i: int) -> RuleError:
    ch = text[i]
    where = at_position(text, i)
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


def _lex_number(text: str, i: int) -> Token:
    match = _NUMBER.match(text, i)
    assert match is not None  # text[i] is a digit
    j = match.end()
    if j < len(text) and (_is_ident_char(text[j]) or text[j] in ".%"):
        k = j
        while k < len(text) and (_is_ident_char(text[k]) or text[k] in ".%+-"):
            k += 1
        bad = text[i:k]
        raise _lex_error(text, i, f"invalid number '{printable(bad[:30])}' at "
                         f"{at_position(text, i)}", length=k - i,
                         fix="write numbers like 12, 1_000, 0.5, 2.5e-3 or 50%")
    raw = text[i:j]
    if len(raw) > _MAX_NUMBER_CHARS:
        raise _lex_error(text, i, f"number at {at_position(text, i)} is too long "
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
            raise _lex_error(text, i, f"number '{raw[:30]}' at {at_position(text, i)} is too large",
                             length=len(raw))
        if value == 0 and exact != 0:
            raise _lex_error(text, i, f"number '{raw[:30]}' at {at_position(text, i)} is too small "
                             "(it would be rounded to 0)", length=len(raw))
    return Token("number", value, i, j, raw)


def _lex_word(text: str, i: int) -> Token:
    j = i + 1
    while j < len(text) and _is_ident_char(text[j]):
        j += 1
    word = text[i:j]
    where = at_position(text, i)
    if j < len(text) and text[j] in "'\"" and word.lower() in _STRING_PREFIXES:
        raise _lex_error(text, i, f"string prefix '{word}' at {where} is not supported; "
                         "write a plain quoted string", length=j - i + 1)
    if word.startswith("__"):
        raise _lex_error(text, i, f"names starting with '__' are not allowed ('{word[:30]}' at "
                         f"{where})", length=j - i)
    lower = word.lower()
    if lower in _KEYWORDS:
        return Token("kw", lower, i, j, word)
    return Token("ident", word, i, j, word)


def _lex_string(text: str, i: int) -> Token:
    quote = text[i]
    chars: list[str] = []
    j = i + 1
    while j < len(text):
        ch = text[j]
        if ch == quote:
            return Token("string", "".join(chars), i, j + 1, text[i:j + 1])
        if ch == "\\":
            nxt = text[j + 1] if j + 1 < len(text) else ""
            if nxt not in _ESCAPES:
                if not nxt:
                    break
                raise _lex_error(text, j, f"unknown escape '\\{printable(nxt)}' in string at "
                                 f"{at_position(text, j)}", length=2,
                                 fix="the escapes are \\\\ \\' \\\" \\n \\t \\r; write \\\\ "
                                 "for a backslash")
            chars.append(_ESCAPES[nxt])
            j += 2
            continue
        if unicodedata.category(ch) in ("Cc", "Cf", "Cs"):
            raise _lex_error(text, j, f"control character U+{ord(ch):04X} inside string at "
                             f"{at_position(text, j)} is not allowed",
                             fix="write \\n, \\t or \\r for a line break or tab, or remove it")
        chars.append(ch)
        j += 1
    raise _lex_error(text, i, f"unterminated string starting at {at_position(text, i)}",
                     fix=f"add the closing quote ({quote})")

