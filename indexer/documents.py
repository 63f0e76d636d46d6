"""Record → Whoosh document: full-text fields, facet keys (with labels), sort columns, and a
compact stored summary so a result page never has to read the record store.
"""

from __future__ import annotations

from datetime import datetime

import orjson

from harvesters.records import Record
from harvesters.vocab.fbbi import fbbi
from harvesters.vocab.taxonomy import taxon

Labels = dict[str, dict[str, str]]  # facet name -> key -> label
SOURCE_LABELS = {"bia": "BioImage Archive", "empiar": "EMPIAR", "idr": "IDR", "jcb": "JCB DataViewer"}


def facet_key(text: str) -> str:
    """A facet key for a value with no ontology id: folded case, no commas (the separator)."""
    return " ".join(text.replace(",", " ").split()).lower()


def organism_keys(record: Record) -> dict[str, str]:
    """Organism facet keys (NCBITaxon CURIE, else folded name) with their labels."""
    return {(o.taxon_id or facet_key(o.name)): o.name for o in record.organisms}


def method_keys(record: Record) -> dict[str, str]:
    """Imaging-method facet keys (FBbi CURIE, else folded name) with their labels."""
    return {(m.fbbi_id or facet_key(m.name)): m.name for m in record.imaging_methods}


def facet_values(record: Record) -> dict[str, dict[str, str]]:
    """Every facet's keys for this record, each with its display label."""
    year = record.release_date[:4] if record.release_date else None
    return {
        "source": {record.source: SOURCE_LABELS.get(record.source, record.source)},
        "organism": organism_keys(record),
        "imaging_method": method_keys(record),
        "study_type": {facet_key(t): t for t in record.study_type},
        "license": {record.license.name: record.license.name} if record.license else {},
        "release_year": {year: year} if year else {},
        "file_format": {f: f for f in record.file_formats},
    }


def merge_labels(labels: Labels, more: Labels) -> None:
    """Add the facet keys and labels of ``more`` to ``labels`` (a generation's label map)."""
    for facet, values in more.items():
        labels.setdefault(facet, {}).update(values)


def _join(keys) -> str:
    return ",".join(sorted(k.replace(",", " ") for k in keys))


def _method_tree(keys) -> set[str]:
    tree = set(keys)
    for key in keys:
        if key.startswith("FBbi:"):
            tree |= fbbi().ancestors(key)
    return tree


def _organism_text(record: Record) -> str:
    words = []
    for org in record.organisms:
        words += [org.name, org.common_name or ""]
        known = taxon(org.taxon_id) if org.taxon_id else None
        if known:
            words += [*known.common_names, *known.synonyms]
    return " ; ".join(w for w in words if w)


def _method_text(record: Record) -> str:
    words = []
    for method in record.imaging_methods:
        words.append(method.name)
        term = fbbi().term(method.fbbi_id) if method.fbbi_id else None
        if term:
            words += list(term.synonyms)
    return " ; ".join(words)


def _identifiers(record: Record) -> set[str]:
    ids = {record.accession.lower()}
    if record.doi:
        ids.add(record.doi.lower())
    ids |= {link.value.lower() for link in record.links if link.type != "url"}
    for pub in record.publications:
        ids |= {v.lower() for v in (pub.doi, pub.pubmed_id, pub.pmc_id) if v}
    ids |= {a.orcid.lower() for a in record.authors if a.orcid}
    return ids


def _content(record: Record) -> str:
    parts: list[str | None] = [record.accession, *record.funding, *record.study_type]
    parts += [o.name for o in record.organisations]
    for b in record.biosamples:
        parts += [b.title, b.description, b.biological_entity, *b.intrinsic_variables, *b.extrinsic_variables, *b.experimental_variables]
    for s in record.specimens:
        parts += [s.title, s.preparation_protocol, s.growth_protocol]
    for a in record.image_acquisitions:
        parts += [a.title, a.instrument, a.parameters]
    for c in record.study_components:
        parts += [c.name, c.description, *c.attributes.values()]
    parts += [link.description for link in record.links]
    parts += list(record.file_formats)
    return "\n".join(p for p in parts if p)


def summary(record: Record) -> dict:
    """The fields a result list shows, stored in the index."""
    return {
        "accession": record.accession,
        "source": record.source,
        "title": record.title,
        "release_date": record.release_date,
        "doi": record.doi,
        "organisms": [o.model_dump(exclude_none=True) for o in record.organisms],
        "imaging_methods": [m.model_dump(exclude_none=True) for m in record.imaging_methods],
        "study_type": record.study_type,
        "license": record.license.model_dump(exclude_none=True) if record.license else None,
        "authors": [a.name for a in record.authors[:10]],
        "author_count": len(record.authors),
        "file_count": record.file_count,
        "total_size_bytes": record.total_size_bytes,
        "file_formats": record.file_formats[:10],
        "keywords": record.keywords,
    }


def to_document(record: Record) -> dict:
    """The Whoosh document for a record."""
    facets = facet_values(record)
    doc = {f"f_{name}": _join(values) for name, values in facets.items()}
    doc["f_imaging_method_tree"] = _join(_method_tree(facets["imaging_method"]))
    doc["f_organism_tree"] = _join(facets["organism"])
    doc.update(
        accession=record.accession,
        identifiers=_join(_identifiers(record)),
        title=record.title,
        description=record.description or "",
        keywords=" ; ".join(record.keywords),
        author=" ; ".join(a.name for a in record.authors),
        organism=_organism_text(record),
        imaging_method=_method_text(record),
        publication=" ; ".join(
            p for pub in record.publications for p in (pub.title, pub.journal, pub.authors) if p
        ),
        content=_content(record),
        doi=_join({record.doi, *(p.doi for p in record.publications)} - {None}),
        dataset_doi=record.doi.lower() if record.doi else None,
        title_sort=record.title.lower()[:200],
        file_count=record.file_count,
        total_size_bytes=record.total_size_bytes,
        summary=orjson.dumps(summary(record)).decode(),
    )
    if record.release_date:
        doc["release_date"] = datetime.fromisoformat(record.release_date)
    return doc
