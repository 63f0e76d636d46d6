"""schema.org / Bioschemas JSON-LD for a dataset: a serialisation of the Record, not a
mapping (ontology ids are already canonical CURIEs; here they become OBO PURL IRIs).

Follows the Bioschemas Dataset profile (name, description, identifier, url, keywords,
license, creator, citation, datePublished, ``about`` organisms as NCBITaxon IRIs,
``measurementMethod``/``measurementTechnique`` imaging methods as FBbi IRIs, distribution,
isPartOf/includedInDataCatalog the source archive, sameAs the DOI and the archive's page).
"""

from __future__ import annotations

from harvesters.records import Record
from query.oai_formats import fbbi_iri, taxon_iri
from query.site import Site, archive

CONTEXT = "https://schema.org/"
BIOSCHEMAS_DATASET = "https://bioschemas.org/profiles/Dataset/1.0-RELEASE"
MEDIA_TYPE = "application/ld+json"


def dataset(record: Record, site: Site) -> dict:
    """The schema.org ``Dataset`` of a record, as a JSON-LD document."""
    page = site.dataset_page(record.accession)
    source = archive(record.source)
    doc: dict = {
        "@context": {"@vocab": CONTEXT, "dct": "http://purl.org/dc/terms/"},
        "@type": "Dataset",
        "@id": page,
        "dct:conformsTo": {"@id": BIOSCHEMAS_DATASET},
        "name": record.title,
        "description": record.description or record.title,
        "identifier": _identifiers(record),
        "url": page,
        "sameAs": _same_as(record),
        "keywords": record.keywords,
        "creator": [_person(a) for a in record.authors],
        "citation": [_citation(p) for p in record.publications if p.doi or p.title],
        "about": [_taxon(o) for o in record.organisms],
        "measurementMethod": [_method(m) for m in record.imaging_methods],
        "measurementTechnique": [_method(m) for m in record.imaging_methods],
        "distribution": _distribution(record, site),
        "isPartOf": _catalog(record),
        "includedInDataCatalog": _catalog(record),
        "publisher": {"@type": "Organization", "name": source.name, "url": source.url},
    }
    if record.release_date:
        doc["datePublished"] = record.release_date
    if record.modified:
        doc["dateModified"] = record.modified
    if record.license:
        doc["license"] = record.license.url or record.license.name
    if record.funding:
        doc["funding"] = [{"@type": "Grant", "name": f} for f in record.funding]
    return {k: v for k, v in doc.items() if v not in ([], None, "")}


def _identifiers(record: Record) -> list:
    ids: list = [record.accession]
    if record.doi:
        ids.append(f"https://doi.org/{record.doi}")
    return ids


def _same_as(record: Record) -> list[str]:
    same = [archive(record.source).landing_page(record.accession)]
    if record.doi:
        same.insert(0, f"https://doi.org/{record.doi}")
    return same


def _person(author) -> dict:
    person: dict = {"@type": "Person", "name": author.name}
    if author.orcid:
        person["@id"] = f"https://orcid.org/{author.orcid}"
        person["identifier"] = f"https://orcid.org/{author.orcid}"
    if author.affiliations:
        person["affiliation"] = [{"@type": "Organization", "name": a} for a in author.affiliations]
    return person


def _citation(pub) -> dict:
    article: dict = {"@type": "ScholarlyArticle"}
    if pub.doi:
        article["@id"] = f"https://doi.org/{pub.doi}"
        article["identifier"] = f"https://doi.org/{pub.doi}"
    for key, value in (("name", pub.title), ("author", pub.authors), ("datePublished", str(pub.year) if pub.year else None)):
        if value:
            article[key] = value
    if pub.pubmed_id:
        article["sameAs"] = f"https://pubmed.ncbi.nlm.nih.gov/{pub.pubmed_id}/"
    return article


def _taxon(org) -> dict:
    if not org.taxon_id:
        return {"@type": "Taxon", "name": org.name}
    return {
        "@type": ["Taxon", "DefinedTerm"],
        "@id": taxon_iri(org.taxon_id),
        "name": org.name,
        "termCode": org.taxon_id,
        "inDefinedTermSet": "http://purl.obolibrary.org/obo/ncbitaxon.owl",
    }


def _method(method) -> dict:
    term: dict = {"@type": "DefinedTerm", "name": method.name}
    if method.fbbi_id:
        term.update({"@id": fbbi_iri(method.fbbi_id), "termCode": method.fbbi_id, "inDefinedTermSet": "http://purl.obolibrary.org/obo/fbbi.owl"})
    return term


def _distribution(record: Record, site: Site) -> list[dict]:
    files = {
        "@type": "DataDownload",
        "name": f"File list of {record.accession}",
        "contentUrl": site.url(f"/biostudies/api/v1/files/{record.accession}"),
        "encodingFormat": "application/json",
    }
    landing = {"@type": "DataDownload", "name": f"{record.accession} at {archive(record.source).name}", "contentUrl": archive(record.source).landing_page(record.accession)}
    if record.file_count:
        landing["description"] = f"{record.file_count} files, {record.total_size_bytes} bytes"
        landing["contentSize"] = f"{record.total_size_bytes} B"
    if record.file_formats:
        landing["encodingFormat"] = record.file_formats
    return [landing, files]


def _catalog(record: Record) -> dict:
    source = archive(record.source)
    return {"@type": "DataCatalog", "name": source.name, "url": source.url}
