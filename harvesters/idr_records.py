"""IDR study (from a study file or from map annotations) → Record, and the shared normalise stage.

Both IDR sources are first turned into a :class:`~harvesters.idr_study.StudyFile`; this module
maps that one shape onto the unified record, so a study file and the JSON API give the same
record for the same study.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from harvesters.base import Harvester, HarvestError, Normalised, RawRecord, RecordRef
from harvesters.identifiers import EMPIAR, classify_link, normalise_doi, normalise_orcid, normalise_pmc_id, normalise_pubmed_id
from harvesters.idr_study import Block, StudyFile, key_form, parse_study_file
from harvesters.pagetab_records import dedupe_methods, dedupe_organisms, normalise_date
from harvesters.records import Author, ImagingMethod, Link, Organisation, Organism, Provenance, Publication, Record, StudyComponent, utc_now
from harvesters.vocab._text import fold
from harvesters.vocab.fbbi import normalise_imaging_method
from harvesters.vocab.licenses import normalise_license
from harvesters.vocab.taxonomy import normalise_organism

STUDY_FORMAT = "idr-study-tsv"
AUTHOR_SPLIT = re.compile(r"\s*[,;]\s*|\s+and\s+")
LIST_SPLIT = re.compile(r"\s*[;,]\s*")
BIOSTUDIES_IN_TEXT = re.compile(r"\bS-B[A-Z]{2,4}\d+\b")
BIOSTUDIES_VALUE = re.compile(r"^S-[A-Z]{2,6}[A-Z0-9-]*\d$")
NOT_VALUES = frozenset({"none", "n/a", "na", "not applicable", "-"})
HOST_LIKE = re.compile(r"^[\w-]+(?:\.[\w-]+)+(?:/\S*)?$")
# Component attributes: label, then the keys it is read from ("{k}" is Screen/Experiment).
COMPONENT_ATTRIBUTES = (
    ("Sample Type", ("{k} Sample Type",)),
    ("Organism", ("{k} Organism",)),
    ("Imaging Method", ("{k} Imaging Method",)),
    ("Technology Type", ("{k} Technology Type",)),
    ("Screen Type", ("Screen Type",)),
    ("Data DOI", ("{k} Data DOI",)),
    ("Library Type", ("Library Type",)),
    ("Raw Image Data Format", ("Raw Image Data Format",)),
    ("Experimental Conditions", ("Assay Experimental Conditions", "Library Experimental Conditions")),
    ("Phenotypes", ("Phenotype Term Name", "Phenotype Name")),
    ("Comments", ("{k} Comments",)),
)


class IdrHarvester(Harvester):
    """The normalise stage shared by every IDR harvester; subclasses gather and fetch."""

    name = "idr"

    def study_of(self, raw: RawRecord) -> StudyFile:
        """Parse the raw payload into the common study shape (a study file by default)."""
        return parse_study_file(raw.payload, raw.ref.source_url, name_hints(raw.ref))

    def normalise(self, raw: RawRecord) -> Normalised:
        """Parse the payload and map it onto a Record (IDR lists no files per study here)."""
        record = study_to_record(self.study_of(raw), raw.ref.source_url)
        record.modified = raw.modified
        record.provenance = Provenance(
            source_url=raw.ref.source_url, harvested_at=utc_now(), content_hash=raw.content_hash, raw_format=raw.format
        )
        return Normalised(record)


def name_hints(ref: RecordRef) -> list[str | None]:
    """Where an accession may be read when the file has none: file name, then folder."""
    parts = ref.source_url.rstrip("/").split("/")
    return [parts[-1], parts[-2] if len(parts) > 1 else None, ref.hint]


def study_to_record(study_file: StudyFile, source_url: str) -> Record:
    """Map a parsed study onto a Record; HarvestError("normalise", …) if it has no title."""
    study = study_file.study
    publications = _publications(study)
    title = study.value("Study Title") or next((p.title for p in publications if p.title), None)
    if not title:
        raise HarvestError("normalise", f"no Study Title or Study Publication Title in the study block ({study.span()})", source_url)
    try:
        return _record(study_file, title, publications)
    except ValueError as exc:  # pydantic validation of odd values
        raise HarvestError("normalise", " ".join(str(exc).split("\n")[:3]), source_url) from exc


def _record(study_file: StudyFile, title: str, publications: list[Publication]) -> Record:
    study = study_file.study
    authors = _authors(study, publications)
    doi = normalise_doi(study.value("Study Data DOI", "Data DOI"))
    return Record(
        accession=study_file.accession,
        source="idr",
        title=title,
        description=study.value("Study Description"),
        release_date=normalise_date(study.value("Study Public Release Date", "Study Release Date")),
        doi=doi,
        keywords=unique(part for value in study.values("Study Key Words", "Study Keywords") for part in value.split(";")),
        authors=authors,
        organisations=_organisations(authors),
        publications=publications,
        license=normalise_license(study.value("Study License", "Study Licence"), study.value("Study License URL", "Study Licence URL")),
        organisms=_organisms(study_file),
        imaging_methods=dedupe_methods(m for block in _all_blocks(study_file) for m in _methods(block)),
        study_type=unique(study.values("Study Type")),
        study_components=[_component(block) for block in study_file.components],
        links=_links(study_file, publications, doi),
    )


def unique(values: Iterable[str | None]) -> list[str]:
    """Cleaned values without blanks and case-insensitive repeats, first spelling kept."""
    seen: dict[str, str] = {}
    for value in values:
        value = " ".join(str(value or "").split())
        if value and value.lower() not in seen:
            seen[value.lower()] = value
    return list(seen.values())


def _at(cells: list[str], index: int) -> str | None:
    return (cells[index] or None) if index < len(cells) else None


def _all_blocks(study_file: StudyFile) -> list[Block]:
    return [study_file.study, *study_file.components]


# -- publications and people ----------------------------------------------------------------


def _publications(study: Block) -> list[Publication]:
    """Publications line up column by column across the Study Publication rows."""
    columns = [
        study.cells("Study Publication Title"),
        study.cells("Study Author List", "Study Publication Authors"),
        study.cells("Study DOI", "Study Publication DOI"),
        study.cells("Study PubMed ID"),
        study.cells("Study PMC ID"),
        study.cells("Study Publication Year"),
    ]
    publications = []
    for i in range(max(map(len, columns))):
        title, authors, doi, pubmed, pmc, year = (_at(column, i) for column in columns)
        publication = Publication(
            title=title,
            authors=authors,
            doi=normalise_doi(doi),
            pubmed_id=normalise_pubmed_id(pubmed),
            pmc_id=normalise_pmc_id(pmc),
            year=_year(year),
        )
        if any(publication.model_dump().values()):
            publications.append(publication)
    return publications


def _year(text: str | None) -> int | None:
    match = re.search(r"\b(1[89]\d\d|20\d\d)\b", text or "")
    return int(match.group(1)) if match else None


def split_authors(text: str | None) -> list[str]:
    """``"Graml V, Studera X, Carazo Salas RE."`` -> the names, without ``et al``."""
    names = (name.strip(" .\"'") for name in AUTHOR_SPLIT.split(text or ""))
    return unique(name for name in names if name and fold(name) not in {"et al", "et al."})


def _authors(study: Block, publications: list[Publication]) -> list[Author]:
    """The first author list, enriched with the study contacts; other contacts appended."""
    listed = next((p.authors for p in publications if p.authors), None)
    authors = [Author(name=name) for name in split_authors(listed)]
    for contact, (last, first) in _contacts(study):
        index = next((i for i, a in enumerate(authors) if _same_person(a.name, last, first)), None)
        if index is None:
            authors.append(contact)
        else:
            authors[index] = contact.model_copy(update={"name": authors[index].name})
    return authors


def _contacts(study: Block) -> list[tuple[Author, tuple[str, str]]]:
    fields = ("Last Name", "First Name", "Email", "Address", "Roles", "ORCID")
    columns = [study.cells(f"Study Person {name}") for name in fields]
    contacts = []
    for i in range(max(map(len, columns))):
        last, first, email, address, roles, orcid = (_at(column, i) for column in columns)
        name = " ".join(part for part in (first, last) if part)
        if name:
            author = Author(
                name=name,
                email=email,
                orcid=normalise_orcid(orcid),
                affiliations=[address] if address else [],
                roles=unique(LIST_SPLIT.split(roles or "")),
            )
            contacts.append((author, (last or "", first or "")))
    return contacts


def _same_person(listed: str, last: str, first: str) -> bool:
    """``"Carazo Salas RE"``, ``"Pascual-Vargas P"`` or ``"Rafael Carazo Salas"`` is the
    contact with that last and first name; the two are also tried swapped (idr0004 has them
    the wrong way round)."""
    words = listed.split()
    initials = words[-1] if len(words) > 1 and words[-1].isupper() and len(words[-1]) <= 4 else None
    for surname, given in ((_letters(last), _letters(first)), (_letters(first), _letters(last))):
        if not surname or not given:
            continue
        if initials and _letters(" ".join(words[:-1])) == surname and _letters(initials)[:1] == given[:1]:
            return True
        if _letters(listed) in (given + surname, surname + given):
            return True
    return False


def _letters(text: str) -> str:
    return re.sub(r"[^a-z]", "", fold(text))


def _organisations(authors: list[Author]) -> list[Organisation]:
    return [Organisation(name=name) for name in unique(a for author in authors for a in author.affiliations)]


# -- ontology terms -----------------------------------------------------------------------


def _terms(block: Block, key: str, source: str) -> list[tuple[str | None, str | None]]:
    """(name, accession) pairs of a term row and its companions; an accession whose
    Term Source REF names another vocabulary (GBIF, DICOM) is dropped."""
    names = block.cells(key)
    accessions = block.cells(f"{key} Term Accession")
    sources = block.cells(f"{key} Term Source REF")
    pairs = []
    for i in range(max(len(names), len(accessions))):
        ref = _at(sources, i)
        accession = _at(accessions, i) if not ref or key_form(ref).startswith(source) else None
        pairs.append((_at(names, i), accession))
    return pairs


def _organisms(study_file: StudyFile) -> list[Organism]:
    found = [normalise_organism(n, a) for n, a in _terms(study_file.study, "Study Organism", "ncbitaxon")]
    for block in study_file.components:
        found += [normalise_organism(n, a) for n, a in _terms(block, block.own("Organism"), "ncbitaxon")]
    return dedupe_organisms(found)


def _methods(block: Block) -> list[ImagingMethod]:
    key = "Study Imaging Method" if block.kind == "study" else block.own("Imaging Method")
    return dedupe_methods(m for name, accession in _terms(block, key, "fbbi") for m in imaging_method(name, accession))


def imaging_method(name: str | None, accession: str | None = None) -> list[ImagingMethod]:
    """IDR's free-text method (with its FBbi accession if any) as FBbi terms; a cell that
    lists several methods (``"confocal; FRAP"``) and does not resolve whole is split."""
    method = normalise_imaging_method(name, accession)
    if method is None or method.fbbi_id or not name or not LIST_SPLIT.search(name):
        return [method] if method else []
    parts = [normalise_imaging_method(part) for part in LIST_SPLIT.split(name)]
    return [part for part in parts if part] or [method]


# -- components and links -------------------------------------------------------------------


def _component(block: Block) -> StudyComponent:
    kind = block.kind
    number = block.value(block.own("Number"))
    return StudyComponent(
        name=block.value(f"Comment[IDR {kind} Name]", block.own("Name")) or f"{kind.title()} {number or ''}".strip(),
        description=block.value(block.own("Description")),
        kind=kind,
        attributes=_component_attributes(block),
    )


def _component_attributes(block: Block) -> dict[str, str]:
    attributes: dict[str, str] = {}
    for label, keys in COMPONENT_ATTRIBUTES:
        values = unique(v for key in keys for v in block.values(key.format(k=block.kind)) if fold(v) not in NOT_VALUES)
        if label == "Data DOI":
            values = unique(normalise_doi(v) for v in values)
        if values:
            attributes[label] = "; ".join(values)
    attributes.update(_size(block.cells(block.own("Size"))))
    return attributes


def _size(cells: list[str]) -> dict[str, str]:
    """``Plates: 192 | 5D Images: 109728 | …`` -> {"Plates": "192", …}. Cells without a
    label go under "Size": in ``5D Images: | 1 Tb`` the value is not the label's."""
    sizes: dict[str, str] = {}
    for cell in cells:
        label, colon, value = cell.partition(":")
        if colon and label.strip():
            if value.strip():
                sizes[label.strip()] = value.strip()
        elif cell:
            sizes["Size"] = "; ".join(filter(None, (sizes.get("Size"), cell)))
    return sizes


def _links(study_file: StudyFile, publications: list[Publication], data_doi: str | None) -> list[Link]:
    links: dict[tuple[str, str], Link] = {}

    def add(link: Link | None) -> None:
        if link is not None:
            links.setdefault((link.type, link.value.lower()), link)

    for publication in publications:
        for link in _publication_links(publication):
            add(link)
    study = study_file.study
    for value in study.values("Study Publication Preprint"):
        add(classify_link(_as_url(value), description="preprint"))
    for value in study.values("Study External URL"):
        add(classify_link(_as_url(value), description="external URL"))
    for key in ("Study BioImage Archive Accession", "Study BioStudies Accession"):
        for value in study.values(key):
            add(biostudies_link(value) if BIOSTUDIES_VALUE.match(value) else None)
    for value in study.values("Study EMPIAR Accession"):
        add(classify_link(value if value.upper().startswith("EMPIAR") else f"EMPIAR-{value}"))
    for link in _mentioned_accessions(study_file):
        add(link)
    for block in study_file.components:
        for doi in unique(normalise_doi(v) for v in block.values(block.own("Data DOI"))):
            if doi.lower() != (data_doi or "").lower():
                add(Link(type="doi", value=doi, url=f"https://doi.org/{doi}", description=f"{_component(block).name} data DOI"))
    return list(links.values())


def _publication_links(publication: Publication) -> list[Link]:
    title = publication.title
    links = []
    if publication.doi:
        links.append(Link(type="doi", value=publication.doi, url=f"https://doi.org/{publication.doi}", description=title))
    if publication.pubmed_id:
        url = f"https://pubmed.ncbi.nlm.nih.gov/{publication.pubmed_id}/"
        links.append(Link(type="pubmed", value=publication.pubmed_id, url=url, description=title))
    if publication.pmc_id:
        url = f"https://www.ncbi.nlm.nih.gov/pmc/articles/{publication.pmc_id}/"
        links.append(Link(type="pmc", value=publication.pmc_id, url=url, description=title))
    return links


def biostudies_link(accession: str) -> Link:
    """A link to a BioStudies / BioImage Archive study."""
    return Link(type="biostudies", value=accession, url=f"https://www.ebi.ac.uk/biostudies/studies/{accession}")


def _mentioned_accessions(study_file: StudyFile) -> list[Link]:
    """BioStudies (S-B…) and EMPIAR accessions written anywhere in the file."""
    links = []
    for block in _all_blocks(study_file):
        for line in block.lines:
            for value in line.values:
                links += [biostudies_link(acc) for acc in BIOSTUDIES_IN_TEXT.findall(value)]
                links += [classify_link(f"EMPIAR-{n}") for n in EMPIAR.findall(value)]
    return [link for link in links if link]


def _as_url(value: str) -> str:
    """``www.sysgro.org`` -> ``https://www.sysgro.org``; anything else unchanged."""
    if not re.match(r"^[a-z][a-z0-9+.-]*://", value, re.I) and HOST_LIKE.match(value) and not value.startswith("10."):
        return "https://" + value
    return value
