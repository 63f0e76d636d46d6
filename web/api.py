"""The JSON API under /api/v1: search, datasets, facets; plus /healthz.

Successful responses are ``{"data": …, "meta": {…}}``; errors use the shape of
:mod:`web.errors`.
"""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify, request

from query.body import parse_search_body
from query.params import parse_search_params
from query.service import SearchService
from web.errors import ApiError

api = Blueprint("api", __name__)
MAX_FILE_PAGE = 1000


def service() -> SearchService:
    """The app's search service."""
    return current_app.extensions["search_service"]


def envelope(data, **meta):
    """The success envelope."""
    return jsonify({"data": data, "meta": meta})


@api.get("/api/v1/search")
def search():
    """Full-text search with facet filters, sorting and paging."""
    req = parse_search_params(request.args.to_dict(flat=False), strict=True)
    result = service().search(req)
    warnings = result.pop("warnings")
    return envelope(result, generation=result.pop("generation"), warnings=warnings)


@api.post("/api/v1/search")
def search_json():
    """The same search as a JSON document (see query.body), for programs."""
    body = request.get_json(silent=True)
    if body is None:
        raise ApiError(400, "invalid_body", "expected a JSON object (Content-Type: application/json)", "body")
    result = service().search(parse_search_body(body))
    warnings = result.pop("warnings")
    return envelope(result, generation=result.pop("generation"), warnings=warnings)


@api.get("/api/v1/datasets/<accession>")
def dataset(accession: str):
    """The full normalised record of one dataset."""
    record = service().dataset(accession)
    return envelope(record.model_dump(mode="json"), accession=record.accession)


@api.get("/api/v1/datasets/<accession>/files")
def dataset_files(accession: str):
    """A page of a dataset's files (``offset``, ``limit``)."""
    record = service().dataset(accession)
    offset = _int_arg("offset", 0, 0, 10**9)
    limit = _int_arg("limit", 100, 1, MAX_FILE_PAGE)
    rows = service().files(record.accession, limit=limit, offset=offset)
    return envelope(rows, accession=record.accession, total=record.file_count, offset=offset, limit=limit)


@api.get("/api/v1/datasets/<accession>/links")
def dataset_links(accession: str):
    """Links to and from other datasets, with the linked record's title and source."""
    return envelope(service().links(accession))


@api.get("/api/v1/facets")
def facets():
    """Every facet's values with counts over the whole index."""
    return envelope(service().facets(), generation=service().generation().name)


@api.get("/healthz")
def healthz():
    """Liveness and readiness: 200 with the live generation, 503 without an index."""
    generation = service().generation()
    return envelope({"status": "ok", "generation": generation.name, "documents": generation.meta.get("doc_count")})


def _int_arg(name: str, default: int, low: int, high: int) -> int:
    raw = request.args.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ApiError(400, "invalid_parameter", f"expected a whole number, got {raw!r}", name) from None
    if not low <= value <= high:
        raise ApiError(400, "invalid_parameter", f"must be between {low} and {high}, got {value}", name)
    return value
