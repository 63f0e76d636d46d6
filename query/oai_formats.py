"""OAI-PMH metadata formats: ``oai_dc`` (unqualified Dublin Core) and ``oai_datacite``
(the DataCite Metadata Schema kernel 4 ``resource`` element, as the OpenAIRE guidelines for
data archives disseminate it), each built from a Record with lxml.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from lxml import etree

from harvesters.records import Record
from query.site import Site, archive

XSI = "http://www.w3.org/2001/XMLSchema-instance"
OAI_DC = "http://www.openarchives.org/OAI/2.0/oai_dc/"
DC = "http://purl.org/dc/elements/1.1/"
DATACITE = "http://datacite.org/schema/kernel-4"
NCBI_TAXON_IRI = "http://purl.obolibrary.org/obo/NCBITaxon_"
FBBI_IRI = "http://purl.obolibrary.org/obo/FBbi_"


@dataclass(frozen=True)
class MetadataFormat:
    """A metadata format: its prefix, schema and namespace, and the function building it."""

    prefix: str
    schema: str
    namespace: str
    build: Callable[[Record, Site], etree._Element]


def _sub(parent, tag: str, text: str | None = None, **attrs) -> etree._Element:
    el = etree.SubElement(parent, tag, {k: v for k, v in attrs.items() if v is not None})
    if text is not None:
        el.text = _xml_text(text)
    return el


def _xml_text(text: str) -> str:
    """Drop characters XML 1.0 cannot carry (control characters other than tab/newline)."""
    return "".join(ch for ch in str(text) if ch in "\t\n\r" or ord(ch) >= 0x20 and ch not in "\ufffe\uffff")


def taxon_iri(curie: str) -> str:
    """NCBITaxon:9606 → http://purl.obolibrary.org/obo/NCBITaxon_9606."""
    return NCBI_TAXON_IRI + curie.split(":", 1)[1]


def fbbi_iri(curie: str) -> str:
    """FBbi:00000251 → http://purl.obolibrary.org/obo/FBbi_00000251."""
    return FBBI_IRI + curie.split(":", 1)[1]


# -- oai_dc ----------------------------------------------------------------------------------


def oai_dc(record: Record, site: Site) -> etree._Element:
    """Unqualified Dublin Core in the oai_dc container."""
    root = etree.Element(f"{{{OAI_DC}}}dc", nsmap={"oai_dc": OAI_DC, "dc": DC, "xsi": XSI})
    root.set(f"{{{XSI}}}schemaLocation", f"{OAI_DC} http://www.openarchives.org/OAI/2.0/oai_dc.xsd")
    dc = lambda tag, text: _sub(root, f"{{{DC}}}{tag}", text)  # noqa: E731
    dc("title", record.title)
    for author in record.authors:
        dc("creator", author.name)
    subjects = [*record.keywords, *(o.name for o in record.organisms), *(m.name for m in record.imaging_methods)]
    for subject in dict.fromkeys(subjects):
        dc("subject", subject)
    if record.description:
        dc("description", record.description)
    dc("publisher", archive(record.source).name)
    if record.release_date:
        dc("date", record.release_date)
    dc("type", "Dataset")
    for fmt in record.file_formats:
        dc("format", fmt)
    dc("identifier", site.dataset_page(record.accession))
    dc("identifier", record.accession)
    if record.doi:
        dc("identifier", f"https://doi.org/{record.doi}")
    dc("source", archive(record.source).landing_page(record.accession))
    for relation in _relations(record):
        dc("relation", relation)
    if record.license:
        dc("rights", record.license.url or record.license.name)
    return root


def _relations(record: Record) -> list[str]:
    out = [f"https://doi.org/{p.doi}" for p in record.publications if p.doi]
    out += [link.url or link.value for link in record.links]
    return list(dict.fromkeys(out))


# -- oai_datacite ------------------------------------------------------------------------------


def datacite(record: Record, site: Site) -> etree._Element:
    """A DataCite kernel-4 ``resource``: the DOI when there is one, else the dataset page."""
    root = etree.Element(f"{{{DATACITE}}}resource", nsmap={None: DATACITE, "xsi": XSI})
    root.set(f"{{{XSI}}}schemaLocation", f"{DATACITE} http://schema.datacite.org/meta/kernel-4.6/metadata.xsd")
    d = lambda parent, tag, text=None, **attrs: _sub(parent, f"{{{DATACITE}}}{tag}", text, **attrs)  # noqa: E731
    if record.doi:
        d(root, "identifier", record.doi, identifierType="DOI")
    else:
        d(root, "identifier", site.dataset_page(record.accession), identifierType="URL")
    _creators(root, record, d)
    d(d(root, "titles"), "title", record.title)
    d(root, "publisher", archive(record.source).name)
    d(root, "publicationYear", (record.release_date or "")[:4] or _year_of(record))
    d(root, "resourceType", "Microscopy dataset", resourceTypeGeneral="Dataset")
    _subjects(root, record, d)
    if record.release_date:
        d(d(root, "dates"), "date", record.release_date, dateType="Issued")
    alternates = d(root, "alternateIdentifiers")
    d(alternates, "alternateIdentifier", record.accession, alternateIdentifierType="Accession")
    d(alternates, "alternateIdentifier", archive(record.source).landing_page(record.accession), alternateIdentifierType="URL")
    _related(root, record, d)
    if record.file_count:
        sizes = d(root, "sizes")
        d(sizes, "size", f"{record.file_count} files")
        d(sizes, "size", f"{record.total_size_bytes} bytes")
    if record.file_formats:
        formats = d(root, "formats")
        for fmt in record.file_formats:
            d(formats, "format", fmt)
    if record.license:
        d(d(root, "rightsList"), "rights", record.license.name, rightsURI=record.license.url)
    if record.description:
        d(d(root, "descriptions"), "description", record.description, descriptionType="Abstract")
    return root


def _year_of(record: Record) -> str:
    harvested = record.provenance.harvested_at if record.provenance else ""
    return harvested[:4] if harvested[:4].isdigit() else "1900"


def _creators(root, record: Record, d) -> None:
    creators = d(root, "creators")
    if not record.authors:
        d(d(creators, "creator"), "creatorName", archive(record.source).name, nameType="Organizational")
    for author in record.authors:
        creator = d(creators, "creator")
        d(creator, "creatorName", author.name, nameType="Personal")
        if author.orcid:
            d(creator, "nameIdentifier", f"https://orcid.org/{author.orcid}", nameIdentifierScheme="ORCID", schemeURI="https://orcid.org")
        for affiliation in author.affiliations:
            d(creator, "affiliation", affiliation)


def _subjects(root, record: Record, d) -> None:
    if not (record.keywords or record.organisms or record.imaging_methods):
        return
    subjects = d(root, "subjects")
    for keyword in dict.fromkeys(record.keywords):
        d(subjects, "subject", keyword)
    for org in record.organisms:
        if org.taxon_id:
            d(subjects, "subject", org.name, subjectScheme="NCBI Taxonomy", schemeURI="http://purl.obolibrary.org/obo/ncbitaxon.owl", valueURI=taxon_iri(org.taxon_id))
        else:
            d(subjects, "subject", org.name)
    for method in record.imaging_methods:
        if method.fbbi_id:
            d(subjects, "subject", method.name, subjectScheme="FBbi", schemeURI="http://purl.obolibrary.org/obo/fbbi.owl", valueURI=fbbi_iri(method.fbbi_id))
        else:
            d(subjects, "subject", method.name)


def _related(root, record: Record, d) -> None:
    items: dict[tuple[str, str], str] = {}
    for pub in record.publications:
        if pub.doi:
            items.setdefault(("DOI", pub.doi.lower()), "IsSupplementTo")
        elif pub.pubmed_id:
            items.setdefault(("PMID", pub.pubmed_id), "IsSupplementTo")
    for link in record.links:
        if link.type == "doi":
            items.setdefault(("DOI", link.value.lower()), "References")
        elif link.type == "pubmed":
            items.setdefault(("PMID", link.value), "References")
        elif link.url:
            items.setdefault(("URL", link.url), "References")
    if not items:
        return
    related = d(root, "relatedIdentifiers")
    for (kind, value), relation in items.items():
        d(related, "relatedIdentifier", value, relatedIdentifierType=kind, relationType=relation)


FORMATS: dict[str, MetadataFormat] = {
    "oai_dc": MetadataFormat("oai_dc", "http://www.openarchives.org/OAI/2.0/oai_dc.xsd", OAI_DC, oai_dc),
    "oai_datacite": MetadataFormat("oai_datacite", "http://schema.datacite.org/meta/kernel-4.6/metadata.xsd", DATACITE, datacite),
}
