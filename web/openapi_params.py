"""Parameters of the OpenAPI document (see :mod:`web.openapi`), generated from the parsers'
own declarations: the search URL grammar of query.params (one explicit entry per facet of
indexer.schema.FACETS and mode, per numeric field and operator, per has-filter), the file
search of query.files, suggestions, the BioStudies-compatible API and OAI-PMH."""

from __future__ import annotations

from indexer.schema import FACETS
from query import biostudies as bst
from query import files
from query.oai import ARGUMENTS as OAI_ARGUMENTS
from query.oai_tokens import MAX_TOKEN_LENGTH
from query.params import (
    DEFAULT_PAGE_SIZE, HAS_FIELDS, HIT_FIELDS, MAX_CURSOR_LENGTH, MAX_PAGE, MAX_PAGE_SIZE, MAX_WINDOW, NUMERIC_FIELDS,
    NUMERIC_OPS, SORT_ALIASES, SORT_FIELDS,
)
from query.suggest import MAX_LIMIT, MAX_PREFIX_CHARS
from query.syntax import parse_query
from web.suggest_api import DEFAULT_LIMIT

QUERY_LIMITS = parse_query.__kwdefaults__  # max_length, max_clauses
FACET_MODES = {"": "any of the values (same as .or)", ".or": "any of the values", ".eq": "all of the values",
               ".not": "none of the values"}
OPS = {"gt": ">", "gte": ">=", "lt": "<", "lte": "<="}
ORDERS = {"enum": ["ascending", "descending", "asc", "desc"], "description": "case-insensitive"}
VALUE = {"type": "string", "minLength": 1, "pattern": r"\S"}


def param(name: str, where: str, schema: dict, description: str, *, required: bool = False, **extra) -> dict:
    """One parameter object."""
    out = {"name": name, "in": where, "description": description, "schema": schema, **extra}
    if required or where == "path":
        out["required"] = True
    return out


def query(name: str, schema: dict, description: str, **extra) -> dict:
    return param(name, "query", schema, description, **extra)


def integer(low: int, high: int, default: int | None = None) -> dict:
    schema = {"type": "integer", "minimum": low, "maximum": high}
    return schema if default is None else {**schema, "default": default}


def repeated(description: str) -> dict:
    """A repeatable parameter (``name=a&name=b``)."""
    return {"schema": {"type": "array", "items": VALUE, "minItems": 1}, "style": "form", "explode": True, "description": description}


def comma_list(values, description: str) -> dict:
    """A comma-separated list of known names (``name=a,b``)."""
    return {"schema": {"type": "array", "items": {"enum": list(values)}, "uniqueItems": True},
            "style": "form", "explode": False, "description": description}


def path(name: str, description: str, schema: dict | None = None) -> dict:
    return param(name, "path", schema or {"type": "string", "minLength": 1, "maxLength": 64, "pattern": r"^[A-Za-z0-9][A-Za-z0-9_-]*$"},
                 description)


ACCESSION = path("accession", "a dataset accession (case-insensitive), e.g. S-BIAD1492, EMPIAR-10310, idr0001")


def _query_text(max_length: int) -> dict:
    return {"type": "string", "maxLength": max_length}


def search_params(sorts=None) -> list[dict]:
    """The URL search grammar of query.params (GET /api/v1/search; also BioStudies search)."""
    sorts = list(sorts or (*SORT_FIELDS, *SORT_ALIASES))
    text = (f"a query in the query language (docs/query-language.md); at most {QUERY_LIMITS['max_length']} "
            f"characters and {QUERY_LIMITS['max_clauses']} clauses; empty or * matches every dataset")
    out = [
        query("query", _query_text(QUERY_LIMITS["max_length"]), text),
        query("q", _query_text(QUERY_LIMITS["max_length"]), "alias of query"),
        query("mode", {"enum": ["strict", "lenient"], "default": "strict"},
              "strict: any query error is a 400 naming its position; lenient: the best reading, with warnings in meta"),
        query("page", integer(1, MAX_PAGE, 1), f"page number; page × pageSize may not exceed {MAX_WINDOW} (use cursor beyond)"),
        query("pagination.page", integer(1, MAX_PAGE), "alias of page"),
        query("pageSize", integer(1, MAX_PAGE_SIZE, DEFAULT_PAGE_SIZE), "hits per page"),
        query("pagination.page_size", integer(1, MAX_PAGE_SIZE), "alias of pageSize"),
        query("sortBy", {"enum": sorts}, "sort field (default: relevance with a query, release_date without); ties by accession"),
        query("sortOrder", ORDERS, "ascending or descending (default depends on sortBy)"),
        query("cursor", {"type": "string", "maxLength": MAX_CURSOR_LENGTH}, "opaque cursor from data.next: the page after it"),
        query("facets", **comma_list([f.name for f in FACETS], "facets to count, comma-separated (default: all)")),
        query("fields", **comma_list(HIT_FIELDS, "hit fields to return, comma-separated (default: all)")),
        query("facetTree", {"type": "boolean"}, "also return the imaging_method facet as an FBbi tree (facets[].tree)"),
    ]
    for spec in FACETS:
        for mode, meaning in FACET_MODES.items():
            out.append(query(f"facet.{spec.name}{mode}", **repeated(
                f"{spec.title} facet filter, repeatable: datasets with {meaning}; a key (CURIE) or a label, case-insensitive")))
    for name, field in NUMERIC_FIELDS.items():
        low, high = (1, 9999) if name == "release_year" else (0, 2**63 - 1)
        for op in NUMERIC_OPS:
            out.append(query(f"{name}.{op}", {"type": "number", "minimum": low, "maximum": high}, f"{field} {OPS[op]} the value"))
    for name in HAS_FIELDS:
        out.append(query(f"has.{name}", {"type": "boolean"}, f"only datasets with (true) or without (false) {name}"))
    return out


def file_params() -> list[dict]:
    """The file search of query.files (GET /api/v1/datasets/{accession}/files)."""
    sizes = {"gte": ">=", "gt": ">", "lte": "<=", "lt": "<"}
    assert set(sizes) == set(files.SIZE_OPS)
    return [
        query("query", _query_text(files.MAX_QUERY_CHARS), "free text over paths and attribute values (words AND-ed, the last a prefix)"),
        query("q", _query_text(files.MAX_QUERY_CHARS), "alias of query"),
        query("format", **repeated("file format, repeatable (any of)")),
        query("component", **repeated("study component, repeatable (any of)")),
        *[query(f"size.{op}", {"type": "number", "minimum": 0, "maximum": files.MAX_SIZE}, f"size in bytes {sign} the value")
          for op, sign in sizes.items()],
        query("sortBy", {"enum": list(files.SORT_FIELDS), "default": "path"}, "sort field; ties in path order"),
        query("sortOrder", ORDERS, "ascending (default) or descending"),
        query("page", integer(1, files.MAX_PAGE), "page number (not with offset)"),
        query("pageSize", integer(1, files.MAX_PAGE_SIZE, files.DEFAULT_PAGE_SIZE), "rows per page (not with limit)"),
        query("offset", integer(0, files.MAX_OFFSET), "alias of page: rows to skip"),
        query("limit", integer(1, files.MAX_PAGE_SIZE), "alias of pageSize"),
    ]


FILE_PATTERNS = [{"pattern": r"^attr\..+$", "description": "attr.<name>=<value>: files whose attribute <name> has the value; "
                  "repeatable (any of within a name, all of across names)"}]


def suggest_params() -> list[dict]:
    return [
        query("q", {"type": "string", "minLength": 1, "maxLength": MAX_PREFIX_CHARS, "pattern": r"\S"}, "the text typed so far", required=True),
        query("limit", integer(1, MAX_LIMIT, DEFAULT_LIMIT), "how many suggestions"),
    ]


def biostudies_search_params() -> list[dict]:
    """Our search grammar with BioStudies' sort names; no fields= (its hits have a fixed shape)."""
    return [p for p in search_params(sorted(bst.SORTS)) if p["name"] != "fields"]


BIOSTUDIES_PATTERNS = [{"pattern": r"^facet\.[A-Za-z]+\..+$", "description": "facet.<collection>.<facet>[.or|.eq|.not]: "
                        "BioStudies' collection-qualified facet names, read as facet.<facet>"}]
COLLECTION = path("collection", "a collection (case-insensitive): " + ", ".join(bst.COLLECTIONS), {"enum": list(bst.COLLECTIONS)})


def biostudies_files_params() -> list[dict]:
    return [
        query("start", integer(0, 10**12, 0), "rows to skip"),
        query("length", integer(1, 10**9, 100), f"rows to return (at most {bst.MAX_FILES_PAGE} are)"),
        query("draw", integer(0, 10**9), "DataTables draw counter, echoed"),
    ]


OAI_NAMES = ("verb", *sorted({name for required, optional in OAI_ARGUMENTS.values() for name in required | optional}))


def oai_schema(name: str) -> dict:
    if name == "verb":
        return {"enum": list(OAI_ARGUMENTS)}
    if name == "resumptionToken":
        return {"type": "string", "maxLength": MAX_TOKEN_LENGTH}
    return {"type": "string"}


def oai_params() -> list[dict]:
    return [query(name, oai_schema(name), "OAI-PMH 2.0 argument") for name in OAI_NAMES]
