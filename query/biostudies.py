"""BioStudies API compatibility: clients written for the archive's ``/api/v1`` work against
ours unchanged. Search arguments are translated to our grammar and results to BioStudies'
JSON shape; studies come back as PageTab JSON, ``/info`` and the DataTables file listing in
their shapes. Deliberate differences: totals are exact (``isTotalHitsExact`` is always
true), terms are AND-ed by default, unknown parameters, facets and collections are errors
rather than empty results.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone

import orjson

from harvesters.pagetab import PageTabError, parse_submission
from harvesters.records import Record
from harvesters.store import RecordStore
from query.pagetab_out import record_pagetab, submission_json
from query.params import ParamError, SearchRequest, parse_search_params

COLLECTIONS: dict[str, str | None] = {"bioimages": None, "bia": "bia", "empiar": "empiar", "idr": "idr", "jcb": "jcb"}
SORTS = {"release_date": "release_date", "relevance": "relevance", "title": "title", "accession": "accession", "files": "file_count", "file_count": "file_count", "size": "size"}
MAX_FILES_PAGE = 1000
_TAGS = re.compile(r"<[^>]+>")


class UnknownCollection(LookupError):
    """A collection name that is not ours."""


def collection_source(name: str | None) -> str | None:
    """The source a collection name restricts to (None: all); UnknownCollection otherwise."""
    if name is None:
        return None
    key = name.lower()
    if key not in COLLECTIONS:
        raise UnknownCollection(name)
    return COLLECTIONS[key]


def search_request(args: Mapping[str, Sequence[str]], source: str | None) -> SearchRequest:
    """BioStudies search arguments as our SearchRequest (ParamError names a bad one)."""
    translated: dict[str, list[str]] = {}
    if "fields" in args:  # hits here have BioStudies' fixed shape, built from the whole summary
        raise ParamError("fields", "not supported by the BioStudies API (its hits have a fixed shape)")
    for name, values in args.items():
        head, _, rest = name.partition(".")
        if head == "facet" and rest.partition(".")[0].lower() in COLLECTIONS and "." in rest:
            name = "facet." + rest.partition(".")[2]  # facet.bioimages.organism → facet.organism
        if name == "sortBy":
            values = [_sort(v) for v in values]
        translated.setdefault(name, []).extend(values)
    if source:  # AND-ed with any facet.source the client sends: a collection never widens
        translated.setdefault("facet.source.eq", []).append(source)
    return parse_search_params(translated, strict=True)


def _sort(value: str) -> str:
    key = value.strip()
    if key not in SORTS:
        raise ParamError("sortBy", f"cannot sort by {key!r} here; use {', '.join(sorted(SORTS))}")
    return SORTS[key]


def search_response(result: dict, records: dict[str, Record]) -> dict:
    """Our search result in BioStudies' search response shape."""
    return {
        "page": result["page"],
        "pageSize": result["pageSize"],
        "totalHits": result["totalHits"],
        "isTotalHitsExact": True,
        "sortBy": result["sortBy"],
        "sortOrder": result["sortOrder"],
        "suggestion": [],
        "expandedEfoTerms": [],
        "expandedSynonyms": [],
        "query": result["query"] or None,
        "facets": [_facet(f) for f in result["facets"]],
        "hits": [_hit(hit, records.get(hit["accession"])) for hit in result["hits"]],
        "nextCursor": result.get("next"),
        "tooManyExpansionTerms": False,
    }


def _hit(hit: dict, record: Record | None) -> dict:
    authors = [a.name for a in record.authors] if record else hit.get("authors") or []
    return {
        "accession": hit["accession"],
        "type": "study",
        "title": hit["title"],
        "author": ", ".join(authors),
        "links": len(record.links) if record else 0,
        "files": hit.get("file_count") or 0,
        "release_date": hit.get("release_date"),
        "views": 0,
        "isPublic": True,
        "content": html.unescape(_TAGS.sub("", hit.get("snippet") or "")),
    }


def _facet(facet: dict) -> dict:
    return {
        "title": facet["title"],
        "name": f"facet.{facet['name']}",
        "type": "facet",
        "children": [{"name": b["label"], "value": b["key"], "hits": b["count"]} for b in facet["buckets"]],
    }


def study_json(store: RecordStore, record: Record) -> bytes:
    """The study as PageTab JSON: the stored payload for PageTab JSON records, PageTab XML and
    TSV converted to JSON, and a PageTab rendering of the Record for other sources."""
    raw = store.raw(record.accession)
    if raw is not None and raw[1] in ("json", "xml", "tsv") and record.source in ("bia", "jcb"):
        payload, fmt = raw
        if fmt == "json":
            return payload
        try:
            return orjson.dumps(submission_json(parse_submission(payload, fmt)))
        except PageTabError:
            pass
    return orjson.dumps(record_pagetab(record))


def epoch_ms(value: str | None) -> int | None:
    """An ISO date or RFC 3339 time as epoch milliseconds (BioStudies' released/modified)."""
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return int(moment.timestamp() * 1000)


def rel_path(accession: str) -> str:
    """BioStudies' storage path: prefix, the last three digits, accession (S-BIAD/492/S-BIAD1492)."""
    match = re.match(r"^(.*?)(\d+)$", accession)
    if not match:
        return f"{accession}/{accession}"
    prefix, digits = match.groups()
    return f"{prefix}/{digits[-3:].zfill(3)}/{accession}"


def info(record: Record, changed_at: str | None, files_url: str, columns: list[str]) -> dict:
    """The ``/studies/<acc>/info`` document."""
    return {
        "columns": [_column(c) for c in ["Name", "Size", "Section", *columns]],
        "files": record.file_count,
        "httpLink": files_url,
        "ftpLink": None,
        "globusLink": None,
        "isPublic": True,
        "relPath": rel_path(record.accession),
        "hasZippedFolders": False,
        "views": 0,
        "released": epoch_ms(record.release_date),
        "modified": epoch_ms(changed_at) or epoch_ms(record.modified),
        "sections": [c.name for c in record.study_components if c.name],
    }


def _column(name: str) -> dict:
    return {"name": name, "title": name, "visible": True, "searchable": name != "Size", "data": _data_key(name), "defaultContent": ""}


def _data_key(name: str) -> str:
    return name.replace(" ", "_")


def attribute_columns(store: RecordStore, accession: str, scan: int = 10_000) -> list[str]:
    """File attribute names of a dataset (from its first ``scan`` files), in first-seen order."""
    names: dict[str, None] = {}
    for index, row in enumerate(store.iter_files(accession)):
        if index >= scan:
            break
        names.update(dict.fromkeys(row.attributes))
    return [n for n in names if n not in ("Name", "Size", "Section")]


def files_page(store: RecordStore, record: Record, start: int, length: int, draw: int | None) -> dict:
    """A page of the file listing in the DataTables shape."""
    rows = []
    for index, row in enumerate(store.iter_files(record.accession)):
        if index >= start + length:
            break
        if index >= start:
            item = {"path": row.path, "Name": row.path.rsplit("/", 1)[-1], "Size": row.size, "Section": row.component, "type": "directory" if row.format == "Directory" else "file"}
            item.update({_data_key(k): v for k, v in row.attributes.items()})
            rows.append(item)
    body = {"recordsTotal": record.file_count, "recordsFiltered": record.file_count, "data": rows}
    if draw is not None:
        body["draw"] = draw
    return body


def file_list_component(record: Record, name: str) -> str | None:
    """The study component whose file list is called ``name`` (None if there is none)."""
    for component in record.study_components:
        if component.file_list == name:
            return component.name
    return None
