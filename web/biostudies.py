"""BioStudies-compatible API under /biostudies/api/v1 (see :mod:`query.biostudies`):
``search`` and ``{collection}/search``, ``studies/<acc>`` (PageTab JSON), ``studies/<acc>/info``
and ``files/<acc>`` (DataTables). File lists named by a study are served under its
``httpLink`` as ``/biostudies/files/<acc>/Files/<name>``, rebuilt from the stored file rows.
Errors use the one JSON error shape; unknown accessions and collections are 404s.
"""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, request, stream_with_context
from werkzeug.datastructures import MultiDict

from query import biostudies as bst
from query.pagetab_out import file_list_json
from web.api import service
from web.errors import ApiError
from web.partners import catalogue, site

biostudies = Blueprint("biostudies", __name__)
PREFIX = "/biostudies/api/v1"
JSON = "application/json"


@biostudies.get(f"{PREFIX}/search")
def search_all():
    """Search every collection (BioImages)."""
    return _search(None)


@biostudies.get(f"{PREFIX}/<collection>/search")
def search_collection(collection: str):
    """Search one collection: BioImages (all), EMPIAR, IDR, JCB, BIA."""
    return _search(collection)


def _search(collection: str | None):
    try:
        source = bst.collection_source(collection)
    except bst.UnknownCollection:
        raise ApiError(404, "not_found", f"no collection {collection!r}; collections are BioImages, BIA, EMPIAR, IDR, JCB") from None
    req = bst.search_request(request.args.to_dict(flat=False), source)
    result = service().search(req)
    store = catalogue().store()
    records = {hit["accession"]: store.get(hit["accession"]) for hit in result["hits"]}
    return service_json(bst.search_response(result, {k: v for k, v in records.items() if v}))


def service_json(body: dict):
    """A bare JSON body (BioStudies' responses have no envelope)."""
    return jsonify(body)


@biostudies.get(f"{PREFIX}/studies/<accession>")
def study(accession: str):
    """The study as PageTab JSON."""
    record = service().dataset(accession)
    return Response(bst.study_json(catalogue().store(), record), content_type=JSON)


@biostudies.get(f"{PREFIX}/studies/<accession>/info")
def study_info(accession: str):
    """File count, links, release and modification times (epoch ms) of a study."""
    record = service().dataset(accession)
    store = catalogue().store()
    row = store.change_row(record.accession)
    files_url = site().url(f"/biostudies/files/{record.accession}")
    return service_json(bst.info(record, row.changed_at if row else None, files_url, bst.attribute_columns(store, record.accession)))


@biostudies.get(f"{PREFIX}/files/<accession>")
def study_files(accession: str):
    """A page of the study's files: ``start``, ``length`` (at most 1000), ``draw`` echoed."""
    record = service().dataset(accession)
    args = request.args
    start = _int(args, "start", 0, 0, 10**12)
    length = min(_int(args, "length", 100, 1, 10**9), bst.MAX_FILES_PAGE)
    draw = _int(args, "draw", None, 0, 10**9)
    return service_json(bst.files_page(catalogue().store(), record, start, length, draw))


@biostudies.get("/biostudies/files/<accession>/Files/<path:name>")
def file_list(accession: str, name: str):
    """A file list the study names, as PageTab JSON rebuilt from the stored file rows."""
    record = service().dataset(accession)
    component = bst.file_list_component(record, name)
    if component is None:
        raise ApiError(404, "not_found", f"{record.accession} has no file list {name!r}")
    store = catalogue().store()
    rows = (row for row in store.iter_files(record.accession) if row.component == component)
    return Response(stream_with_context(file_list_json(rows)), content_type=JSON)


def _int(args: MultiDict, name: str, default, low: int, high: int):
    raw = args.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ApiError(400, "invalid_parameter", f"expected a whole number, got {raw!r}", name) from None
    if not low <= value <= high:
        raise ApiError(400, "invalid_parameter", f"must be between {low} and {high}, got {value}", name)
    return value
