"""Cross-resource links of a dataset, both ways: what it cites (resolved to the records we
hold) and which of our records cite it."""

from __future__ import annotations

import orjson
from whoosh.query import Term

RESOLVABLE = {"empiar", "idr", "biostudies", "emdb"}


def _summary(doc) -> dict:
    summary = orjson.loads(doc["summary"])
    return {"accession": summary["accession"], "title": summary["title"], "source": summary["source"]}


def _find(searcher, link) -> dict | None:
    if link.type in RESOLVABLE:
        for candidate in {link.value, link.value.upper(), link.value.lower()}:
            doc = searcher.document(accession=candidate)
            if doc:
                return _summary(doc)
    if link.type == "doi":
        doc = searcher.document(dataset_doi=link.value.lower())
        if doc:
            return _summary(doc)
    return None


def outbound(searcher, record) -> list[dict]:
    """The record's links, each with the linked dataset when we hold it."""
    out = []
    for link in record.links:
        item = link.model_dump()
        item["record"] = _find(searcher, link)
        out.append(item)
    return out


def inbound(searcher, record, limit: int = 1000) -> list[dict]:
    """Our datasets whose links name this record's accession or dataset DOI."""
    keys = [record.accession.lower()] + ([record.doi.lower()] if record.doi else [])
    found: dict[str, dict] = {}
    for key in keys:
        for hit in searcher.search(Term("identifiers", key), limit=limit):
            if hit["accession"] != record.accession and hit["accession"] not in found:
                found[hit["accession"]] = {**_summary(hit), "via": key}
    return sorted(found.values(), key=lambda item: item["accession"])
