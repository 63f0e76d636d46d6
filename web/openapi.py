"""GET /api/v1/openapi.json: the OpenAPI 3.1 document of every API route of the app.

Built in code from the declarations the parsers use (web.openapi_params, web.openapi_schemas):
facet names, numeric and has-filters, sort fields, hit fields, limits, the body keys of
POST /api/v1/search and the Record model, so it cannot drift from them. tests/web/
test_openapi.py validates it, checks it against the app's url_map both ways, and runs
Schemathesis against the live app with it.
"""

from __future__ import annotations

from functools import lru_cache

from flask import Blueprint, jsonify

from web import openapi_params as p
from web.api import JSONLD_PROFILES
from web.openapi_schemas import STR, array, component_schemas, envelope, obj, ref

openapi = Blueprint("openapi", __name__)
PATH = "/api/v1/openapi.json"
JSON, LD, XML, TEXT_XML = "application/json", "application/ld+json", "application/xml", "text/xml"
ERRORS = {"400": "a parameter, body key or query is invalid", "401": "no admin token sent",
          "403": "the admin token is wrong", "404": "no such resource",
          "503": "no index generation is live yet (or the operations side is not configured)"}


def content(schema: dict, media_type: str = JSON) -> dict:
    return {media_type: {"schema": schema}}


def ok(description: str, schema: dict, media_type: str = JSON, code: str = "200") -> dict:
    return {code: {"description": description, "content": content(schema, media_type)}}


def errors(*codes: int) -> dict:
    return {str(c): {"description": ERRORS[str(c)], "content": content(ref("Error"))} for c in codes}


def op(summary: str, tag: str, responses: dict, parameters: list | None = None, **extra) -> dict:
    out = {"summary": summary, "tags": [tag], "responses": responses, **extra}
    if parameters:
        out["parameters"] = parameters
    return out


_SEARCH_META = {"generation": STR, "warnings": {**array(STR), "description": "lenient mode: how the query was read"}}
_SEARCH_OK = ok("the page of hits, the exact total and multi-select facet counts", envelope(ref("SearchResult"), _SEARCH_META))
_DATASET_ERRORS = errors(404, 503)


def _paths() -> dict:
    xml = {"type": "string"}
    return {
        "/api/v1/search": {
            "get": op("Search datasets", "search", {**_SEARCH_OK, **errors(400, 503)}, p.search_params(),
                      description="The URL grammar: query language, facet.<name>[.or|.eq|.not], <field>.gt|gte|lt|lte, "
                                  "has.<x>, sorting, page or cursor paging. Unknown parameters are a 400."),
            "post": op("Search datasets with a JSON document", "search", {**_SEARCH_OK, **errors(400, 503)},
                       requestBody={"required": True, "content": content(ref("SearchBody"))}),
        },
        "/api/v1/suggest": {"get": op("Search-box completions", "search", {
            **ok("completions, best first", envelope(array(ref("Suggestion")), {"query": STR, "limit": {"type": "integer"}, "generation": STR})),
            **errors(400, 503)}, p.suggest_params(), description="Unknown parameters are a 400.")},
        "/api/v1/facets": {"get": op("Facet counts over the whole index", "search", {
            **ok("every facet's buckets", envelope(obj({"totalDatasets": {"type": "integer"}, "facets": array(ref("Facet"))},
                                                       ["totalDatasets", "facets"]), {"generation": STR})), **errors(503)})},
        "/api/v1/datasets/{accession}": {"get": op("One dataset's full record", "datasets", {
            "200": {"description": "the normalised record; JSON-LD when Accept prefers application/ld+json",
                    "content": {**content(envelope(ref("Record"), {"accession": STR})), **content(ref("JsonLd"), LD)}},
            **errors(400, 404, 503)}, [p.ACCESSION, _profile()])},
        "/api/v1/datasets/{accession}.jsonld": {"get": op("One dataset as JSON-LD", "datasets", {
            **ok("schema.org Dataset (or a GIDE RO-Crate with profile=gide)", ref("JsonLd"), LD), **errors(400, 404, 503)},
            [p.ACCESSION, _profile()])},
        "/api/v1/datasets/{accession}/ro-crate": {"get": op("One dataset's GIDE RO-Crate metadata", "datasets", {
            **ok("ro-crate-metadata.json", ref("JsonLd"), LD), **_DATASET_ERRORS}, [p.ACCESSION])},
        "/api/v1/datasets/{accession}/files": {"get": op("Search one dataset's files", "datasets", {
            **ok("the page of file rows, the exact total and multi-select facets",
                 envelope(ref("FileSearchResult"), {k: STR if k == "accession" else {"type": "integer"} for k in ("accession", "total", "page", "pageSize")})),
            **errors(400, 404, 503)}, [p.ACCESSION, *p.file_params()], description=p.FILE_PATTERNS[0]["description"] + ". Unknown parameters are a 400.",
            **{"x-parameter-patterns": p.FILE_PATTERNS})},
        "/api/v1/datasets/{accession}/links": {"get": op("Links to and from other datasets", "datasets", {
            **ok("outbound and inbound links", envelope(ref("Links"))), **_DATASET_ERRORS}, [p.ACCESSION])},
        "/api/v1/status": {"get": op("Operations status", "operations", {
            **ok("live generation, sources and their runs, builds, schedule", envelope(ref("Status"))), **errors(503)})},
        "/api/v1/admin/harvest/{source}": {"post": op("Start a harvest and index update", "operations", {
            **ok("the queued job", envelope(ref("Job"), {"status_url": STR}), code="202"), **errors(401, 403, 404)},
            [p.path("source", "a harvest source name", {"type": "string", "minLength": 1})], security=[{"adminToken": []}],
            description="404 for an unknown source, and for every admin endpoint when no admin token is configured.")},
        "/api/v1/admin/rebuild": {"post": op("Start a full rebuild", "operations", {
            **ok("the queued job", envelope(ref("Job"), {"status_url": STR}), code="202"), **errors(401, 403, 404)},
            security=[{"adminToken": []}])},
        "/api/v1/admin/jobs/{job_id}": {"get": op("An admin job's progress", "operations", {
            **ok("the job", envelope(ref("Job"))), **errors(401, 403, 404)},
            [p.path("job_id", "a job id from a 202 response", {"type": "string", "minLength": 1})], security=[{"adminToken": []}])},
        PATH: {"get": op("This OpenAPI document", "operations", ok("OpenAPI 3.1", {"type": "object"}))},
        "/healthz": {"get": op("Liveness and readiness", "operations", {
            **ok("a generation is live", envelope(obj({"status": {"const": "ok"}, "generation": STR, "documents": {"type": ["integer", "null"]}, "warm": {"type": "boolean"},
                                                       "process": {"type": "integer", "description": "pid of the server process that answered"}},
                                                      ["status", "generation", "documents", "warm", "process"]))), **errors(503)})},
        "/metrics": {"get": op("Prometheus metrics", "operations", ok("text exposition format", {"type": "string"}, "text/plain"))},
        "/oai": {
            "get": op("OAI-PMH 2.0", "partners", ok("an OAI-PMH response; protocol errors are <error> elements", xml, TEXT_XML), p.oai_params()),
            "post": op("OAI-PMH 2.0 (form)", "partners", ok("an OAI-PMH response; protocol errors are <error> elements", xml, TEXT_XML),
                       requestBody={"content": {"application/x-www-form-urlencoded": {"schema": obj(
                           {name: p.oai_schema(name) for name in p.OAI_NAMES})}}}),
        },
        "/sitemap.xml": {"get": op("Sitemap index", "partners", {**ok("the sitemap index", xml, XML), **errors(503)})},
        "/sitemaps/{chunk}.xml": {"get": op("One sitemap", "partners", {**ok("dataset page URLs", xml, XML), **errors(404)},
                                            [p.path("chunk", "sitemap number, from 1", {"type": "integer", "minimum": 0})])},
        "/dumps/": {"get": op("The latest bulk dump", "partners", {
            **ok("the manifest and a URL per file", envelope(obj({"manifest": {"type": "object"}, "files": array(obj(
                {"name": STR, "url": STR, "media_type": STR}, ["name", "url"]))}, ["manifest", "files"]))), **errors(404)})},
        "/dumps/{name}": {"get": op("One file of the dump", "partners", {
            "200": {"description": "the file", "content": {"application/gzip": {"schema": {"type": "string", "format": "binary"}},
                                                            JSON: {"schema": {"type": "object"}}}}, **errors(404)},
            [p.path("name", "a file the manifest names, or manifest.json", {"type": "string", "minLength": 1})])},
        **_biostudies_paths(),
    }


def _profile() -> dict:
    return p.query("profile", {"enum": list(JSONLD_PROFILES), "default": "schema.org"}, "JSON-LD profile (gide: the GIDE RO-Crate)")


def _biostudies_paths() -> dict:
    prefix = "/biostudies/api/v1"
    search = {**ok("BioStudies' search response", ref("BioStudiesSearch")), **errors(400, 404, 503)}
    note = {"description": "Our search grammar; " + p.BIOSTUDIES_PATTERNS[0]["description"],
            "x-parameter-patterns": p.BIOSTUDIES_PATTERNS}
    return {
        f"{prefix}/search": {"get": op("BioStudies: search every collection", "biostudies", search, p.biostudies_search_params(), **note)},
        f"{prefix}/{{collection}}/search": {"get": op("BioStudies: search one collection", "biostudies", search,
                                                     [p.COLLECTION, *p.biostudies_search_params()], **note)},
        f"{prefix}/studies/{{accession}}": {"get": op("BioStudies: a study as PageTab JSON", "biostudies", {
            **ok("PageTab JSON", {"type": "object"}), **_DATASET_ERRORS}, [p.ACCESSION])},
        f"{prefix}/studies/{{accession}}/info": {"get": op("BioStudies: study info", "biostudies", {
            **ok("file count, links, times (epoch ms)", ref("BioStudiesInfo")), **_DATASET_ERRORS}, [p.ACCESSION])},
        f"{prefix}/files/{{accession}}": {"get": op("BioStudies: a page of a study's files", "biostudies", {
            **ok("DataTables shape", ref("BioStudiesFiles")), **errors(400, 404, 503)}, [p.ACCESSION, *p.biostudies_files_params()])},
        "/biostudies/files/{accession}/Files/{name}": {"get": op("BioStudies: a file list a study names", "biostudies", {
            **ok("PageTab JSON file list", ref("BioStudiesFileList")), **_DATASET_ERRORS},
            [p.ACCESSION, p.path("name", "the file list's name (may contain /)", {"type": "string", "minLength": 1})])},
    }


@lru_cache(maxsize=1)
def document() -> dict:
    """The OpenAPI document (built once per process)."""
    paths = _paths()
    for template, item in paths.items():
        for method, operation in item.items():
            operation["operationId"] = f"{method}:{template}"
    return {
        "openapi": "3.1.0",
        "info": {"title": "bioimage-search", "version": "1", "license": {"name": "Apache-2.0", "identifier": "Apache-2.0"},
                 "description": "Search over public microscopy datasets (BIA, EMPIAR, IDR, JCB). JSON responses are "
                                "{data, meta}; every JSON error is {error: {status, code, message, param, position}}."},
        "paths": paths,
        "components": {"schemas": component_schemas(),
                       "securitySchemes": {"adminToken": {"type": "http", "scheme": "bearer",
                                                          "description": "the [admin] token of config.toml"}}},
    }


@openapi.get(PATH)
def openapi_json():
    """The OpenAPI document."""
    return jsonify(document())
