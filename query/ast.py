"""The query AST (frozen dataclasses) and its JSON boolean-tree form.

Leaf ``field`` values are canonical public field names (see :mod:`query.fields`) or
``None`` for free text. ``position`` is the 0-based offset of the clause in the query
string (``None`` for nodes built from JSON); it never takes part in equality.

A :class:`Wildcard` pattern uses ``*`` and ``?`` as wildcards; a backslash makes the
next character literal (``\\*`` is a literal star).
"""

from __future__ import annotations

import dataclasses as dc
from typing import Any, Union

from query.errors import QuerySyntaxError

COMPARE_OPS = (">", ">=", "<", "<=")
MAX_JSON_DEPTH = 64


def _pos() -> Any:
    return dc.field(default=None, compare=False)


@dc.dataclass(frozen=True)
class Term:
    """A single term, e.g. ``cell`` or ``source:EMPIAR``."""

    field: str | None
    text: str
    position: int | None = _pos()


@dc.dataclass(frozen=True)
class Phrase:
    """A quoted phrase; ``slop`` is the number of other words allowed in between."""

    field: str | None
    text: str
    slop: int = 0
    position: int | None = _pos()


@dc.dataclass(frozen=True)
class Wildcard:
    """A term with ``*`` / ``?`` wildcards (see module docstring for escapes)."""

    field: str | None
    pattern: str
    position: int | None = _pos()


@dc.dataclass(frozen=True)
class Fuzzy:
    """A term matched within an edit ``distance`` (0, 1 or 2)."""

    field: str | None
    text: str
    distance: int = 2
    position: int | None = _pos()


@dc.dataclass(frozen=True)
class Range:
    """``field:[low TO high]``; ``None`` is an open end (which is always inclusive)."""

    field: str
    low: str | None
    high: str | None
    include_low: bool = True
    include_high: bool = True
    position: int | None = _pos()

    def __post_init__(self) -> None:
        if self.low is None:
            object.__setattr__(self, "include_low", True)
        if self.high is None:
            object.__setattr__(self, "include_high", True)


@dc.dataclass(frozen=True)
class Compare:
    """``field:>value`` and friends; ``op`` is one of ``> >= < <=``."""

    field: str
    op: str
    value: str
    position: int | None = _pos()


@dc.dataclass(frozen=True)
class And:
    """All children must match."""

    children: tuple[Node, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "children", tuple(self.children))


@dc.dataclass(frozen=True)
class Or:
    """At least one child must match."""

    children: tuple[Node, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "children", tuple(self.children))


@dc.dataclass(frozen=True)
class Not:
    """Documents not matching the child (alone: all documents except those)."""

    child: Node


@dc.dataclass(frozen=True)
class MatchAll:
    """Matches every document."""


Leaf = Union[Term, Phrase, Wildcard, Fuzzy, Range, Compare]
Node = Union[Term, Phrase, Wildcard, Fuzzy, Range, Compare, And, Or, Not, MatchAll]
LEAF_TYPES = (Term, Phrase, Wildcard, Fuzzy, Range, Compare)


# --------------------------------------------------------------------------- to JSON


def _leaf_json(node: Leaf) -> dict[str, Any]:
    if isinstance(node, Term):
        return {"term": {"field": node.field, "value": node.text}}
    if isinstance(node, Phrase):
        return {"phrase": {"field": node.field, "value": node.text, "slop": node.slop}}
    if isinstance(node, Wildcard):
        return {"wildcard": {"field": node.field, "value": node.pattern}}
    if isinstance(node, Fuzzy):
        return {"fuzzy": {"field": node.field, "value": node.text, "distance": node.distance}}
    if isinstance(node, Compare):
        return {"compare": {"field": node.field, "op": node.op, "value": node.value}}
    body: dict[str, Any] = {"field": node.field}
    if node.low is not None:
        body["gte" if node.include_low else "gt"] = node.low
    if node.high is not None:
        body["lte" if node.include_high else "lt"] = node.high
    return {"range": body}


def to_json(node: Node) -> dict[str, Any]:
    """The JSON boolean-tree form of ``node`` (see docs/query-language.md)."""
    if isinstance(node, And):
        return {"and": [to_json(c) for c in node.children]}
    if isinstance(node, Or):
        return {"or": [to_json(c) for c in node.children]}
    if isinstance(node, Not):
        return {"not": to_json(node.child)}
    if isinstance(node, MatchAll):
        return {"match_all": {}}
    if isinstance(node, LEAF_TYPES):
        return _leaf_json(node)
    raise TypeError(f"not a query node: {node!r}")


# --------------------------------------------------------------------------- from JSON


def _fail(message: str) -> QuerySyntaxError:
    return QuerySyntaxError(message, None, param="query")


def _str(body: dict, key: str, *, required: bool = True) -> str | None:
    value = body.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str):
        raise _fail(f"'{key}' must be a string")
    return value


def _int(body: dict, key: str, default: int) -> int:
    value = body.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int):
        raise _fail(f"'{key}' must be an integer")
    return value


def _body(kind: str, body: Any, allowed: set[str]) -> dict:
    if not isinstance(body, dict):
        raise _fail(f"'{kind}' must be an object")
    extra = sorted(set(body) - allowed)
    if extra:
        raise _fail(f"unknown key(s) in '{kind}': {', '.join(extra)}")
    return body


def _range_from_json(body: Any) -> Range:
    body = _body("range", body, {"field", "gte", "gt", "lte", "lt"})
    if "gte" in body and "gt" in body or "lte" in body and "lt" in body:
        raise _fail("'range' takes at most one of gte/gt and one of lte/lt")
    low_key = "gt" if "gt" in body else "gte"
    high_key = "lt" if "lt" in body else "lte"
    return Range(
        _str(body, "field"),
        _str(body, low_key, required=False),
        _str(body, high_key, required=False),
        include_low=low_key == "gte",
        include_high=high_key == "lte",
    )


def _leaf_from_json(kind: str, body: Any) -> Leaf:
    if kind == "range":
        return _range_from_json(body)
    keys = {"term": {"field", "value"}, "wildcard": {"field", "value"},
            "phrase": {"field", "value", "slop"}, "fuzzy": {"field", "value", "distance"},
            "compare": {"field", "op", "value"}}[kind]
    body = _body(kind, body, keys)
    field, value = _str(body, "field", required=kind == "compare"), _str(body, "value")
    if kind == "term":
        return Term(field, value)
    if kind == "wildcard":
        return Wildcard(field, value)
    if kind == "phrase":
        return Phrase(field, value, _int(body, "slop", 0))
    if kind == "fuzzy":
        return Fuzzy(field, value, _int(body, "distance", 2))
    return Compare(field, _str(body, "op"), value)


def _node_from_json(obj: Any, depth: int) -> Node:
    if depth > MAX_JSON_DEPTH:
        raise _fail(f"query nested deeper than {MAX_JSON_DEPTH} levels")
    if not isinstance(obj, dict) or len(obj) != 1:
        raise _fail("each query node must be an object with exactly one key")
    ((kind, body),) = obj.items()
    if kind in ("and", "or"):
        if not isinstance(body, list) or not body:
            raise _fail(f"'{kind}' must be a non-empty list")
        children = tuple(_node_from_json(c, depth + 1) for c in body)
        return And(children) if kind == "and" else Or(children)
    if kind == "not":
        return Not(_node_from_json(body, depth + 1))
    if kind == "match_all":
        if body not in ({}, None):
            raise _fail("'match_all' takes an empty object")
        return MatchAll()
    if kind in ("term", "phrase", "wildcard", "fuzzy", "range", "compare"):
        return _leaf_from_json(kind, body)
    raise _fail(f"unknown query node '{kind}'")


def from_json(obj: dict[str, Any]) -> Node:
    """Build and validate an AST from its JSON form; raises QuerySyntaxError.

    Field names are checked against the allow-list (aliases become canonical names)
    and values are validated as the string parser does in strict mode.
    """
    from query.fields import validate_tree  # late import: fields imports this module

    return validate_tree(_node_from_json(obj, 0))
