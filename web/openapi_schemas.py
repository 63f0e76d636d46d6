"""Component schemas of the OpenAPI document (see :mod:`web.openapi`), built from the
declarations they describe: the Record model (pydantic), the facets of indexer.schema, the
hit fields of query.params, the keys of the POST search body (query.body), the query
tree of query.ast and the field allow-list of query.fields."""

from __future__ import annotations

from harvesters.records import SOURCES, FileRow, Record
from indexer.schema import FACETS
from query import ast
from query.body import TOP_KEYS
from query.fields import FIELDS
from query.params import HAS_FIELDS, HIT_FIELDS, MAX_CURSOR_LENGTH, MAX_PAGE, MAX_PAGE_SIZE, NUMERIC_FIELDS, NUMERIC_OPS, SORT_ALIASES, SORT_FIELDS

REF = "#/components/schemas/{model}"
FACET_NAMES = [spec.name for spec in FACETS]
STR, INT, NUM, BOOL, OBJ = {"type": "string"}, {"type": "integer"}, {"type": "number"}, {"type": "boolean"}, {"type": "object"}


def ref(name: str) -> dict:
    """A reference to a component schema."""
    return {"$ref": REF.format(model=name)}


def nullable(schema: dict) -> dict:
    """``schema`` or null (OpenAPI 3.1 / JSON Schema 2020-12)."""
    return {"anyOf": [schema, {"type": "null"}]}


def array(items: dict) -> dict:
    return {"type": "array", "items": items}


def obj(properties: dict, required: list[str] | tuple[str, ...] = (), closed: bool = False, **extra) -> dict:
    """An object schema; ``closed`` forbids properties not listed."""
    schema = {"type": "object", "properties": properties, **extra}
    if required:
        schema["required"] = list(required)
    if closed:
        schema["additionalProperties"] = False
    return schema


def envelope(data: dict, meta: dict | None = None) -> dict:
    """The success envelope ``{"data": …, "meta": {…}}`` of every /api/v1 JSON response."""
    return obj({"data": data, "meta": obj(meta or {}, required=list(meta or {}))}, ["data", "meta"], closed=True)


# -- the error shape (web.errors) ------------------------------------------------------------

ERROR = obj({"error": obj({
    "status": {"type": "integer", "minimum": 400, "maximum": 599, "description": "the HTTP status, repeated"},
    "code": {**STR, "description": "machine-readable: invalid_parameter, invalid_query, invalid_body, not_found, "
                                  "unauthorized, forbidden, no_index, unavailable, method_not_allowed, …"},
    "message": {**STR, "description": "what is wrong, for a person"},
    "param": {**nullable(STR), "description": "the parameter, body key or header at fault"},
    "position": {**nullable(INT), "description": "0-based offset of the problem in a query string"},
}, ["status", "code", "message", "param", "position"], closed=True)}, ["error"], closed=True,
    description="The one error shape of every JSON endpoint (web/errors.py).")

# -- search results ----------------------------------------------------------------------------

_NAMED = obj({"name": STR}, ["name"])
HIT_TYPES = {  # the stored summary (indexer.documents.summary) plus what query.hits adds
    "accession": STR, "source": {"enum": list(SOURCES)}, "title": STR, "title_html": {**STR, "description": "title, HTML-escaped, matches in <mark>"},
    "snippet": {**STR, "description": "description excerpt, HTML-escaped, matches in <mark>"},
    "release_date": nullable({**STR, "format": "date"}), "doi": nullable(STR),
    "organisms": array(obj({"name": STR, "taxon_id": STR, "common_name": STR}, ["name"])),
    "imaging_methods": array(obj({"name": STR, "fbbi_id": STR}, ["name"])), "study_type": array(STR),
    "license": nullable(obj({"name": STR, "url": STR}, ["name"])), "authors": {**array(STR), "description": "the first 10"},
    "author_count": INT, "file_count": INT, "total_size_bytes": INT, "file_formats": array(STR), "keywords": array(STR),
    "score": {**nullable(NUM), "description": "relevance score when sorted by relevance"},
}
BUCKET = obj({"key": {**STR, "description": "canonical key (a CURIE where an ontology exists)"}, "label": STR,
              "count": {"type": "integer", "minimum": 0}, "selected": BOOL}, ["key", "label", "count", "selected"])
TREE_BUCKET = {**BUCKET, "properties": {**BUCKET["properties"], "children": array(ref("TreeBucket"))},
               "required": [*BUCKET["required"], "children"]}
FACET = obj({"name": {"enum": FACET_NAMES}, "title": STR, "buckets": array(ref("Bucket")),
             "tree": {**array(ref("TreeBucket")), "description": "imaging_method with facetTree=true: the FBbi hierarchy"}},
            ["name", "title", "buckets"])
DID_YOU_MEAN = obj({"query": STR, "totalHits": INT, "terms": array(obj(
    {"term": STR, "suggestions": array(obj({"text": STR, "count": INT}, ["text", "count"]))}, ["term", "suggestions"]))},
    ["query", "totalHits", "terms"])
SEARCH_RESULT = obj({
    "query": STR, "totalHits": INT, "isTotalHitsExact": BOOL, "page": INT, "pageSize": INT,
    "sortBy": {"enum": list(SORT_FIELDS)}, "sortOrder": {"enum": ["ascending", "descending"]},
    "hits": array(ref("Hit")), "next": {**nullable(STR), "description": "cursor of the next page (pass as cursor=)"},
    "facets": array(ref("Facet")), "didYouMean": nullable(ref("DidYouMean")),
}, ["query", "totalHits", "isTotalHitsExact", "page", "pageSize", "sortBy", "sortOrder", "hits", "next", "facets", "didYouMean"], closed=True)

# -- the POST /api/v1/search body (query.body) ---------------------------------------------------

_FIELD_NAMES = sorted({name for spec in FIELDS for name in (spec.name, *spec.aliases)})
_FIELD = {**STR, "description": "a field of the allow-list: " + ", ".join(_FIELD_NAMES)}
_LEAVES = {
    "term": obj({"field": _FIELD, "value": STR}, ["value"], closed=True),
    "phrase": obj({"field": _FIELD, "value": STR, "slop": {"type": "integer", "minimum": 0}}, ["value"], closed=True),
    "wildcard": obj({"field": _FIELD, "value": STR}, ["value"], closed=True),
    "fuzzy": obj({"field": _FIELD, "value": STR, "distance": {"type": "integer", "minimum": 0, "maximum": 2}}, ["value"], closed=True),
    "range": obj({"field": _FIELD, **{k: STR for k in ("gt", "gte", "lt", "lte")}}, ["field"], closed=True),
    "compare": obj({"field": _FIELD, "op": {"enum": list(ast.COMPARE_OPS)}, "value": STR}, ["field", "op", "value"], closed=True),
}
QUERY_NODE = {"description": f"The JSON query tree (docs/query-language.md): one key per node, nested at most {ast.MAX_JSON_DEPTH} deep.",
              "oneOf": [
                  *[obj({k: {**array(ref("QueryNode")), "minItems": 1}}, [k], closed=True) for k in ("and", "or")],
                  obj({"not": ref("QueryNode")}, ["not"], closed=True),
                  obj({"match_all": obj({}, closed=True)}, ["match_all"], closed=True),
                  *[obj({kind: body}, [kind], closed=True) for kind, body in _LEAVES.items()],
              ]}
_STRINGS = {"anyOf": [STR, array(STR)]}
_BODY_KEYS = {
    "query": {"anyOf": [STR, ref("QueryNode")], "description": "a query string, or the JSON query tree"},
    "mode": {"enum": ["strict", "lenient"]},
    "filters": obj({name: {"anyOf": [_STRINGS, obj({k: _STRINGS for k in ("any_of", "all_of", "none_of")}, closed=True)]}
                    for name in FACET_NAMES}, closed=True, description="facet selections: values (any of) or {any_of, all_of, none_of}"),
    "ranges": obj({name: obj({op: NUM for op in NUMERIC_OPS}, closed=True) for name in NUMERIC_FIELDS}, closed=True),
    "has": obj({name: BOOL for name in HAS_FIELDS}, closed=True),
    "facets": {**array({"enum": FACET_NAMES}), "description": "facets to count (default: all)"},
    "sort": obj({"by": {"enum": [*SORT_FIELDS, *SORT_ALIASES]}, "order": {"enum": ["ascending", "descending", "asc", "desc"]}}, closed=True),
    "page": {"type": "integer", "minimum": 1, "maximum": MAX_PAGE},
    "pageSize": {"type": "integer", "minimum": 1, "maximum": MAX_PAGE_SIZE},
    "cursor": {**STR, "maxLength": MAX_CURSOR_LENGTH},
    "fields": {**array({"enum": list(HIT_FIELDS)}), "description": "hit fields to return (default: all)"},
}
assert set(_BODY_KEYS) == TOP_KEYS, "query.body.TOP_KEYS changed: describe the new keys here"
SEARCH_BODY = obj(_BODY_KEYS, closed=True, description='The JSON form of a search; {"query": "<string>"} alone works too.')

# -- file search (query.files), links, suggestions, operations -------------------------------------

FILE_ROW = obj({"path": STR, "size": nullable(INT), "format": nullable(STR), "component": nullable(STR),
                "attributes": obj({}, additionalProperties=STR)}, ["path", "size", "format", "component", "attributes"])
FILE_FACET = obj({"name": {**STR, "description": "format, component or attr.<name>"}, "title": STR, "buckets": array(ref("Bucket")),
                  "otherCount": INT, "valueCount": INT}, ["name", "title", "buckets", "otherCount", "valueCount"])
FILE_RESULT = obj({"accession": STR, "query": STR, "totalHits": INT, "isTotalHitsExact": BOOL, "page": INT, "pageSize": INT,
                   "offset": INT, "sortBy": {"enum": ["path", "size", "format"]}, "sortOrder": {"enum": ["ascending", "descending"]},
                   "files": array(ref("FileRow")), "facets": array(ref("FileFacet"))},
                  ["accession", "totalHits", "page", "pageSize", "offset", "files", "facets"])
_LINKED = obj({"accession": STR, "title": STR, "source": STR}, ["accession", "title", "source"])
LINKS = obj({"accession": STR,
             "outbound": array(ref("OutboundLink")),
             "inbound": array({"allOf": [_LINKED, obj({"via": STR}, ["via"])]})}, ["accession", "outbound", "inbound"], closed=True)
SUGGESTION = obj({"text": STR, "kind": {"enum": ["term", "title", "facet"]}, "facet": nullable(STR), "key": nullable(STR),
                  "count": nullable(INT)}, ["text", "kind"])
JOB = obj({"id": STR, "kind": {"enum": ["harvest", "rebuild"]}, "source": nullable(STR), "status": STR, "created": STR,
           "started": nullable(STR), "ended": nullable(STR), "stage": nullable(STR), "records": INT,
           "result": nullable(STR), "error": nullable(STR)}, ["id", "kind", "status"])
STATUS = obj({"generation": nullable(OBJ), "generations": array(STR), "store": OBJ, "sources": array(OBJ),
              "builds": array(OBJ), "scheduler": OBJ}, ["generation", "generations", "store", "sources", "builds", "scheduler"])
JSONLD = {**OBJ, "description": "schema.org / Bioschemas JSON-LD, or a GIDE RO-Crate (profile=gide)"}

# -- BioStudies compatibility (query.biostudies) ---------------------------------------------------

BST_SEARCH = obj({
    "page": INT, "pageSize": INT, "totalHits": INT, "isTotalHitsExact": BOOL, "sortBy": STR, "sortOrder": STR,
    "suggestion": array(STR), "expandedEfoTerms": array(STR), "expandedSynonyms": array(STR), "query": nullable(STR),
    "facets": array(obj({"title": STR, "name": STR, "type": STR, "children": array(obj({"name": STR, "value": STR, "hits": INT}))})),
    "hits": array(obj({"accession": STR, "type": STR, "title": STR, "author": STR, "links": INT, "files": INT,
                       "release_date": nullable(STR), "views": INT, "isPublic": BOOL, "content": STR}, ["accession", "title"])),
    "nextCursor": nullable(STR), "tooManyExpansionTerms": BOOL,
}, ["page", "pageSize", "totalHits", "hits", "facets"])
BST_INFO = obj({"columns": array(OBJ), "files": INT, "httpLink": STR, "ftpLink": nullable(STR), "globusLink": nullable(STR),
                "isPublic": BOOL, "relPath": STR, "hasZippedFolders": BOOL, "views": INT, "released": nullable(INT),
                "modified": nullable(INT), "sections": array(STR)}, ["columns", "files", "httpLink", "relPath"])
BST_FILES = obj({"recordsTotal": INT, "recordsFiltered": INT, "draw": INT,
                 "data": array(obj({"path": STR, "Name": STR, "Size": nullable(INT), "Section": nullable(STR), "type": {"enum": ["file", "directory"]}}))},
                ["recordsTotal", "recordsFiltered", "data"])
BST_FILE_LIST = array(obj({"path": STR, "size": nullable(INT), "type": {"enum": ["file", "directory"]},
                           "attributes": array(obj({"name": STR, "value": STR}, ["name", "value"]))}, ["path", "type", "attributes"]))


def component_schemas() -> dict:
    """Every component schema, the Record model's (and its parts') included."""
    record = Record.model_json_schema(ref_template=REF, mode="serialization")
    schemas = dict(record.pop("$defs"))
    schemas["Record"] = record
    link = schemas["Link"]
    schemas["OutboundLink"] = {**link, "properties": {**link["properties"], "record": {**nullable(_LINKED), "description": "the linked dataset, when we hold it"}},
                               "required": [*link.get("required", []), "record"]}
    unknown = set(HIT_FIELDS) - set(HIT_TYPES)
    assert not unknown, f"query.params.HIT_FIELDS gained {unknown}: describe them in HIT_TYPES"
    schemas.update(
        Error=ERROR, Hit=obj({k: HIT_TYPES[k] for k in HIT_FIELDS}), Bucket=BUCKET, TreeBucket=TREE_BUCKET, Facet=FACET,
        DidYouMean=DID_YOU_MEAN, SearchResult=SEARCH_RESULT, QueryNode=QUERY_NODE, SearchBody=SEARCH_BODY,
        FileRow=FILE_ROW, FileFacet=FILE_FACET, FileSearchResult=FILE_RESULT, Links=LINKS, Suggestion=SUGGESTION,
        Job=JOB, Status=STATUS, JsonLd=JSONLD, BioStudiesSearch=BST_SEARCH, BioStudiesInfo=BST_INFO,
        BioStudiesFiles=BST_FILES, BioStudiesFileList=BST_FILE_LIST,
    )
    assert FileRow.model_fields.keys() - {"accession"} == FILE_ROW["properties"].keys()
    return schemas
