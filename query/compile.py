"""AST -> ``whoosh.query`` objects, built directly (never by re-parsing strings).

Internally a compiled node is a Whoosh query, ``NullQuery`` (matches nothing: absorbs an
``And``) or ``None`` (nothing to search, e.g. a term of punctuation: ignored by its
parent). We simplify ``And``/``Or``/``Not`` ourselves so that no ``NullQuery`` or
unfielded ``Every`` is left inside a compound query: Whoosh's ``normalize()`` drops a
``NullQuery`` from an ``And`` (widening it) and turns ``And([Every(), x])`` into
``Every()``.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from itertools import islice

from whoosh import query as wq
from whoosh.fields import Schema

from indexer.schema import DEFAULT_FIELDS
from query import ast
from query.ast import from_json, to_json  # noqa: F401  (re-exported API)
from query.errors import QuerySyntaxError
from query.fields import (
    DATE, FACET, ID, NUMERIC, TEXT, VOCABULARY, FieldSpec, compare_as_range, date_bounds,
    lookup_field, parse_number, validate_tree, wildcard_parts)

MAX_WILDCARD_TERMS = 1024
IDENTIFIER_BOOST = 3.0
Resolver = Callable[[str], list[str]]
Expander = Callable[[str, str], Iterable[str]]
Compiled = wq.Query | None

_ID_RE = re.compile(r"(?i)[a-z]+(?:[-_][a-z]+)*[-_]?\d+[\w.-]*")
_DOI_RE = re.compile(r"10\.\d{4,9}/\S+")
_TOKEN_CHARS = re.compile(r"[\w.'’*?]*")


def looks_like_identifier(text: str) -> bool:
    """Accession-like (``S-BIAD1043``, ``EMPIAR-10002``, ``idr0001``) or a DOI."""
    text = text.strip()
    return bool(_ID_RE.fullmatch(text) or _DOI_RE.fullmatch(text))


def compile_query(node: ast.Node, *, schema: Schema,
                  resolvers: Mapping[str, Resolver] | None = None,
                  facet_keys: Mapping[str, Mapping[str, str]] | None = None,
                  expand_wildcard: Expander | None = None,
                  strict: bool = True, warnings: list[str] | None = None) -> wq.Query:
    """Compile an AST into a Whoosh query against ``schema``.

    ``resolvers`` maps ``"organism"`` / ``"imaging_method"`` to a function returning the
    CURIEs a value names. ``facet_keys`` maps a facet name to {lower-cased key or label:
    canonical key}; a value not in it matches nothing. ``expand_wildcard(field, pattern)``
    lists the index terms a Whoosh glob pattern matches (see
    :func:`make_wildcard_expander`): more than MAX_WILDCARD_TERMS raises
    QuerySyntaxError, or with ``strict=False`` keeps the first ones and appends a
    warning to ``warnings``. Invalid nodes raise QuerySyntaxError.
    """
    compiler = _Compiler(schema, resolvers or {}, facet_keys, expand_wildcard, strict,
                         warnings if warnings is not None else [])
    compiled = compiler.node(validate_tree(node))
    return wq.NullQuery if compiled is None else compiled


def make_wildcard_expander(reader) -> Expander:
    """An ``expand_wildcard`` callable that lists matching terms from a Whoosh reader."""

    def expand(fieldname: str, pattern: str) -> Iterator[str]:
        if fieldname not in reader.schema:
            return
        field = reader.schema[fieldname]
        prefix = re.split(r"[*?\[]", pattern, maxsplit=1)[0]
        regex = re.compile(fnmatch.translate(pattern), re.S)
        candidates = reader.expand_prefix(fieldname, prefix) if prefix else \
            reader.lexicon(fieldname)
        for btext in candidates:
            text = field.from_bytes(btext)
            if regex.match(text):
                yield text

    return expand


# --------------------------------------------------------------------------- combinators


def _and(parts: list[Compiled]) -> Compiled:
    parts = [p for p in parts if p is not None]
    if any(p is wq.NullQuery for p in parts):
        return wq.NullQuery
    kept = [p for p in parts if not _is_every(p)]
    if not kept:
        return wq.Every() if parts else None
    return kept[0] if len(kept) == 1 else wq.And(kept)


def _or(parts: list[Compiled], boost: float = 1.0) -> Compiled:
    present = [p for p in parts if p is not None]
    if any(_is_every(p) for p in present):
        return wq.Every()
    kept = [p for p in present if p is not wq.NullQuery]
    if not kept:
        return wq.NullQuery if present else None
    return kept[0] if len(kept) == 1 else wq.Or(kept, boost=boost)


def _not(child: Compiled) -> Compiled:
    if child is None:
        return None
    if child is wq.NullQuery:
        return wq.Every()
    if _is_every(child):
        return wq.NullQuery
    return wq.Not(child)


def _is_every(query: wq.Query) -> bool:
    return isinstance(query, wq.Every) and query.fieldname is None


def _glob(pattern: str, lower: bool) -> str:
    """AST wildcard pattern -> Whoosh/fnmatch glob (literal * ? [ bracketed)."""
    out = []
    for char, wild in wildcard_parts(pattern):
        char = char.lower() if lower and not wild else char
        out.append(char if wild or char not in "*?[" else f"[{char}]")
    return "".join(out)


def _trailing_star_prefix(pattern: str, lower: bool) -> str | None:
    parts = wildcard_parts(pattern)
    if [w for _, w in parts].count(True) == 1 and parts[-1] == ("*", True):
        return "".join(c.lower() if lower else c for c, _ in parts[:-1])
    return None


# --------------------------------------------------------------------------- compiler


class _Compiler:
    def __init__(self, schema: Schema, resolvers: Mapping[str, Resolver],
                 facet_keys: Mapping[str, Mapping[str, str]] | None,
                 expand: Expander | None, strict: bool, warnings: list[str]):
        self.schema, self.resolvers, self.facet_keys = schema, resolvers, facet_keys or {}
        self.expand, self.strict, self.warnings = expand, strict, warnings

    def node(self, node: ast.Node) -> Compiled:
        if isinstance(node, ast.And):
            return _and([self.node(c) for c in node.children])
        if isinstance(node, ast.Or):
            return _or([self.node(c) for c in node.children])
        if isinstance(node, ast.Not):
            return _not(self.node(node.child))
        if isinstance(node, ast.MatchAll):
            return wq.Every()
        return self.leaf(node)

    def leaf(self, node: ast.Leaf) -> Compiled:
        spec = lookup_field(node.field) if node.field else None
        if spec is None:
            return self.free_text(node)
        handler = {TEXT: self.text_field, VOCABULARY: self.vocabulary, FACET: self.facet,
                   ID: self.identifier, DATE: self.date, NUMERIC: self.numeric}[spec.kind]
        return handler(spec, node)

    # -- text

    def free_text(self, node: ast.Leaf) -> Compiled:
        text = getattr(node, "text", "")
        if not isinstance(node, ast.Wildcard) and not re.search(r"\w", text):
            return None  # only punctuation: nothing any analyzer would index
        fields = dict(DEFAULT_FIELDS)
        if looks_like_identifier(text):
            fields.setdefault("identifiers", IDENTIFIER_BOOST)
        parts = [self.text_query(f, node, boost) for f, boost in fields.items()]
        if isinstance(node, (ast.Term, ast.Phrase)) and _DOI_RE.fullmatch(text.strip()):
            parts.append(self.keyword_query("doi", node, IDENTIFIER_BOOST))
        return _or(parts)

    def text_field(self, spec: FieldSpec, node: ast.Leaf) -> Compiled:
        return self.text_query(spec.index_field, node)

    def tokens(self, fieldname: str, text: str) -> list[str]:
        return list(self.schema[fieldname].process_text(text, mode="query"))

    def text_query(self, fieldname: str, node: ast.Leaf, boost: float = 1.0) -> Compiled:
        """Term/Phrase/Fuzzy/Wildcard on an analysed field (None: nothing to search)."""
        if fieldname not in self.schema:
            return None
        if isinstance(node, ast.Wildcard):
            if not _TOKEN_CHARS.fullmatch(node.pattern.replace("\\", "")) and \
                    fieldname not in ("identifiers", "doi"):
                return wq.NullQuery  # separators never occur inside an index token
            return self.wildcard(fieldname, node, boost, lower=True)
        words = self.tokens(fieldname, node.text)
        if not words:
            return None
        if len(words) == 1:
            if isinstance(node, ast.Fuzzy) and node.distance > 0:
                return wq.FuzzyTerm(fieldname, words[0], boost=boost, maxdist=node.distance)
            return wq.Term(fieldname, words[0], boost=boost)
        if self.schema[fieldname].format.supports("positions"):
            slop = node.slop + 1 if isinstance(node, ast.Phrase) else 1
            return wq.Phrase(fieldname, words, slop=slop, boost=boost)
        return wq.And([wq.Term(fieldname, w) for w in words], boost=boost)

    def wildcard(self, fieldname: str, node: ast.Wildcard, boost: float = 1.0,
                 lower: bool = True) -> Compiled:
        glob = _glob(node.pattern, lower)
        prefix = _trailing_star_prefix(node.pattern, lower)
        query = wq.Prefix(fieldname, prefix, boost=boost) if prefix is not None else \
            wq.Wildcard(fieldname, glob, boost=boost)
        if self.expand is None:
            return query
        terms = list(islice(self.expand(fieldname, glob), MAX_WILDCARD_TERMS + 1))
        if len(terms) <= MAX_WILDCARD_TERMS:
            return query
        self.too_many(node)
        return wq.Or([wq.Term(fieldname, t) for t in terms[:MAX_WILDCARD_TERMS]], boost=boost)

    def too_many(self, node: ast.Wildcard) -> None:
        message = f"wildcard '{node.pattern}' matches too many terms"
        if self.strict:
            raise QuerySyntaxError(message, node.position)
        warning = f"{message}: used the first {MAX_WILDCARD_TERMS}"
        if warning not in self.warnings:
            self.warnings.append(warning)

    def vocabulary(self, spec: FieldSpec, node: ast.Leaf) -> Compiled:
        parts = [self.text_query(spec.index_field, node)]
        if isinstance(node, (ast.Term, ast.Phrase)) and spec.tree_field in self.schema:
            resolve = self.resolvers.get(spec.name)
            curies = resolve(node.text) if resolve else []
            parts += [wq.Term(spec.tree_field, c) for c in dict.fromkeys(curies)]
        return _or(parts)

    # -- exact-match fields

    def keyword_query(self, fieldname: str, node: ast.Leaf, boost: float = 1.0) -> Compiled:
        """Whole-value match on a lower-cased KEYWORD field (identifiers, doi)."""
        if isinstance(node, ast.Wildcard):
            return self.wildcard(fieldname, node, boost, lower=True)
        value = node.text.strip().lower()
        if not value:
            return None
        if isinstance(node, ast.Fuzzy) and node.distance > 0:
            return wq.FuzzyTerm(fieldname, value, boost=boost, maxdist=node.distance)
        return wq.Term(fieldname, value, boost=boost)

    def identifier(self, spec: FieldSpec, node: ast.Leaf) -> Compiled:
        return self.keyword_query(spec.index_field, node)

    def facet(self, spec: FieldSpec, node: ast.Leaf) -> Compiled:
        fieldname, keys = spec.index_field, self.facet_keys.get(spec.name)
        if isinstance(node, (ast.Range, ast.Compare)):
            low, high, inc_low, inc_high = _bounds(node)
            return wq.TermRange(fieldname, low, high, not inc_low, not inc_high)
        if isinstance(node, ast.Wildcard):
            if keys is None:
                return self.wildcard(fieldname, node, lower=False)
            return self.facet_wildcard(fieldname, node, keys)
        if keys is None:
            return wq.Term(fieldname, node.text.strip())
        key = keys.get(node.text.strip().lower())
        return wq.NullQuery if key is None else wq.Term(fieldname, key)

    def facet_wildcard(self, fieldname: str, node: ast.Wildcard,
                       keys: Mapping[str, str]) -> Compiled:
        regex = re.compile(fnmatch.translate(_glob(node.pattern, lower=True)), re.S)
        matches = sorted({canon for key, canon in keys.items() if regex.match(key.lower())})
        if len(matches) > MAX_WILDCARD_TERMS:
            self.too_many(node)
            matches = matches[:MAX_WILDCARD_TERMS]
        compiled = _or([wq.Term(fieldname, key) for key in matches])
        return wq.NullQuery if compiled is None else compiled

    # -- dates and numbers

    def date(self, spec: FieldSpec, node: ast.Leaf) -> Compiled:
        try:
            start, end = date_bounds(*_bounds(node))
        except ValueError as exc:
            raise QuerySyntaxError(str(exc), node.position) from None
        if start is not None and end is not None and start >= end:
            return wq.NullQuery
        return wq.DateRange(spec.index_field, start, end, endexcl=end is not None)

    def numeric(self, spec: FieldSpec, node: ast.Leaf) -> Compiled:
        low, high, inc_low, inc_high = _bounds(node)
        try:
            start = None if low is None else parse_number(spec, low)
            end = None if high is None else parse_number(spec, high)
        except ValueError as exc:
            raise QuerySyntaxError(str(exc), node.position) from None
        return wq.NumericRange(spec.index_field, start, end, not inc_low, not inc_high)


def _bounds(node: ast.Leaf) -> tuple[str | None, str | None, bool, bool]:
    """Any value-bearing leaf as (low, high, include_low, include_high)."""
    if isinstance(node, ast.Range):
        return node.low, node.high, node.include_low, node.include_high
    if isinstance(node, ast.Compare):
        return compare_as_range(node.op, node.value)
    return node.text, node.text, True, True


__all__ = ["compile_query", "make_wildcard_expander", "looks_like_identifier", "to_json",
           "from_json", "MAX_WILDCARD_TERMS"]
