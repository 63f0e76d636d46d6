"""Lexer and parser: query string -> AST (see docs/query-language.md for the grammar).

Precedence, loosest first: ``OR``; ``AND`` (explicit or implied by juxtaposition);
unary ``NOT`` / ``-`` / ``+``. Strict mode raises :class:`QuerySyntaxError` for every
problem; lenient mode repairs it and records one warning per repair.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from query import ast
from query.errors import QuerySyntaxError
from query.fields import (
    FieldSpec, MAX_FUZZY_DISTANCE, check_value, clause_problem, is_size_unit, leaf_problem,
    lookup_field, unknown_field_message, wildcard_problem)

MAX_DEPTH = 32
_FIELD_RE = re.compile(r"([A-Za-z_][A-Za-z0-9_]*):")
_KEYWORDS = ("AND", "OR", "NOT")
_WORD_STOP = '()"'
_NUMBER_VALUE = re.compile(r"[<>]?=?\d+(?:\.\d+)?")


@dataclass
class ParseResult:
    """The parsed AST and the repairs made in lenient mode (empty in strict mode)."""

    node: ast.Node
    warnings: list[str] = field(default_factory=list)


@dataclass
class Token:
    """A lexical token; ``text`` is raw (escapes kept) except for phrases."""

    kind: str  # ( ) AND OR NOT + - LONE STRAY FIELD WORD PHRASE RANGE
    text: str
    pos: int
    closed: bool = True  # PHRASE, RANGE: the closing quote/bracket was found
    slop: str | None = None  # PHRASE: text after "~" (None when no "~")
    has_value: bool = True  # FIELD: something follows the colon directly
    close: str = "]"  # RANGE: the closing bracket


# --------------------------------------------------------------------------- lexer


def _scan_until(text: str, i: int, stops: str, space: bool = False) -> int:
    """Index of the first unescaped char of ``stops`` (or space) at/after i, or len(text)."""
    while i < len(text) and text[i] not in stops and not (space and text[i].isspace()):
        i += 2 if text[i] == "\\" else 1
    return min(i, len(text))


def _scan_word(text: str, i: int) -> int:
    return _scan_until(text, i, _WORD_STOP, space=True)


def _unescape(raw: str) -> str:
    return re.sub(r"\\(.)", r"\1", raw, flags=re.S)


def _lex_phrase(text: str, i: int) -> tuple[Token, int]:
    end = _scan_until(text, i + 1, '"')
    token = Token("PHRASE", _unescape(text[i + 1:end]), i, closed=end < len(text))
    j = end + 1
    if token.closed and j < len(text) and text[j] == "~":
        stop = _scan_word(text, j + 1)
        token.slop, j = text[j + 1:stop], stop
    return token, j


def _lex_range(text: str, i: int) -> tuple[Token, int]:
    end = _scan_until(text, i + 1, "]}")
    closed = end < len(text)
    token = Token("RANGE", text[i:end], i, closed=closed, close=text[end] if closed else "]")
    return token, end + 1


def _lex_word(text: str, i: int, after_field: bool) -> tuple[Token, int, bool]:
    end = _scan_word(text, i)
    raw = text[i:end]
    match = None if after_field else _FIELD_RE.match(raw)
    if match:
        j = i + match.end()
        has_value = j < len(text) and not text[j].isspace() and text[j] != ")"
        return Token("FIELD", match.group(1), i, has_value=has_value), j, True
    kind = raw if raw in _KEYWORDS and not after_field else "WORD"
    return Token(kind, raw, i), end, False


def tokenize(text: str) -> list[Token]:
    """Split a query string into tokens (never raises)."""
    tokens: list[Token] = []
    i, after_field = 0, False
    while i < len(text):
        char = text[i]
        if char.isspace():
            i, after_field = i + 1, False
            continue
        if char in "()":
            tokens.append(Token(char, char, i))
            i += 1
        elif char == '"':
            token, i = _lex_phrase(text, i)
            tokens.append(token)
        elif char in "[{":
            token, i = _lex_range(text, i)
            tokens.append(token)
        elif not after_field and char in "]}":
            tokens.append(Token("STRAY", char, i))
            i += 1
        elif not after_field and char in "+-":
            lone = i + 1 >= len(text) or text[i + 1].isspace() or text[i + 1] == ")"
            tokens.append(Token("LONE" if lone else char, char, i))
            i += 1
            continue
        else:
            token, i, after = _lex_word(text, i, after_field)
            tokens.append(token)
            if after:
                after_field = True
                continue
        after_field = False
    return tokens


# --------------------------------------------------------------------------- helpers


def _chars(raw: str) -> list[tuple[str, bool, int]]:
    """(char, escaped, raw offset) for each character of a raw word."""
    out, i = [], 0
    while i < len(raw):
        if raw[i] == "\\" and i + 1 < len(raw):
            out.append((raw[i + 1], True, i))
            i += 2
        else:
            out.append((raw[i], raw[i] == "\\", i))
            i += 1
    return out


def _live(chars: list[tuple[str, bool, int]], symbols: str) -> bool:
    return any(c in symbols and not esc for c, esc, _ in chars)


def _text(chars: list[tuple[str, bool, int]]) -> str:
    return "".join(c for c, _, _ in chars)


def _pattern(chars: list[tuple[str, bool, int]]) -> str:
    return "".join("\\" + c if esc and c in "*?\\" else c for c, esc, _ in chars)


def _flatten(kind: type, nodes: list[ast.Node | None]) -> ast.Node | None:
    children: list[ast.Node] = []
    for node in nodes:
        if isinstance(node, kind):
            children.extend(node.children)
        elif node is not None:
            children.append(node)
    if not children:
        return None
    return children[0] if len(children) == 1 else kind(tuple(children))


def _split_range(inner: str, offset: int) -> list[tuple[str, int]] | None:
    """[low, high] raw bounds with positions, or None if not ``low TO high``."""
    words = [(m.group(), offset + m.start()) for m in re.finditer(r"\S+", inner)]
    cut = [k for k, (w, _) in enumerate(words) if w == "TO"]
    if len(cut) != 1 or cut[0] == 0 or cut[0] == len(words) - 1:
        return None
    k = cut[0]
    low, high = words[:k], words[k + 1:]
    return [(" ".join(w for w, _ in low), low[0][1]), (" ".join(w for w, _ in high), high[0][1])]


def _bound(raw: str) -> str | None:
    if raw == "*":
        return None
    if len(raw) >= 2 and raw[0] == raw[-1] == '"':
        raw = raw[1:-1]
    return _unescape(raw)


# --------------------------------------------------------------------------- parser


class _Parser:
    """Recursive descent over the token list; one instance per query."""

    def __init__(self, tokens: list[Token], strict: bool, max_clauses: int):
        self.tokens, self.i = tokens, 0
        self.strict, self.max_clauses = strict, max_clauses
        self.warnings: list[str] = []
        self.clauses, self.depth = 0, 0
        self.field: FieldSpec | None = None

    # -- plumbing

    def problem(self, message: str, position: int, repair: str) -> None:
        """Raise in strict mode; otherwise record the repair as a warning."""
        if self.strict:
            raise QuerySyntaxError(message, position)
        self.warnings.append(f"{message} at position {position}: {repair}")

    def peek(self) -> Token | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def peek_kind(self) -> str | None:
        token = self.peek()
        return token.kind if token else None

    def advance(self) -> Token:
        self.i += 1
        return self.tokens[self.i - 1]

    def count(self, node: ast.Leaf) -> ast.Leaf | None:
        """Enforce max_clauses on each leaf built."""
        self.clauses += 1
        if self.clauses <= self.max_clauses:
            return node
        if self.strict or self.clauses == self.max_clauses + 1:
            self.problem(f"too many clauses (at most {self.max_clauses})", node.position,
                         "ignored the rest of the query")
        return None

    # -- grammar

    def parse(self) -> ast.Node | None:
        parts = []
        while self.peek() is not None:
            parts.append(self.parse_or())
            if self.peek_kind() == ")":
                self.problem("unmatched ')'", self.advance().pos, "ignored it")
        return _flatten(ast.And, parts)

    def parse_or(self) -> ast.Node | None:
        branches: list[ast.Node | None] = []
        consumed = False
        while True:
            start = self.i
            branches.append(self.parse_and())
            consumed = consumed or self.i > start
            if self.peek_kind() != "OR":
                return _flatten(ast.Or, branches)
            op = self.advance()
            if not consumed:
                self.problem("'OR' has nothing on its left", op.pos, "ignored it")
            if self.peek_kind() in (None, ")", "OR"):
                self.problem("'OR' has nothing on its right", op.pos, "ignored it")

    def parse_and(self) -> ast.Node | None:
        items: list[ast.Node | None] = []
        start = self.i
        while self.peek_kind() not in (None, ")", "OR"):
            if self.peek_kind() == "AND":
                op = self.advance()
                if self.i - 1 == start:
                    self.problem("'AND' has nothing on its left", op.pos, "ignored it")
                if self.peek_kind() in (None, ")", "OR", "AND"):
                    self.problem("'AND' has nothing on its right", op.pos, "ignored it")
                continue
            items.append(self.parse_unary())
        return _flatten(ast.And, items)

    def parse_unary(self) -> ast.Node | None:
        ops: list[Token] = []
        while self.peek_kind() in ("NOT", "+", "-"):
            ops.append(self.advance())
        if ops and self.peek_kind() in (None, ")", "AND", "OR"):
            op = ops[-1]
            self.problem(f"'{op.text}' has nothing to apply to", op.pos, "ignored it")
            return None
        node = self.parse_primary()
        negate = sum(op.kind in ("NOT", "-") for op in ops) % 2 == 1
        return ast.Not(node) if negate and node is not None else node

    def parse_primary(self) -> ast.Node | None:
        token = self.advance()
        if token.kind == "(":
            return self.parse_group(token)
        if token.kind == "FIELD":
            return self.parse_fielded(token)
        if token.kind == "WORD":
            return self.word_leaf(self.absorb_unit(token))
        if token.kind == "PHRASE":
            return self.phrase_leaf(token)
        if token.kind == "RANGE":
            return self.range_leaf(token)
        if token.kind == "LONE":
            self.problem(f"'{token.text}' must be directly followed by a term", token.pos,
                         "ignored it")
        else:  # STRAY
            self.problem(f"unexpected '{token.text}'", token.pos, "ignored it")
        return None

    def parse_group(self, token: Token) -> ast.Node | None:
        if self.depth >= MAX_DEPTH:
            self.problem(f"parentheses nested deeper than {MAX_DEPTH} levels", token.pos,
                         "ignored this '('")
            return None
        start = self.i
        self.depth += 1
        inner = self.parse_or()
        self.depth -= 1
        if self.peek_kind() == ")":
            self.advance()
        else:
            self.problem("unclosed '('", token.pos, "closed it at the end of the query")
            return inner
        if self.i - 1 == start:
            self.problem("empty parentheses '()'", token.pos, "ignored them")
        return inner

    def parse_fielded(self, token: Token) -> ast.Node | None:
        spec = lookup_field(token.text)
        if spec is None:
            self.problem(unknown_field_message(token.text), token.pos,
                         f"searched for '{token.text}' as text")
            name = self.count(ast.Term(None, token.text, token.pos))
            return _flatten(ast.And, [name, self.field_value(None)]) if token.has_value else name
        if not token.has_value:
            self.problem(f"field '{token.text}:' has no value", token.pos, "ignored the field")
            return None
        return self.field_value(spec)

    def field_value(self, spec: FieldSpec | None) -> ast.Node | None:
        saved, self.field = self.field, spec
        try:
            return self.parse_primary()
        finally:
            self.field = saved

    # -- leaves

    def absorb_unit(self, token: Token) -> Token:
        """``size:1.5 TB``: join a byte unit that follows a number after a space."""
        nxt = self.peek()
        if (self.field is not None and self.field.units and nxt is not None
                and nxt.kind == "WORD" and _NUMBER_VALUE.fullmatch(token.text)
                and is_size_unit(nxt.text)):
            self.advance()
            return Token("WORD", f"{token.text} {nxt.text}", token.pos)
        return token

    def leaf(self, node: ast.Leaf) -> ast.Leaf | None:
        """Check a leaf against its field; count it. Bad leaves are dropped if lenient."""
        problem = leaf_problem(self.field, node)
        if problem is not None:
            self.problem(problem, node.position, "ignored this clause")
            return None
        return self.count(node)

    def word_leaf(self, token: Token) -> ast.Node | None:
        chars = _chars(token.text)
        name = self.field.name if self.field else None
        if self.field is None and token.text in ("*", "*:*"):
            return ast.MatchAll()
        if self.field is not None and chars[0][0] in "<>" and not chars[0][1]:
            return self.compare_leaf(token, chars)
        tilde = max((k for k, (c, esc, _) in enumerate(chars) if c == "~" and not esc),
                    default=-1)
        suffix = chars[tilde + 1:]
        if tilde > 0 and all(c in "0123456789." and not esc for c, esc, _ in suffix):
            return self.fuzzy_leaf(token, chars[:tilde], _text(suffix), chars[tilde][2])
        if _live(chars, "*?"):
            return self.wildcard_leaf(token, chars)
        return self.leaf(ast.Term(name, _text(chars), token.pos))

    def compare_leaf(self, token: Token, chars: list) -> ast.Node | None:
        width = 2 if len(chars) > 1 and chars[1][0] == "=" and not chars[1][1] else 1
        if len(chars) == width:
            self.problem(f"'{_text(chars)}' needs a value", token.pos, "ignored this clause")
            return None
        op, value = _text(chars[:width]), _text(chars[width:])
        return self.leaf(ast.Compare(self.field.name, op, value, token.pos))

    def fuzzy_leaf(self, token: Token, base: list, suffix: str, at: int) -> ast.Node | None:
        name = self.field.name if self.field else None
        if _live(base, "*?"):
            self.problem("a wildcard term cannot also be fuzzy", token.pos + at,
                         "ignored the '~'")
            return self.wildcard_leaf(token, base)
        distance = 2 if suffix == "" else _int_or_none(suffix)
        if distance is None or distance > MAX_FUZZY_DISTANCE:
            self.problem(f"fuzzy distance '~{suffix}' is not allowed (use ~, ~0, ~1 or ~2)",
                         token.pos + at, "used ~2")
            distance = MAX_FUZZY_DISTANCE
        return self.leaf(ast.Fuzzy(name, _text(base), distance, token.pos))

    def wildcard_leaf(self, token: Token, chars: list) -> ast.Node | None:
        name = self.field.name if self.field else None
        node = ast.Wildcard(name, _pattern(chars), token.pos)
        problem = clause_problem(self.field, ast.Wildcard) or wildcard_problem(node.pattern)
        if problem is None:
            return self.leaf(node)
        literal = _text([c for c in chars if c[1] or c[0] not in "*?"])
        if not literal or clause_problem(self.field, ast.Wildcard):
            self.problem(problem, token.pos, "ignored this clause")
            return None
        self.problem(problem, token.pos, f"searched for '{literal}'")
        return self.leaf(ast.Term(name, literal, token.pos))

    def phrase_leaf(self, token: Token) -> ast.Node | None:
        if not token.closed:
            self.problem('unclosed \'"\'', token.pos, "read the phrase to the end of the query")
        slop = 0 if token.slop is None else _int_or_none(token.slop)
        if slop is None:
            self.problem(f"invalid phrase slop '~{token.slop}' (use ~N)", token.pos,
                         "ignored the slop")
            slop = 0
        name = self.field.name if self.field else None
        return self.leaf(ast.Phrase(name, token.text, slop, token.pos))

    def range_leaf(self, token: Token) -> ast.Node | None:
        if self.field is None:
            self.problem("range queries need a field, e.g. release_date:[2020 TO 2022]",
                         token.pos, "ignored the range")
            return None
        if not token.closed:
            self.problem(f"unclosed '{token.text[0]}'", token.pos,
                         "read the range to the end of the query")
        bounds = _split_range(token.text[1:], token.pos + 1)
        if bounds is None:
            self.problem("a range must look like [low TO high] (use * for an open end)",
                         token.pos, "ignored the range")
            return None
        for raw, pos in bounds:
            try:
                if raw != "*":
                    check_value(self.field, _bound(raw))
            except ValueError as exc:
                self.problem(str(exc), pos, "ignored the range")
                return None
        low, high = (_bound(raw) for raw, _ in bounds)
        return self.leaf(ast.Range(self.field.name, low, high, token.text[0] == "[",
                                   token.close == "]", token.pos))

def _int_or_none(text: str) -> int | None:
    return int(text) if text.isdigit() and text.isascii() else None


def parse_query(text: str, *, strict: bool = True, max_length: int = 2000,
                max_clauses: int = 256) -> ParseResult:
    """Parse a query string into an AST.

    ``strict=True`` raises QuerySyntaxError (with the 0-based position of the problem)
    for any malformed input; ``strict=False`` never raises and returns the best reading
    with one human-readable warning per repair. Empty input matches everything.
    """
    warnings: list[str] = []
    if len(text) > max_length:
        if strict:
            raise QuerySyntaxError(f"query is longer than {max_length} characters", max_length)
        warnings.append(f"query is longer than {max_length} characters: ignored the rest")
        text = text[:max_length]
    parser = _Parser(tokenize(text), strict, max_clauses)
    node = parser.parse()
    return ParseResult(node if node is not None else ast.MatchAll(), warnings + parser.warnings)
