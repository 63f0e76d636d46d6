"""The OpenAPI document at /api/v1/openapi.json: a valid OpenAPI 3.1 document, naming every
API route of the app and nothing else, and true to the app: Schemathesis generates
requests for every operation (bounded) and checks that none is a 5xx, that every JSON error
has the one error shape and that responses match the documented schemas."""

from __future__ import annotations

import copy
import re

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from openapi_spec_validator import validate
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import content_type_conformance, response_schema_conformance, status_code_conformance

from bioimage_search.ops import Ops
from indexer.schema import FACETS
from query import files
from query.params import HAS_FIELDS, KNOWN_PARAMS, NUMERIC_FIELDS, NUMERIC_OPS
from web import create_app
from web.openapi import document
from web.suggest_api import KNOWN_PARAMS as SUGGEST_PARAMS

SPEC = "/api/v1/openapi.json"
TOKEN = "openapi-test-admin-token"
NOT_API = re.compile(r"^(static|portal\.)")  # the portal's HTML pages and assets
CONVERTER = re.compile(r"<(?:[a-z]+(?:\([^)]*\))?:)?([a-z_]+)>")


@pytest.fixture(scope="module")
def spec(app) -> dict:
    response = app.test_client().get(SPEC)
    assert response.status_code == 200 and response.mimetype == "application/json"
    return response.get_json()


def test_the_document_is_valid_openapi(spec):
    validate(spec)
    assert spec["openapi"].startswith("3.1")


def api_routes(app) -> set[tuple[str, str]]:
    """(OpenAPI path template, method) of every API route: ``<int:chunk>`` becomes ``{chunk}``."""
    return {
        (CONVERTER.sub(r"{\1}", rule.rule), method.lower())
        for rule in app.url_map.iter_rules() if not NOT_API.match(rule.endpoint)
        for method in rule.methods - {"HEAD", "OPTIONS"}
    }


def test_every_api_route_is_documented_and_every_documented_path_is_a_route(app, spec):
    documented = {(path, method) for path, item in spec["paths"].items() for method in item}
    routes = api_routes(app)
    assert routes - documented == set(), "routes missing from the OpenAPI document"
    assert documented - routes == set(), "documented operations the app does not have"
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            in_path = {p["name"] for p in operation.get("parameters", []) if p["in"] == "path"}
            assert in_path == set(re.findall(r"{(\w+)}", path)), (method, path)
            assert operation["responses"], (method, path)


def test_an_undocumented_method_is_a_405_saying_what_is_allowed(app, spec):
    client = app.test_client()
    for path, item in spec["paths"].items():
        url = re.sub(r"{(\w+)}", lambda m: str(KNOWN.get(m.group(1), "x")), path)
        for method in {"get", "post", "put", "delete", "patch"} - set(item):
            response = client.open(url, method=method.upper())
            assert response.status_code == 405, (method, path)
            assert set(response.get_json()["error"]) == {"status", "code", "message", "param", "position"}
            assert {m.strip().lower() for m in response.headers["Allow"].split(",")} >= set(item), (method, path)


def query_params(spec: dict, path: str, method: str = "get") -> set[str]:
    return {p["name"] for p in spec["paths"][path][method].get("parameters", []) if p["in"] == "query"}


def test_every_parameter_the_parsers_accept_is_documented(spec):
    search = query_params(spec, "/api/v1/search")
    assert KNOWN_PARAMS <= search
    for facet in FACETS:
        assert {f"facet.{facet.name}{mode}" for mode in ("", ".or", ".eq", ".not")} <= search
    assert {f"{name}.{op}" for name in NUMERIC_FIELDS for op in NUMERIC_OPS} <= search
    assert {f"has.{name}" for name in HAS_FIELDS} <= search
    assert search - {"fields"} == query_params(spec, "/biostudies/api/v1/search")
    assert set(files.PARAMS) - {"attr.<name>"} <= query_params(spec, "/api/v1/datasets/{accession}/files")
    assert any(p["pattern"].startswith("^attr") for p in spec["paths"]["/api/v1/datasets/{accession}/files"]["get"]["x-parameter-patterns"])
    assert query_params(spec, "/api/v1/suggest") == SUGGEST_PARAMS
    body = spec["components"]["schemas"]["SearchBody"]
    assert body["additionalProperties"] is False and {"query", "filters", "ranges", "has", "sort"} <= set(body["properties"])


def test_every_json_error_is_documented_with_the_one_error_shape(spec):
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            for code, response in operation["responses"].items():
                if code.startswith(("4", "5")):
                    assert response["content"] == {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}, (method, path, code)


@pytest.mark.parametrize(("url", "status"), [
    # Found by Schemathesis (each was a 500): a control character echoed into the OAI-PMH XML,
    ("/oai?verb=ListRecords&bad%01name=x", 200),
    ("/oai?verb=GetRecord&metadataPrefix=oai_dc&identifier=%00", 200),
    # a release-year range outside the years a date can hold,
    ("/api/v1/search?release_year.lt=1.0", 200),
    ("/api/v1/search?release_year.gt=9999", 200),
    ("/biostudies/api/v1/idr/search?release_year.lt=1", 200),
    # fields= on the BioStudies search (its hits need the whole summary).
    ("/biostudies/api/v1/search?fields=title_html", 400),
])
def test_requests_that_once_were_server_errors(client, url, status):
    response = client.get(url)
    assert response.status_code == status, response.get_data(as_text=True)[:300]
    if url.startswith("/oai"):
        assert b'<error code="badArgument">' in response.data
    elif status == 200:
        body = response.get_json()
        assert body.get("data", body)["totalHits"] == 0  # BioStudies' responses have no envelope


# -- Schemathesis against the live app -------------------------------------------------------------


@pytest.fixture(scope="module")
def ops_app(app, sample_settings):
    """The session's app (same settings, same search service) with the operations side
    attached and an admin token, so /api/v1/status and the admin routes run their real code."""
    settings = copy.deepcopy(sample_settings)
    settings.admin.token = TOKEN
    ops_app = create_app(settings, app.extensions["search_service"])
    ops_app.extensions["ops"] = Ops(settings)
    ops_app.config["TESTING"] = True
    return ops_app


@pytest.fixture(scope="module")
def live_schema(ops_app):
    return schemathesis.openapi.from_wsgi(SPEC, ops_app)


# Every documented operation but the admin POSTs (they start harvests and rebuilds) and the
# dump downloads, listed from the document itself so that a new route is fuzzed without a
# change here: with valid data, with invalid data where it takes any input, and with a
# dataset of the sample store where it names one (random accessions are all 404s).
KNOWN = {"accession": "S-BIAD1492", "chunk": 1}
POSITIVE, NEGATIVE, KNOWN_DATASET = "positive", "negative", "known"
CASES = [
    (mode, method.upper(), path) for path, item in document()["paths"].items() for method, operation in item.items()
    if not (method == "post" and path.startswith("/api/v1/admin/")) and not path.startswith("/dumps/{")
    for mode in (POSITIVE, NEGATIVE, KNOWN_DATASET)
    if mode == POSITIVE or (mode == NEGATIVE and (operation.get("parameters") or operation.get("requestBody")))
    or (mode == KNOWN_DATASET and set(KNOWN) & set(re.findall(r"{(\w+)}", path)))
]
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
MAX_EXAMPLES = 25  # per operation and generation mode


def assert_error_shape(case, response) -> None:
    """Every 4xx is the one JSON error shape (OAI-PMH answers its errors inside a 200)."""
    if 400 <= response.status_code < 500:
        assert case.path != "/oai", "OAI-PMH answers protocol errors inside a 200"
        assert response.headers.get("content-type", [""])[0].startswith("application/json"), response.text[:200]
        body = response.json()
        assert set(body) == {"error"}, body
        error = body["error"]
        assert set(error) == {"status", "code", "message", "param", "position"}, body
        assert error["status"] == response.status_code and error["code"] and error["message"], body


@pytest.mark.parametrize(("mode", "method", "path"), CASES, ids=[" ".join(case) for case in CASES])
def test_the_app_keeps_the_contract(live_schema, mode, method, path):
    operation = live_schema[path][method]
    headers = {"Authorization": f"Bearer {TOKEN}"} if path.startswith("/api/v1/admin/") else None
    known = {k: v for k, v in KNOWN.items() if "{%s}" % k in path} if mode == KNOWN_DATASET else None
    generation = GenerationMode.NEGATIVE if mode == NEGATIVE else GenerationMode.POSITIVE

    @given(case=operation.as_strategy(generation_mode=generation, path_parameters=known))
    @settings(max_examples=MAX_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True, database=None)
    def run(case):
        response = case.call(headers=headers)
        case.validate_response(response, checks=CHECKS, headers=headers)
        assert_error_shape(case, response)

    run()
