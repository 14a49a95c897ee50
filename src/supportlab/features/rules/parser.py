"""The parser: tokens to a tree, with errors that point at the offending token.

Precedence climbing, one stack frame per precedence step, with the nesting of parentheses and
``not`` capped at :data:`MAX_DEPTH` so that no rule can exhaust Python's stack.

Example:
    >>> from supportlab.features.rules.tree import format_node
    >>> format_node(parse_tree("a OR b AND NOT c"))
    'a or b and not c'
"""

from __future__ import annotations

from supportlab.features.rules.lexer import (
    ARITHMETIC_HINT,
    RuleError,
    Token,
    at_position,
    describe_token,
    printable,
    tokenize,
)
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
    Truth,
)

__all__ = ["MAX_DEPTH", "MAX_RULE_LENGTH", "Parser", "parse_tree"]

MAX_RULE_LENGTH = 10_000
"""Longest accepted rule, in characters."""

MAX_DEPTH = 100
"""Deepest accepted nesting of parentheses and ``not``."""

_INT_MIN, _INT_MAX = -(2**63), 2**63 - 1

_PREC_OR, _PREC_AND, _PREC_NOT = 1, 2, 3


def _is_kw(tok: Token, word: str) -> bool:
    return tok.kind == "kw" and tok.value == word


def _join(cls: type[And] | type[Or], left: Node, right: Node) -> Node:
    parts: list[Node] = []
    for node in (left, right):
        parts.extend(node.children if isinstance(node, cls) else (node,))
    return cls(tuple(parts))


class Parser:
    """Precedence-climbing parser; one stack frame per precedence step, depth-capped."""

    def __init__(self, text: str, tokens: list[Token]) -> None:
        self.text = text
        self.tokens = tokens
        self.i = 0
        self.depth = 0

    def peek(self, ahead: int = 0) -> Token:
        return self.tokens[min(self.i + ahead, len(self.tokens) - 1)]

    def advance(self) -> Token:
        tok = self.tokens[self.i]
        if tok.kind != "eof":
            self.i += 1
        return tok

    def at(self, tok: Token) -> str:
        return at_position(self.text, tok.pos)

    def error(self, what: str, tok: Token, fix: str | None = None) -> RuleError:
        return RuleError(what, text=self.text, position=tok.pos, length=tok.end - tok.pos, fix=fix)

    def parse(self) -> Node:
        root = self.expr(_PREC_OR)
        tok = self.peek()
        if tok.kind == ")":
            raise self.error(f"unexpected ')' at {self.at(tok)}; it has no matching '('", tok)
        if tok.kind != "eof":
            raise self.error(f"unexpected {describe_token(tok)} at {self.at(tok)}; expected 'and', "
                             "'or' or the end of the rule", tok)
        return root

    def enter(self, tok: Token) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise self.error(f"the rule nests too deeply at {self.at(tok)}: more than "
                             f"{MAX_DEPTH} levels of parentheses and 'not'", tok,
                             fix="simplify the rule")

    def expr(self, min_prec: int) -> Node:
        tok = self.peek()
        left: Node
        if _is_kw(tok, "not"):
            self.advance()
            self.enter(tok)
            left = Not(self.expr(_PREC_NOT), pos=tok.pos)
            self.depth -= 1
        elif tok.kind == "(":
            self.advance()
            self.enter(tok)
            left = self.expr(_PREC_OR)
            close = self.peek()
            if close.kind != ")":
                raise self.error(f"expected ')' at {self.at(close)}, found {describe_token(close)}; "
                                 f"the '(' at {self.at(tok)} is not closed", close)
            self.advance()
            self.depth -= 1
            after = self.peek()
            if after.kind == "op" or _is_kw(after, "in") or _is_kw(after, "is"):
                raise self.error(f"unexpected {describe_token(after)} at {self.at(after)}; only a "
                                 "feature or a value can be compared, not a parenthesized "
                                 "condition", after)
        else:
            left = self.condition()
        while True:
            tok = self.peek()
            if _is_kw(tok, "and"):
                prec, cls = _PREC_AND, And
            elif _is_kw(tok, "or"):
                prec, cls = _PREC_OR, Or
            else:
                return left
            if prec < min_prec:
                return left
            self.advance()
            left = _join(cls, left, self.expr(prec + 1))

    def condition(self) -> Atom:
        start = self.peek()
        left = self.operand(after=None)
        tok = self.peek()
        if tok.kind == "op":
            self.advance()
            right = self.operand(after=tok)
            nxt = self.peek()
            if nxt.kind == "op":
                raise self.error(f"unexpected {describe_token(nxt)} at {self.at(nxt)}; comparisons "
                                 "cannot be chained", nxt,
                                 fix="join them with 'and', e.g. 'a < b and b < c'")
            for side in (left, right):
                if isinstance(side, Literal) and side.kind == "null":
                    raise RuleError(f"cannot compare with null at {at_position(self.text, side.pos)}; "
                                    "a comparison with a missing value is never true",
                                    text=self.text, position=side.pos, length=4,
                                    fix="test for missing values with 'is null' or "
                                        "'is not null'")
            if isinstance(left, Literal) and isinstance(right, Literal):
                raise self.error(f"the comparison at {self.at(tok)} compares two values; one "
                                 "side must be a feature", tok)
            return Compare(str(tok.value), left, right, pos=tok.pos)
        if _is_kw(tok, "in") or (_is_kw(tok, "not") and _is_kw(self.peek(1), "in")):
            negated = _is_kw(tok, "not")
            if negated:
                self.advance()
            in_tok = self.advance()
            target = self.peek()
            if isinstance(left, Literal) and target.kind == "ident":
                return self.contains(left, negated, tok)
            if not isinstance(left, Feature):
                raise self.error(f"the left side of 'in' must be a feature, found "
                                 f"{describe_token(start)} at {self.at(start)}", start)
            return InList(left, self.list_items(in_tok), negated, pos=tok.pos)
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
                raise self.error(f"expected 'null' at {self.at(null)}, found {describe_token(null)}; "
                                 "only 'is null' and 'is not null' are supported", null, fix)
            self.advance()
            if not isinstance(left, Feature):
                raise self.error(f"'is null' needs a feature on its left, found "
                                 f"{describe_token(start)} at {self.at(start)}", start)
            return IsNull(left, negated, pos=tok.pos)
        if isinstance(left, Feature) or left.kind == "bool":
            return Truth(left, pos=left.pos)
        raise self.error(f"{describe_token(start)} at {self.at(start)} is not a condition by itself",
                         start, fix="compare it with a feature, e.g. 'logins_30d >= 3'")

    def operand(self, after: Token | None) -> Operand:
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
            return Feature(str(tok.value), pos=tok.pos)
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
            raise self.error(f"unexpected {describe_token(tok)} at {self.at(tok)}; expected a "
                             "condition", tok)
        if tok.kind == "eof":
            raise self.error(f"expected a value after '{after.source}' at {self.at(tok)}, found "
                             "end of rule", tok)
        raise self.error(f"unexpected {describe_token(tok)} at {self.at(tok)}; expected a feature "
                         f"or a value after '{after.source}'", tok)

    def value(self) -> Literal | None:
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
                                 f"{describe_token(num)}", num, fix=ARITHMETIC_HINT)
            self.advance()
            return self.number(tok, num, negative=True)
        if tok.kind == "string":
            self.advance()
            return Literal(str(tok.value), "string", pos=tok.pos, source=tok.source)
        if _is_kw(tok, "true") or _is_kw(tok, "false"):
            self.advance()
            return Literal(tok.value == "true", "bool", pos=tok.pos, source=str(tok.value))
        if _is_kw(tok, "null"):
            self.advance()
            return Literal(None, "null", pos=tok.pos, source="null")
        return None

    def number(self, start: Token, tok: Token, *, negative: bool) -> Literal:
        value = tok.value
        assert isinstance(value, int | float)
        if negative:
            value = -value
        source = self.text[start.pos:tok.end]
        if isinstance(value, int) and not _INT_MIN <= value <= _INT_MAX:
            raise RuleError(f"integer at {self.at(start)} is out of range (more than 64 bits)",
                            text=self.text, position=start.pos, length=tok.end - start.pos,
                            fix="write it as a decimal, e.g. 1e20")
        return Literal(value, "number", pos=start.pos, source=source)

    def contains(self, item: Literal, negated: bool, tok: Token) -> Contains:
        """``'A' in products``: the value must be a string, the right side a list feature."""
        feature_tok = self.advance()
        if item.kind != "string":
            raise RuleError(f"only a string can be looked up in a list feature, found "
                            f"{item.kind} {printable(item.source[:30])} at "
                            f"{at_position(self.text, item.pos)}", text=self.text,
                            position=item.pos, length=len(item.source) or 1,
                            fix=f"quote it, e.g. '{item.source}' in {feature_tok.source}")
        nxt = self.peek()
        if nxt.kind in ("(", "["):
            raise self.error(f"unexpected '{nxt.kind}' after '{feature_tok.source}' at "
                             f"{self.at(nxt)}; function calls and subscripts are not allowed",
                             nxt)
        return Contains(item, Feature(str(feature_tok.value), pos=feature_tok.pos), negated,
                        pos=tok.pos)

    def list_items(self, in_tok: Token) -> tuple[Literal, ...]:
        opener = self.peek()
        if opener.kind not in ("[", "("):
            raise self.error(f"expected '[' after 'in' at {self.at(opener)}, found "
                             f"{describe_token(opener)}", opener, fix="write e.g. rank in ['B', 'C']")
        self.advance()
        closer = "]" if opener.kind == "[" else ")"
        items: list[Literal] = []
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
                                f"{at_position(self.text, item.pos)}", text=self.text,
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
                                 f"{describe_token(sep)}; the list at {self.at(opener)} is not "
                                 "closed", sep)
        return tuple(items)

    def list_item(self) -> Literal:
        tok = self.peek()
        if tok.kind == "ident":
            raise self.error(f"list items must be values (numbers, strings, true or false), "
                             f"found feature '{tok.source}' at {self.at(tok)}", tok)
        item = self.value()
        if item is None:
            if tok.kind == "eof":
                raise self.error(f"expected a value at {self.at(tok)}, found end of rule; the "
                                 "list is not closed", tok)
            raise self.error(f"unexpected {describe_token(tok)} at {self.at(tok)}; expected a value "
                             "in the list", tok)
        if item.kind == "null":
            raise RuleError(f"null cannot be a list item (at {at_position(self.text, item.pos)})",
                            text=self.text, position=item.pos, length=4,
                            fix="test missing values with 'x is null' and combine with 'or'")
        return item



def parse_tree(text: str) -> Node:
    """Parse a rule's text into a tree (no feature catalogue, no kind checks).

    Raises:
        RuleError: The rule is not text, empty, too long, too deeply nested or not valid syntax.
    """
    if not isinstance(text, str):
        raise RuleError(f"a rule must be text, got {type(text).__name__}")
    if len(text) > MAX_RULE_LENGTH:
        raise RuleError(f"the rule is too long: {len(text):,} characters, the limit is "
                        f"{MAX_RULE_LENGTH:,}", fix="split it, or move long lists into a feature")
    if not text.strip(" \t\r\n"):
        raise RuleError("empty rule", text=text, position=0,
                        fix="write a condition such as 'completion_rate < 0.5'")
    try:
        return Parser(text, tokenize(text)).parse()
    except RecursionError:  # only reachable when called from an already very deep stack
        raise RuleError("the rule nests too deeply", fix="simplify the rule") from None
