"""The JSON form of a search (``POST /api/v1/search``): the same questions as the URL
grammar, as one document.

```json
{"query": "zebrafish AND title:embryo" | {"and": [...]},   # a string or a JSON boolean tree
 "mode": "strict" | "lenient",
 "filters": {"organism": ["human"] | {"any_of": [...], "all_of": [...], "none_of": [...]}},
 "ranges": {"file_count": {"gte": 1}, "size": {"lt": 1e12}, "release_year": {"gte": 2020}},
 "has": {"doi": true},
 "facets": ["organism", "source"],
 "sort": {"by": "release_date", "order": "descending"},
 "page": 1, "pageSize": 20, "cursor": "…", "fields": ["accession", "title"]}
```
A body of just ``{"query": "<string>"}`` works too. Errors are ParamError /
QuerySyntaxError naming the offending key.
"""

from __future__ import annotations

from typing import Any

from query.ast import from_json
from query.errors import QuerySyntaxError
from query.params import (
    HAS_FIELDS,
    MAX_PAGE,
    MAX_PAGE_SIZE,
    NUMERIC_FIELDS,
    NUMERIC_OPS,
    FacetFilter,
    ParamError,
    SearchRequest,
    parse_search_params,
)

TOP_KEYS = {"query", "mode", "filters", "ranges", "has", "facets", "sort", "page", "pageSize", "cursor", "fields"}


def parse_search_body(body: Any) -> SearchRequest:
    """Validate a JSON search document into a SearchRequest."""
    if not isinstance(body, dict):
        raise ParamError("body", "expected a JSON object")
    unknown = set(body) - TOP_KEYS
    if unknown:
        raise ParamError(sorted(unknown)[0], f"unknown key; allowed keys are {', '.join(sorted(TOP_KEYS))}")
    req = parse_search_params(_url_equivalents(body))
    _query(req, body.get("query"))
    for name, value in _dict(body, "filters").items():
        req.filters[name] = _facet_filter(name, value)
    _validate_facets(req)
    for name, ops in _dict(body, "ranges").items():
        _range(req, name, ops)
    for name, wanted in _dict(body, "has").items():
        if name not in HAS_FIELDS or not isinstance(wanted, bool):
            raise ParamError(f"has.{name}", f"expected one of {', '.join(HAS_FIELDS)} with true or false")
        req.has[name] = wanted
    return req


def _url_equivalents(body: dict) -> dict[str, list[str]]:
    args: dict[str, list[str]] = {}
    sort = body.get("sort") or {}
    if not isinstance(sort, dict):
        raise ParamError("sort", "expected an object with 'by' and 'order'")
    for key, value in (("mode", body.get("mode")), ("sortBy", sort.get("by")), ("sortOrder", sort.get("order")),
                       ("cursor", body.get("cursor"))):
        if value is not None:
            args[key] = [_text(key, value)]
    for key, high in (("page", MAX_PAGE), ("pageSize", MAX_PAGE_SIZE)):
        if key in body:
            value = body[key]
            if not isinstance(value, int) or isinstance(value, bool):
                raise ParamError(key, f"expected a whole number between 1 and {high}")
            args[key] = [str(value)]
    for key in ("facets", "fields"):
        if key in body:
            args[key] = [",".join(_text_list(key, body[key]))]
    return args


def _query(req: SearchRequest, query: Any) -> None:
    if query is None or isinstance(query, str):
        req.query = query or ""
        return
    if not isinstance(query, dict):
        raise ParamError("query", "expected a query string or a JSON query tree")
    req.query_node = from_json(query)
    req.query = ""


def _dict(body: dict, key: str) -> dict:
    value = body.get(key) or {}
    if not isinstance(value, dict):
        raise ParamError(key, "expected an object")
    return value


def _facet_filter(name: str, value: Any) -> FacetFilter:
    if isinstance(value, (list, str)):
        return FacetFilter(any_of=_text_list(f"filters.{name}", value))
    if isinstance(value, dict):
        extra = set(value) - {"any_of", "all_of", "none_of"}
        if extra:
            raise ParamError(f"filters.{name}", f"unknown key {sorted(extra)[0]!r}; use any_of, all_of, none_of")
        return FacetFilter(**{k: _text_list(f"filters.{name}.{k}", v) for k, v in value.items()})
    raise ParamError(f"filters.{name}", "expected a list of values or {any_of, all_of, none_of}")


def _validate_facets(req: SearchRequest) -> None:
    from indexer.schema import FACETS_BY_NAME

    for name in req.filters:
        if name not in FACETS_BY_NAME:
            raise ParamError(f"filters.{name}", f"unknown facet {name!r}; facets are {', '.join(FACETS_BY_NAME)}")


def _range(req: SearchRequest, name: str, ops: Any) -> None:
    if name not in NUMERIC_FIELDS or not isinstance(ops, dict):
        raise ParamError(f"ranges.{name}", f"expected one of {', '.join(NUMERIC_FIELDS)} with {{gt|gte|lt|lte: number}}")
    args = {}
    for op, value in ops.items():
        if op not in NUMERIC_OPS or isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ParamError(f"ranges.{name}.{op}", "expected gt, gte, lt or lte with a number")
        args[f"{name}.{op}"] = [repr(value)]
    req.ranges.update(parse_search_params(args).ranges)


def _text(key: str, value: Any) -> str:
    if not isinstance(value, str):
        raise ParamError(key, "expected a string")
    return value


def _text_list(key: str, value: Any) -> list[str]:
    values = [value] if isinstance(value, str) else value
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise ParamError(key, "expected a string or a list of strings")
    return values


__all__ = ["parse_search_body", "QuerySyntaxError"]
