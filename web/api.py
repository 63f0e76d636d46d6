"""The JSON API under /api/v1: search, datasets, facets; plus /healthz.

Successful responses are ``{"data": …, "meta": {…}}``; errors use the shape of
:mod:`web.errors`.
"""

from __future__ import annotations

import os

from flask import Blueprint, current_app, jsonify, request

from query.body import parse_search_body
from query.params import parse_search_params
from query.service import SearchService
from query import jsonld, rocrate
from web.errors import ApiError
from web.partners import site as public_site

api = Blueprint("api", __name__)


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
    """The full normalised record of one dataset; schema.org JSON-LD instead when the client
    prefers ``Accept: application/ld+json`` (``profile=gide``: the GIDE RO-Crate)."""
    record = service().dataset(accession)
    if _prefers_jsonld():
        return _jsonld(record)
    response = envelope(record.model_dump(mode="json"), accession=record.accession)
    response.vary.add("Accept")
    return response


@api.get("/api/v1/datasets/<accession>.jsonld")
def dataset_jsonld(accession: str):
    """The dataset as schema.org/Bioschemas JSON-LD (``profile=gide``: the GIDE RO-Crate)."""
    return _jsonld(service().dataset(accession))


@api.get("/api/v1/datasets/<accession>/ro-crate")
def dataset_ro_crate(accession: str):
    """The dataset's GIDE-profile RO-Crate metadata (ro-crate-metadata.json)."""
    return _jsonld(service().dataset(accession), "gide")


JSONLD_PROFILES = {"schema.org": jsonld.dataset, "bioschemas": jsonld.dataset, "gide": rocrate.gide_crate}


def _prefers_jsonld() -> bool:
    accept = request.accept_mimetypes
    return accept.best_match(["application/json", jsonld.MEDIA_TYPE]) == jsonld.MEDIA_TYPE and accept[jsonld.MEDIA_TYPE] > accept["application/json"]


def _jsonld(record, profile: str | None = None):
    profile = profile or request.args.get("profile", "schema.org")
    if profile not in JSONLD_PROFILES:
        raise ApiError(400, "invalid_parameter", f"unknown profile {profile!r}; use {', '.join(JSONLD_PROFILES)}", "profile")
    body = current_app.json.dumps(JSONLD_PROFILES[profile](record, public_site()))
    response = current_app.response_class(body, mimetype=jsonld.MEDIA_TYPE)
    response.vary.add("Accept")
    return response


@api.get("/api/v1/datasets/<accession>/files")
def dataset_files(accession: str):
    """Search one dataset's files: ``query``, ``format``, ``component``, ``attr.<name>``,
    ``size.gte``/``size.lte``, ``sortBy``/``sortOrder``, ``page``/``pageSize`` (``offset``/``limit``
    as aliases); the page of rows, the exact total and multi-select facets."""
    result = service().search_files(accession, request.args.to_dict(flat=False))
    return envelope(result, accession=result["accession"], total=result["totalHits"],
                    page=result["page"], pageSize=result["pageSize"])


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
    """Liveness and readiness: 200 with the live generation, 503 without an index. ``warm``
    says whether the generation's background warm-up has finished (searches are slower
    until then)."""
    generation = service().generation()
    return envelope({"status": "ok", "generation": generation.name, "documents": generation.meta.get("doc_count"),
                     "warm": service().is_warm(), "process": os.getpid()})
