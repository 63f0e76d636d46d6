"""PageTab submission → Record: the archive's study model mapped onto the unified record.

Section and attribute names vary in case and spelling across template versions
(``author``/``Author``, ``organisation``/``Organization``, ``E-mail``/``Email``,
``Keywords``/``Keyword``, old ``Organism``/``Imaging Method`` sections with ``Ontology
Value``/``Term ID``); the tolerant lookups of :mod:`harvesters.pagetab` absorb the case and
punctuation, and this module lists the spelling alternatives.
"""

from __future__ import annotations

import re
from datetime import datetime, timezone

from harvesters.identifiers import (
    classify_link,
    normalise_doi,
    normalise_orcid,
    normalise_pmc_id,
    normalise_pubmed_id,
)
from harvesters.pagetab import Attribute, Section, Submission
from harvesters.records import (
    Author,
    Biosample,
    ImageAcquisition,
    ImagingMethod,
    License,
    Link,
    Organisation,
    Organism,
    Publication,
    Record,
    Specimen,
    StudyComponent,
)
from harvesters.vocab.fbbi import normalise_imaging_method
from harvesters.vocab.licenses import normalise_license
from harvesters.vocab.taxonomy import normalise_organism

ORG_TYPES = ("organisation", "organization")
AUTHOR_TYPES = ("author",)
COMPONENT_TYPES = ("study component", "experiment", "screen", "annotations", "annotation", "supplementary data")
LIST_SPLIT = re.compile(r"\s*[;,]\s*")


def submission_to_record(sub: Submission, source: str = "bia") -> Record:
    """Normalise a parsed PageTab submission into a Record (file stats are added later)."""
    study = sub.section
    orgs = _organisations(study)
    return Record(
        accession=sub.accno,
        source=source,
        title=study.value("Title") or sub.value("Title") or "",
        description=study.value("Description", "Abstract"),
        release_date=normalise_date(sub.value("ReleaseDate", "Release date") or study.value("ReleaseDate", "Release date")),
        doi=normalise_doi(sub.value("DOI")),
        keywords=_unique(study.values("Keywords", "Keyword")),
        authors=_authors(study, orgs),
        organisations=list(orgs.values()),
        publications=[_publication(s) for s in study.of_type("publication")],
        license=_license(study),
        organisms=_organisms(study),
        imaging_methods=_imaging_methods(study),
        study_type=_unique(study.values("Study type", "Study types")),
        biosamples=[_biosample(s) for s in study.of_type("biosample")],
        specimens=[_specimen(s) for s in study.of_type("specimen")],
        image_acquisitions=[_acquisition(s) for s in study.of_type("image acquisition")],
        study_components=_components(study),
        links=_links(study),
        funding=[_funding(s) for s in study.of_type("funding") if _funding(s)],
    )


def normalise_date(text: str | None) -> str | None:
    """A YYYY-MM-DD date from ISO dates, datetimes or epoch milliseconds; None otherwise."""
    if text is None:
        return None
    text = str(text).strip()
    if re.fullmatch(r"\d{11,14}", text):
        return datetime.fromtimestamp(int(text) / 1000, timezone.utc).date().isoformat()
    match = re.match(r"^(\d{4})-(\d{1,2})-(\d{1,2})", text)
    if not match:
        return None
    try:
        return datetime(*(int(g) for g in match.groups())).date().isoformat()
    except ValueError:
        return None


def _unique(values) -> list[str]:
    seen: dict[str, str] = {}
    for value in values:
        value = " ".join(str(value).split())
        if value and value.lower() not in seen:
            seen[value.lower()] = value
    return list(seen.values())


def _organisations(study: Section) -> dict[str, Organisation]:
    orgs: dict[str, Organisation] = {}
    for index, section in enumerate(study.of_type(*ORG_TYPES)):
        name = section.value("Name")
        if name:
            key = section.accno or f"#{index}"
            orgs[key] = Organisation(name=name, ror_id=section.value("RORID", "ROR ID", "ROR"), address=section.value("Address"))
    return orgs


def _authors(study: Section, orgs: dict[str, Organisation]) -> list[Author]:
    authors = []
    for section in study.of_type(*AUTHOR_TYPES):
        name = section.value("Name")
        if not name:
            continue
        authors.append(
            Author(
                name=" ".join(name.split()),
                orcid=normalise_orcid(section.value("ORCID")),
                email=section.value("E-mail", "Email"),
                affiliations=_affiliations(section, orgs),
                roles=_unique(r for value in section.values("Role", "Roles") for r in LIST_SPLIT.split(value)),
            )
        )
    return authors


def _affiliations(author: Section, orgs: dict[str, Organisation]) -> list[str]:
    names = []
    for attr in author.attributes_named("affiliation", "organisation", "organization"):
        for part in LIST_SPLIT.split(attr.value or ""):
            if not part:
                continue
            org = orgs.get(part)
            # A reference names an organisation section; a literal value is the name itself.
            names.append(org.name if org else part)
    return _unique(names)


def _publication(section: Section) -> Publication:
    year = section.value("Year", "Publication date")
    year_match = re.search(r"\b(1[89]\d\d|20\d\d)\b", year or "")
    return Publication(
        title=section.value("Title"),
        authors=section.value("Authors"),
        doi=normalise_doi(section.value("DOI")),
        pubmed_id=normalise_pubmed_id(section.value("Pubmed ID", "PubMed ID", "PMID")) or _pubmed_from_accno(section),
        pmc_id=normalise_pmc_id(section.value("PMC ID", "PMCID")) or _pmc_from_accno(section),
        year=int(year_match.group(1)) if year_match else None,
        journal=section.value("Journal"),
    )


def _pubmed_from_accno(section: Section) -> str | None:
    return normalise_pubmed_id(section.accno) if section.accno and section.accno.isdigit() else None


def _pmc_from_accno(section: Section) -> str | None:
    return normalise_pmc_id(section.accno) if section.accno and section.accno.upper().startswith("PMC") else None


def _license(study: Section) -> License | None:
    for attr in study.attributes_named("License", "Licence"):
        url = _qualifier(attr, "URL")
        return normalise_license(attr.value, url)
    return None


def _qualifier(attr: Attribute, name: str) -> str | None:
    wanted = name.lower()
    for qual in attr.value_qualifiers:
        if qual.name.strip().lower() == wanted and qual.value:
            return qual.value
    return None


def _term_id(attr: Attribute) -> str | None:
    return _qualifier(attr, "TermId") or _qualifier(attr, "Term ID") or _qualifier(attr, "Ontology Term ID")


def _organisms(study: Section) -> list[Organism]:
    found: list[Organism | None] = []
    for section in [study, *study.of_type("biosample", "study")]:
        for attr in section.attributes_named("Organism", "Organisms"):
            found.append(normalise_organism(attr.value, _term_id(attr)))
    for section in study.of_type("organism"):
        found.append(
            normalise_organism(
                section.value("Scientific name", "Ontology Value", "Name"),
                section.value("NCBI taxon ID", "NCBI Taxonomy ID", "Ontology Term ID", "Taxon ID"),
                section.value("Common name"),
            )
        )
    taxon = study.value("NCBI Taxonomy ID", "NCBI taxon ID")
    if taxon:
        found.append(normalise_organism(None, taxon))
    return dedupe_organisms(found)


def dedupe_organisms(organisms) -> list[Organism]:
    """Drop Nones and repeats (same taxon id, or same name when unresolved)."""
    out: dict[str, Organism] = {}
    for org in organisms:
        if org is None:
            continue
        key = org.taxon_id or org.name.lower()
        if key not in out:
            out[key] = org
    return list(out.values())


def _methods_of(section: Section) -> list[ImagingMethod | None]:
    return [
        normalise_imaging_method(attr.value, _term_id(attr))
        for attr in section.attributes_named("Imaging method", "Imaging methods")
    ]


def _imaging_methods(study: Section) -> list[ImagingMethod]:
    found: list[ImagingMethod | None] = _methods_of(study)
    for section in study.of_type("image acquisition", "experiment", "screen"):
        found.extend(_methods_of(section))
    for section in study.of_type("imaging method"):
        found.append(normalise_imaging_method(section.value("Ontology Value", "Name"), section.value("Ontology Term ID", "Term ID")))
    return dedupe_methods(found)


def dedupe_methods(methods) -> list[ImagingMethod]:
    """Drop Nones and repeats (same FBbi id, or same name when unresolved)."""
    out: dict[str, ImagingMethod] = {}
    for method in methods:
        if method is not None:
            out.setdefault(method.fbbi_id or method.name.lower(), method)
    return list(out.values())


def _biosample(section: Section) -> Biosample:
    return Biosample(
        title=section.value("Title"),
        description=section.value("Description"),
        organisms=dedupe_organisms(
            normalise_organism(a.value, _term_id(a)) for a in section.attributes_named("Organism")
        ),
        biological_entity=section.value("Biological entity"),
        intrinsic_variables=section.values("Intrinsic variable", "Intrinsic variables"),
        extrinsic_variables=section.values("Extrinsic variable", "Extrinsic variables"),
        experimental_variables=section.values("Experimental variable", "Experimental variables"),
    )


def _specimen(section: Section) -> Specimen:
    return Specimen(
        title=section.value("Title"),
        preparation_protocol=section.value("Sample preparation protocol", "Specimen preparation protocol"),
        growth_protocol=section.value("Growth protocol"),
    )


def _acquisition(section: Section) -> ImageAcquisition:
    return ImageAcquisition(
        title=section.value("Title"),
        imaging_methods=dedupe_methods(_methods_of(section)),
        instrument=section.value("Imaging instrument", "Imaging instrument description"),
        parameters=section.value("Image acquisition parameters"),
    )


def _components(study: Section) -> list[StudyComponent]:
    components = []
    for section in study.walk():
        file_list = section.value("File List")
        is_component = _norm(section.type) in {_norm(t) for t in COMPONENT_TYPES}
        if not (file_list or (is_component and section is not study)):
            continue
        components.append(
            StudyComponent(
                name=section.value("Name", "Title") or section.accno or section.type,
                description=section.value("Description", "Annotation overview", "Image analysis overview"),
                kind=section.type,
                file_list=file_list,
                attributes=_component_attributes(section),
            )
        )
    return components


def _component_attributes(section: Section) -> dict[str, str]:
    skip = {"name", "title", "description", "filelist"}
    out: dict[str, str] = {}
    for attr in section.attributes:
        if attr.value and _norm(attr.name) not in skip:
            out.setdefault(attr.name, attr.value)
    return out


def _norm(text: str | None) -> str:
    return re.sub(r"[\s_\-]+", "", (text or "").lower())


def _links(study: Section) -> list[Link]:
    links: dict[tuple[str, str], Link] = {}
    for section in study.walk():
        for entry in section.links:
            link = classify_link(
                entry.url,
                _attr_value(entry.attributes, "Type"),
                _attr_value(entry.attributes, "Description") or _attr_value(entry.attributes, "Title"),
            )
            if link:
                links.setdefault((link.type, link.value.lower()), link)
    for value in study.values("IDR accession number", "EMPIAR accession", "EMPIAR ID"):
        link = classify_link(value)
        if link:
            links.setdefault((link.type, link.value.lower()), link)
    for pub in study.of_type("publication"):
        doi = normalise_doi(pub.value("DOI"))
        if doi:
            links.setdefault(("doi", doi.lower()), Link(type="doi", value=doi, url=f"https://doi.org/{doi}", description=pub.value("Title")))
    return list(links.values())


def _attr_value(attributes: list[Attribute], name: str) -> str | None:
    for attr in attributes:
        if attr.name.strip().lower() == name.lower() and attr.value:
            return attr.value
    return None


def _funding(section: Section) -> str:
    agency = section.value("Agency", "Funding agency")
    grant = section.value("grant_id", "Grant ID", "Grant")
    return " ".join(part for part in (agency, f"({grant})" if grant else None) if part)
