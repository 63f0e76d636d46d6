"""The field allow-list of the query language, and validation of field values.

Each public field name (and its aliases) maps to a :class:`FieldSpec`: its kind decides
which clause types it accepts and how :mod:`query.compile` turns it into Whoosh queries.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal, InvalidOperation

from indexer.schema import FACETS_BY_NAME
from query import ast
from query.errors import QuerySyntaxError

TEXT, VOCABULARY, FACET, ID, DATE, NUMERIC = (
    "text", "vocabulary", "facet", "id", "date", "numeric")

MAX_FUZZY_DISTANCE = 2
MIN_WILDCARD_PREFIX = 2
MAX_NUMBER = 2**63 - 1


@dataclass(frozen=True)
class FieldSpec:
    """A public query field: its kind, the index field(s) it searches, its aliases."""

    name: str
    kind: str
    index_field: str
    tree_field: str | None = None  # vocabulary: facet field holding CURIEs + ancestors
    aliases: tuple[str, ...] = ()
    units: bool = False  # numeric: accepts byte units (10GB, 1.5 TB, KiB)
    ranges: bool = False  # accepts ranges and comparisons


def _facet(name: str, *aliases: str, ranges: bool = False) -> FieldSpec:
    return FieldSpec(name, FACET, FACETS_BY_NAME[name].field, aliases=aliases, ranges=ranges)


FIELDS: tuple[FieldSpec, ...] = (
    FieldSpec("title", TEXT, "title"),
    FieldSpec("description", TEXT, "description"),
    FieldSpec("keywords", TEXT, "keywords", aliases=("keyword",)),
    FieldSpec("author", TEXT, "author", aliases=("authors",)),
    FieldSpec("publication", TEXT, "publication"),
    FieldSpec("content", TEXT, "content"),
    FieldSpec("organism", VOCABULARY, "organism", tree_field="f_organism_tree"),
    FieldSpec("imaging_method", VOCABULARY, "imaging_method",
              tree_field="f_imaging_method_tree", aliases=("method", "imaging_methods")),
    _facet("source"),
    _facet("license", "licence"),
    _facet("study_type"),
    _facet("file_format", "format"),
    _facet("release_year", ranges=True),
    FieldSpec("accession", ID, "identifiers"),
    FieldSpec("doi", ID, "doi"),
    FieldSpec("xref", ID, "identifiers", aliases=("id", "identifier")),
    FieldSpec("release_date", DATE, "release_date", ranges=True),
    FieldSpec("file_count", NUMERIC, "file_count", ranges=True),
    FieldSpec("size", NUMERIC, "total_size_bytes", aliases=("total_size_bytes",),
              units=True, ranges=True),
)
_BY_NAME: dict[str, FieldSpec] = {
    name: spec for spec in FIELDS for name in (spec.name, *spec.aliases)
}


def lookup_field(name: str) -> FieldSpec | None:
    """The spec for a public field name or alias (case-insensitive), or None."""
    return _BY_NAME.get(name.lower())


def field_names() -> list[str]:
    """Canonical public field names, sorted (for error messages and docs)."""
    return sorted(spec.name for spec in FIELDS)


def unknown_field_message(name: str) -> str:
    """The error message for a field name that is not on the allow-list."""
    return f"unknown field '{name}'; allowed fields: {', '.join(field_names())}"


# --------------------------------------------------------------------------- values

_DATE_RE = re.compile(r"(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?")
_SIZE_RE = re.compile(r"(\d+(?:\.\d+)?)\s*([A-Za-z]*)")
SIZE_UNITS: dict[str, int] = {
    "": 1, "b": 1, "byte": 1, "bytes": 1,
    "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12, "pb": 10**15,
    "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40, "pib": 2**50,
}


def date_interval(value: str) -> tuple[datetime, datetime]:
    """``YYYY``/``YYYY-MM``/``YYYY-MM-DD`` -> [start, end) covering that year/month/day.

    Raises ValueError with a user-facing message for anything else.
    """
    match = _DATE_RE.fullmatch(value.strip())
    if not match:
        raise ValueError(f"invalid date '{value}' (use YYYY, YYYY-MM or YYYY-MM-DD)")
    year, month, day = (int(g) if g else None for g in match.groups())
    if not 1 <= year <= 9998:
        raise ValueError(f"date '{value}' is out of range")
    try:
        start = datetime(year, month or 1, day or 1)
    except ValueError:
        raise ValueError(f"invalid date '{value}'") from None
    if day is not None:
        end = datetime.fromordinal(start.toordinal() + 1)
    elif month is not None:
        end = datetime(year + month // 12, month % 12 + 1, 1)
    else:
        end = datetime(year + 1, 1, 1)
    return start, end


def date_bounds(low: str | None, high: str | None, include_low: bool,
                include_high: bool) -> tuple[datetime | None, datetime | None]:
    """Date range -> (start inclusive, end exclusive); None is open. ValueError if bad."""
    start = end = None
    if low is not None:
        low_start, low_end = date_interval(low)
        start = low_start if include_low else low_end
    if high is not None:
        high_start, high_end = date_interval(high)
        end = high_end if include_high else high_start
    if low is not None and high is not None and date_interval(low)[0] >= date_interval(high)[1]:
        raise ValueError(f"reversed range: '{low}' is after '{high}'")
    return start, end


def compare_as_range(op: str, value: str) -> tuple[str | None, str | None, bool, bool]:
    """``>= v`` etc. as (low, high, include_low, include_high)."""
    if op not in ast.COMPARE_OPS:
        raise ValueError(f"unknown comparison operator '{op}'")
    if op.startswith(">"):
        return value, None, op == ">=", True
    return None, value, True, op == "<="


def parse_number(spec: FieldSpec, value: str) -> int:
    """A count, or for fields with units a byte size (``10GB``, ``1.5 TB``, ``4 KiB``)."""
    text = value.strip()
    match = _SIZE_RE.fullmatch(text) if spec.units else re.fullmatch(r"(\d+)()", text)
    unit = match.group(2).lower() if match else ""
    if not match or unit not in SIZE_UNITS:
        hint = " (e.g. 500MB, 1.5 TB)" if spec.units else " (a whole number)"
        raise ValueError(f"invalid number '{value}' for field '{spec.name}'{hint}")
    try:
        number = int(Decimal(match.group(1)) * SIZE_UNITS[unit])
    except InvalidOperation:  # pragma: no cover - the regex admits only decimals
        raise ValueError(f"invalid number '{value}'") from None
    if number > MAX_NUMBER:
        raise ValueError(f"number '{value}' is too large")
    return number


def is_size_unit(word: str) -> bool:
    """Whether ``word`` is a byte unit that may follow a number after a space."""
    return word.lower() in SIZE_UNITS and word != ""


def check_value(spec: FieldSpec, value: str) -> None:
    """Raise ValueError if ``value`` is not a valid single value for the field."""
    if spec.kind == DATE:
        date_interval(value)
    elif spec.kind == NUMERIC:
        parse_number(spec, value)


def check_range(spec: FieldSpec, low: str | None, high: str | None,
                include_low: bool = True, include_high: bool = True) -> None:
    """Raise ValueError for a bad bound or a reversed range."""
    if spec.kind == DATE:
        date_bounds(low, high, include_low, include_high)
    elif spec.kind == NUMERIC:
        numbers = [parse_number(spec, v) for v in (low, high) if v is not None]
        if len(numbers) == 2 and numbers[0] > numbers[1]:
            raise ValueError(f"reversed range: '{low}' is greater than '{high}'")
    elif low is not None and high is not None and low > high:
        raise ValueError(f"reversed range: '{low}' is after '{high}'")


# --------------------------------------------------------------------------- wildcards


def wildcard_parts(pattern: str) -> list[tuple[str, bool]]:
    """Split an AST wildcard pattern into (char, is_wildcard) pairs, resolving escapes."""
    parts: list[tuple[str, bool]] = []
    chars = iter(pattern)
    for char in chars:
        if char == "\\":
            parts.append((next(chars, "\\"), False))
        else:
            parts.append((char, char in "*?"))
    return parts


def wildcard_problem(pattern: str) -> str | None:
    """Why a wildcard pattern is refused (leading or over-broad wildcard), or None."""
    parts = wildcard_parts(pattern)
    prefix = next((i for i, (_, wild) in enumerate(parts) if wild), len(parts))
    if prefix == 0:
        return f"leading wildcard in '{pattern}' is not allowed"
    if prefix < MIN_WILDCARD_PREFIX:
        return (f"wildcard '{pattern}' is too broad: put at least {MIN_WILDCARD_PREFIX} "
                "characters before the first * or ?")
    return None


# --------------------------------------------------------------------------- clause kinds

_ALLOWED: dict[str | None, tuple[type, ...]] = {
    None: (ast.Term, ast.Phrase, ast.Wildcard, ast.Fuzzy),
    TEXT: (ast.Term, ast.Phrase, ast.Wildcard, ast.Fuzzy),
    VOCABULARY: (ast.Term, ast.Phrase, ast.Wildcard, ast.Fuzzy),
    ID: (ast.Term, ast.Phrase, ast.Wildcard, ast.Fuzzy),
    FACET: (ast.Term, ast.Phrase, ast.Wildcard, ast.Range, ast.Compare),
    DATE: (ast.Term, ast.Phrase, ast.Range, ast.Compare),
    NUMERIC: (ast.Term, ast.Phrase, ast.Range, ast.Compare),
}
_CLAUSE_NAMES = {ast.Wildcard: "wildcards are", ast.Fuzzy: "fuzzy matching is",
                 ast.Range: "range queries are", ast.Compare: "comparisons are",
                 ast.Term: "terms are", ast.Phrase: "phrases are"}


def clause_problem(spec: FieldSpec | None, clause: type) -> str | None:
    """Why a clause type is not accepted on a field (None = free text), or None."""
    ranged = clause in (ast.Range, ast.Compare)
    if spec is None:
        return f"{_CLAUSE_NAMES[clause].rsplit(' ', 1)[0]} need a field" if ranged else None
    if clause in _ALLOWED[spec.kind] and (not ranged or spec.ranges):
        return None
    return f"{_CLAUSE_NAMES[clause]} not supported on field '{spec.name}'"


def leaf_problem(spec: FieldSpec | None, node: ast.Leaf) -> str | None:
    """Everything wrong with a leaf (clause type, value, bounds), as a message or None."""
    problem = clause_problem(spec, type(node))
    if problem:
        return problem
    try:
        _check_leaf_value(spec, node)
    except ValueError as exc:
        return str(exc)
    return None


def _check_leaf_value(spec: FieldSpec | None, node: ast.Leaf) -> None:
    if isinstance(node, ast.Wildcard):
        problem = wildcard_problem(node.pattern)
        if problem:
            raise ValueError(problem)
    elif isinstance(node, ast.Fuzzy):
        if not 0 <= node.distance <= MAX_FUZZY_DISTANCE:
            raise ValueError(f"fuzzy distance {node.distance} is not allowed (0 to 2)")
    elif isinstance(node, ast.Phrase) and node.slop < 0:
        raise ValueError("phrase slop must not be negative")
    elif isinstance(node, ast.Range):
        check_range(spec, node.low, node.high, node.include_low, node.include_high)
    elif isinstance(node, ast.Compare):
        check_range(spec, *compare_as_range(node.op, node.value))
    if isinstance(node, (ast.Term, ast.Phrase)) and spec is not None:
        check_value(spec, node.text)


def validate_tree(node: ast.Node) -> ast.Node:
    """Check every leaf against the allow-list; return the tree with canonical names.

    Raises QuerySyntaxError (at the leaf's position, if known) for the first problem.
    """
    if isinstance(node, (ast.And, ast.Or)):
        return type(node)(tuple(validate_tree(c) for c in node.children))
    if isinstance(node, ast.Not):
        return ast.Not(validate_tree(node.child))
    if isinstance(node, ast.MatchAll):
        return node
    if not isinstance(node, ast.LEAF_TYPES):
        raise QuerySyntaxError(f"not a query node: {type(node).__name__}")
    spec = None
    if node.field is not None:
        spec = lookup_field(node.field)
        if spec is None:
            raise QuerySyntaxError(unknown_field_message(node.field), node.position)
    problem = leaf_problem(spec, node)
    if problem:
        raise QuerySyntaxError(problem, node.position)
    return replace(node, field=spec.name) if spec else node
