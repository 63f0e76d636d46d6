"""Record → Whoosh document: full-text fields, facet keys (with labels), sort columns, and a
compact stored summary so a result page never has to read the record store.

Everything here reads a record in its JSON form (``Record.to_json``, parsed): a full build
parses each stored record with ``orjson`` and indexes the dict, without validating it into
a ``Record`` again (validation was 60% of loading and indexing a record's fields; the
store only holds validated records). A ``Record`` passed in is dumped to that form first.
"""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache

import orjson

from harvesters.records import Record
from harvesters.vocab.fbbi import fbbi
from harvesters.vocab.taxonomy import taxon

RecordData = dict  # a record's JSON form: Record.model_dump(mode="json")


Labels = dict[str, dict[str, str]]  # facet name -> key -> label
SOURCE_LABELS = {"bia": "BioImage Archive", "empiar": "EMPIAR", "idr": "IDR", "jcb": "JCB DataViewer"}


def record_data(record: Record | RecordData) -> RecordData:
    """A record in the JSON form this module reads."""
    return record if isinstance(record, dict) else record.model_dump(mode="json")


def facet_key(text: str) -> str:
    """A facet key for a value with no ontology id: folded case, no commas (the separator)."""
    return " ".join(text.replace(",", " ").split()).lower()


def _items(data: RecordData, name: str) -> list:
    return data.get(name) or []


def organism_keys(record: Record | RecordData) -> dict[str, str]:
    """Organism facet keys (NCBITaxon CURIE, else folded name) with their labels."""
    return {(o.get("taxon_id") or facet_key(o["name"])): o["name"] for o in _items(record_data(record), "organisms")}


def method_keys(record: Record | RecordData) -> dict[str, str]:
    """Imaging-method facet keys (FBbi CURIE, else folded name) with their labels."""
    return {(m.get("fbbi_id") or facet_key(m["name"])): m["name"] for m in _items(record_data(record), "imaging_methods")}


def facet_values(record: Record | RecordData) -> dict[str, dict[str, str]]:
    """Every facet's keys for this record, each with its display label."""
    data = record_data(record)
    released = data.get("release_date")
    year = released[:4] if released else None
    source, license = data["source"], data.get("license")
    return {
        "source": {source: SOURCE_LABELS.get(source, source)},
        "organism": organism_keys(data),
        "imaging_method": method_keys(data),
        "study_type": {facet_key(t): t for t in _items(data, "study_type")},
        "license": {license["name"]: license["name"]} if license else {},
        "release_year": {year: year} if year else {},
        "file_format": {f: f for f in _items(data, "file_formats")},
    }


def merge_labels(labels: Labels, more: Labels) -> None:
    """Add the facet keys and labels of ``more`` to ``labels`` (a generation's label map)."""
    for facet, values in more.items():
        labels.setdefault(facet, {}).update(values)


def _join(keys) -> str:
    return ",".join(sorted(k.replace(",", " ") for k in keys))


@lru_cache(maxsize=4096)
def _method_tree(keys: frozenset[str]) -> frozenset[str]:
    """The keys and all their FBbi ancestors (remembered: records share their methods)."""
    tree = set(keys)
    for key in keys:
        if key.startswith("FBbi:"):
            tree |= fbbi().ancestors(key)
    return frozenset(tree)


def _organism_text(data: RecordData) -> str:
    words = []
    for org in _items(data, "organisms"):
        words += [org["name"], org.get("common_name") or ""]
        known = taxon(org["taxon_id"]) if org.get("taxon_id") else None
        if known:
            words += [*known.common_names, *known.synonyms]
    return " ; ".join(w for w in words if w)


def _method_text(data: RecordData) -> str:
    words = []
    for method in _items(data, "imaging_methods"):
        words.append(method["name"])
        term = fbbi().term(method["fbbi_id"]) if method.get("fbbi_id") else None
        if term:
            words += list(term.synonyms)
    return " ; ".join(words)


def _identifiers(data: RecordData) -> set[str]:
    ids = {data["accession"].lower()}
    if data.get("doi"):
        ids.add(data["doi"].lower())
    ids |= {link["value"].lower() for link in _items(data, "links") if link["type"] != "url"}
    for pub in _items(data, "publications"):
        ids |= {v.lower() for v in (pub.get("doi"), pub.get("pubmed_id"), pub.get("pmc_id")) if v}
    ids |= {a["orcid"].lower() for a in _items(data, "authors") if a.get("orcid")}
    return ids


def _content(data: RecordData) -> str:
    parts: list[str | None] = [data["accession"], *_items(data, "funding"), *_items(data, "study_type")]
    parts += [o["name"] for o in _items(data, "organisations")]
    for b in _items(data, "biosamples"):
        parts += [b.get("title"), b.get("description"), b.get("biological_entity"), *_items(b, "intrinsic_variables"),
                  *_items(b, "extrinsic_variables"), *_items(b, "experimental_variables")]
    for s in _items(data, "specimens"):
        parts += [s.get("title"), s.get("preparation_protocol"), s.get("growth_protocol")]
    for a in _items(data, "image_acquisitions"):
        parts += [a.get("title"), a.get("instrument"), a.get("parameters")]
    for c in _items(data, "study_components"):
        parts += [c.get("name"), c.get("description"), *(c.get("attributes") or {}).values()]
    parts += [link.get("description") for link in _items(data, "links")]
    parts += _items(data, "file_formats")
    return "\n".join(p for p in parts if p)


def _without_none(item: dict | None) -> dict | None:
    return None if item is None else {k: v for k, v in item.items() if v is not None}


def summary(record: Record | RecordData) -> dict:
    """The fields a result list shows, stored in the index."""
    data = record_data(record)
    authors = _items(data, "authors")
    return {
        "accession": data["accession"],
        "source": data["source"],
        "title": data["title"],
        "release_date": data.get("release_date"),
        "doi": data.get("doi"),
        "organisms": [_without_none(o) for o in _items(data, "organisms")],
        "imaging_methods": [_without_none(m) for m in _items(data, "imaging_methods")],
        "study_type": _items(data, "study_type"),
        "license": _without_none(data.get("license")),
        "authors": [a["name"] for a in authors[:10]],
        "author_count": len(authors),
        "file_count": data.get("file_count", 0),
        "total_size_bytes": data.get("total_size_bytes", 0),
        "file_formats": _items(data, "file_formats")[:10],
        "keywords": _items(data, "keywords"),
    }


def to_document(record: Record | RecordData) -> dict:
    """The Whoosh document for a record."""
    data = record_data(record)
    facets = facet_values(data)
    doc = {f"f_{name}": _join(values) for name, values in facets.items()}
    doc["f_imaging_method_tree"] = _join(_method_tree(frozenset(facets["imaging_method"])))
    doc["f_organism_tree"] = _join(facets["organism"])
    doi, publications = data.get("doi"), _items(data, "publications")
    doc.update(
        accession=data["accession"],
        identifiers=_join(_identifiers(data)),
        title=data["title"],
        description=data.get("description") or "",
        keywords=" ; ".join(_items(data, "keywords")),
        author=" ; ".join(a["name"] for a in _items(data, "authors")),
        organism=_organism_text(data),
        imaging_method=_method_text(data),
        publication=" ; ".join(
            p for pub in publications for p in (pub.get("title"), pub.get("journal"), pub.get("authors")) if p
        ),
        content=_content(data),
        doi=_join({doi, *(p.get("doi") for p in publications)} - {None}),
        dataset_doi=doi.lower() if doi else None,
        title_sort=data["title"].lower()[:200],
        file_count=data.get("file_count", 0),
        total_size_bytes=data.get("total_size_bytes", 0),
        summary=orjson.dumps(summary(data)).decode(),
    )
    if data.get("release_date"):
        doc["release_date"] = datetime.fromisoformat(data["release_date"])
    return doc
