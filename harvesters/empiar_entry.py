"""One EMPIAR entry (API JSON ``{"EMPIAR-n": {...}}`` or a deposition XML header) → Record.

Accession rule: the top-level key when it is an EMPIAR accession, else the entry's ``id``
field, else the accession inside ``entry_doi`` (``10.6019/EMPIAR-10442``), else the file name
or requested id. Real entries whose top key was renamed upstream (``EMPIAR-TEST``,
``EMPIAR-IMAGELABELTEST``) thus keep their true accession, which their DOI carries.

EMPIAR records no organism (neither the API nor the deposition schema has such a field), so
``organisms`` stays empty rather than being guessed from titles. Image counts become file
counts only where one image is one file (see ``_ONE_FILE_PER_IMAGE``).
"""

from __future__ import annotations

import math
import re

import orjson

from harvesters.base import HarvestError, RecordWithdrawn
from harvesters.empiar_methods import classify
from harvesters.empiar_people import as_dict, as_list, people, person_name, text
from harvesters.empiar_xml import EmpiarXmlError, parse_header
from harvesters.file_formats import file_format
from harvesters.identifiers import classify_link, normalise_doi, normalise_pubmed_id
from harvesters.pagetab_records import normalise_date
from harvesters.records import Biosample, Link, Publication, Record, StudyComponent
from harvesters.vocab._text import compact_key
from harvesters.vocab.licenses import normalise_license

SOURCE = "empiar"
_ACCESSION = re.compile(r"^\s*(?:EMPIAR[-_ ]?)?(\d{5,9})\s*$", re.IGNORECASE)
_IN_DOI = re.compile(r"EMPIAR-(\d{5,9})\b", re.IGNORECASE)
_OBSOLETE = {"obs", "obsolete", "obsoleted", "wdrn", "withdrawn"}
# EMPIAR writes sizes as "43.2 GB" but counts in powers of 1024: EMPIAR-11419 "6.7 GB" is
# 7,170,941,688 bytes (6.68 GiB) and EMPIAR-11561 "174.2 GB" is 187,032,521,472 bytes
# (174.19 GiB) by BIA's file listing. So every unit here is binary, with or without the "i".
_SIZE = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*(?:([kmgtpe])i?b?|b|bytes?)?\s*$", re.IGNORECASE)
_POWERS = {"k": 1, "m": 2, "g": 3, "t": 4, "p": 5, "e": 6}
MAX_BYTES = 2**63 - 1  # SQLite INTEGER
# One file per counted unit: a multi-frame micrograph is one movie file and a reconstructed
# volume one map file. Other categories count frames in stacks, particles or tilts.
_ONE_FILE_PER_IMAGE = {"micrographsmultiframe", "reconstructedvolumes"}
_COMPONENT_FIELDS = (
    "category", "directory", "data_format", "header_format", "num_images_or_tilt_series",
    "frames_per_image", "frame_range_min", "frame_range_max", "voxel_type", "image_width",
    "image_height", "pixel_width", "pixel_height", "micrographs_file_pattern",
    "picked_particles_file_pattern", "picked_particles_directory",
)
_REFERENCE_KINDS = {
    "cross_references": "emdb",
    "biostudies_references": "biostudies",
    "idr_references": "idr",
    "empiar_references": "empiar",
}
_URLS = {"emdb": "https://www.ebi.ac.uk/emdb/{}", "empiar": "https://www.ebi.ac.uk/empiar/{}/"}
# "All data in EMPIAR is freely and publicly available to the global community under the
# CC0 licence" (EMPIAR Policies and Processing Procedures, 2023-10-23, https://empiar.org/policies).
EMPIAR_LICENSE = "CC0"


def parse_dataset_size(value: object) -> int | None:
    """Bytes of an EMPIAR ``dataset_size`` ("43.2 GB", "1.9 TB", "512", 2048); None if unparsable."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float)):
        number, power = float(value), 0
    else:
        match = _SIZE.match(str(value).replace(",", ""))
        if not match:
            return None
        number, power = float(match.group(1)), _POWERS.get((match.group(2) or "").lower(), 0)
    if not math.isfinite(number) or number < 0:
        return None
    size = round(number * 1024**power)
    return size if size <= MAX_BYTES else None


def as_accession(value: object) -> str | None:
    """``EMPIAR-n`` for "EMPIAR-10442", "10442" or 10442; None for anything else."""
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        return None
    match = _ACCESSION.match(str(value))
    return f"EMPIAR-{match.group(1)}" if match else None


def entry_accession(key: str | None, entry: dict, hint: str | None) -> str | None:
    """The accession by the module's rule: top key, ``id``, ``entry_doi``, then the hint."""
    in_doi = _IN_DOI.search(text(entry.get("entry_doi")))
    for candidate in (key, entry.get("id"), in_doi.group(0) if in_doi else None, hint):
        accession = as_accession(candidate)
        if accession:
            return accession
    return None


def read_entry(payload: bytes, fmt: str, hint: str | None, url: str) -> tuple[str, dict]:
    """``(accession, entry dict)`` from a JSON or XML payload; HarvestError if unreadable."""
    if fmt == "xml":
        try:
            key, entry = parse_header(payload)
        except EmpiarXmlError as exc:
            raise HarvestError("normalise", str(exc), url) from exc
    else:
        key, entry = _json_entry(payload, url)
    accession = entry_accession(key, entry, hint)
    if accession is None:
        raise HarvestError("normalise", f"no EMPIAR accession in key {key!r}, id, entry_doi or name {hint!r}", url)
    return accession, entry


def _json_entry(payload: bytes, url: str) -> tuple[str | None, dict]:
    try:
        data = orjson.loads(payload)
    except orjson.JSONDecodeError as exc:
        raise HarvestError("normalise", f"invalid JSON: {exc}", url) from exc
    if isinstance(data, dict) and len(data) == 1:
        key, entry = next(iter(data.items()))
        if isinstance(entry, dict):
            return key, entry
    if isinstance(data, dict) and ("title" in data or "imagesets" in data):
        return None, data  # a bare entry object
    raise HarvestError("normalise", 'expected one entry as {"EMPIAR-n": {...}}', url)


def check_withdrawn(accession: str, entry: dict) -> None:
    """Raise RecordWithdrawn for an obsolete entry (``obsolete_date`` set or status OBS)."""
    status, obsoleted = text(entry.get("status")), text(entry.get("obsolete_date"))
    if obsoleted or status.lower() in _OBSOLETE:
        raise RecordWithdrawn(accession, f"obsolete since {obsoleted}" if obsoleted else f"status {status}")


def entry_to_record(accession: str, entry: dict, url: str) -> Record:
    """Normalise an entry dict; HarvestError("normalise") for a malformed one."""
    check_withdrawn(accession, entry)
    try:
        return _record(accession, entry, url)
    except (TypeError, ValueError, AttributeError) as exc:  # pydantic errors are ValueErrors
        message = " ".join(str(exc).split("\n")[:3])
        raise HarvestError("normalise", f"{accession}: malformed EMPIAR entry: {message}", url) from exc


def _record(accession: str, entry: dict, url: str) -> Record:
    title = text(entry.get("title"))
    if not title:
        raise HarvestError("normalise", f"{accession}: entry has no title", url)
    components = [c for c in (_component(i) for i in as_list(entry.get("imagesets"))) if c]
    categories = [c.attributes.get("category", "") for c in components]
    methods, study_types = classify(text(entry.get("experiment_type")), categories, title)
    authors, organisations = people(entry)
    publications = [p for p in (_publication(c) for c in as_list(entry.get("citation"))) if p]
    scale = text(entry.get("scale"))
    return Record(
        accession=accession,
        source=SOURCE,
        title=title,
        description=_description(entry, components),
        release_date=normalise_date(text(entry.get("release_date"))),
        modified=normalise_date(text(entry.get("update_date") or entry.get("last_update"))),
        doi=normalise_doi(text(entry.get("entry_doi"))),
        authors=authors,
        organisations=organisations,
        publications=publications,
        license=normalise_license(EMPIAR_LICENSE),
        imaging_methods=methods,
        study_type=study_types,
        # EMPIAR's "scale" (molecule, virus, cell, tissue, organism) is the imaged entity's scale.
        biosamples=[Biosample(biological_entity=scale)] if scale else [],
        study_components=components,
        links=_links(entry, publications),
        funding=[f for f in (_funding(g) for g in as_list(entry.get("grant_references"))) if f],
        total_size_bytes=parse_dataset_size(entry.get("dataset_size")) or 0,
        file_formats=list(dict.fromkeys(f for c in components for f in c.file_formats)),
    )


def _description(entry: dict, components: list[StudyComponent]) -> str | None:
    """EMPIAR entries have no abstract: say what kind of data it is and list the image sets."""
    kind = "; ".join(
        f"{label}: {value}"
        for label, value in (("Experiment type", text(entry.get("experiment_type"))), ("scale", text(entry.get("scale"))))
        if value
    )
    names = list(dict.fromkeys(c.name for c in components if c.name))
    parts = [f"{kind}." if kind else "", f"Image sets: {'; '.join(names)}." if names else ""]
    return " ".join(p for p in parts if p) or None


# -- image sets ---------------------------------------------------------------------------


def _attribute(value: object) -> str:
    if isinstance(value, float):
        if not math.isfinite(value):
            return ""
        return str(int(value)) if value.is_integer() else repr(value)
    return text(value)


def _count(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        value = int(value)
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    return value if isinstance(value, int) and 0 <= value <= MAX_BYTES else None


def _component(item: object) -> StudyComponent | None:
    imageset = as_dict(item)
    attributes = {k: v for k in _COMPONENT_FIELDS if (v := _attribute(imageset.get(k)))}
    if segmentations := as_list(imageset.get("segmentations")):
        attributes["segmentations"] = str(len(segmentations))
    name = text(imageset.get("name")) or attributes.get("directory")
    if not name and not attributes:
        return None
    counted = compact_key(attributes.get("category", "")) in _ONE_FILE_PER_IMAGE
    data_format = attributes.get("data_format", "")
    fmt = file_format(f"x.{data_format.lower()}") if data_format and " " not in data_format else data_format
    return StudyComponent(
        name=name or None,
        description=text(imageset.get("details")) or None,
        kind="imageset",
        file_count=(_count(imageset.get("num_images_or_tilt_series")) or 0) if counted else 0,
        file_formats=[fmt] if fmt else [],
        attributes=attributes,
    )


# -- publications, links, funding ---------------------------------------------------------


def _publication(item: object) -> Publication | None:
    citation = as_dict(item)
    names = [person_name(as_dict(a).get("name") if isinstance(a, dict) else a) for a in as_list(citation.get("authors"))]
    title = text(citation.get("title")) or text(citation.get("book_chapter_title"))
    doi = normalise_doi(text(citation.get("doi")))
    pubmed = normalise_pubmed_id(text(citation.get("pubmedid")))
    if not (title or doi or pubmed):
        return None
    year = re.search(r"\b(1[89]\d\d|20\d\d)\b", text(citation.get("year")))
    return Publication(
        title=title or None,
        authors=", ".join(n for n in names if n) or None,
        doi=doi,
        pubmed_id=pubmed,
        year=int(year.group(1)) if year else None,
        journal=text(citation.get("journal")) or text(citation.get("journal_abbreviation")) or None,
    )


def _reference_values(items: object) -> list[str]:
    values = []
    for item in as_list(items):
        if isinstance(item, dict):
            item = next((item[k] for k in ("name", "accession", "id", "emdb_id") if text(item.get(k))), None)
        if text(item):
            values.append(text(item))
    return values


def _typed_link(value: str, kind: str) -> Link | None:
    """A link of the expected kind; bare numbers get the kind's prefix ("1234" → EMD-1234)."""
    if value.isdigit():
        value = {"emdb": f"EMD-{value}", "empiar": f"EMPIAR-{value}", "idr": f"idr{int(value):04d}"}.get(kind, value)
    link = classify_link(value, kind)
    if link is None:
        return None
    if link.url is None and link.type in _URLS:
        link.url = _URLS[link.type].format(link.value)
    return link


def _links(entry: dict, publications: list[Publication]) -> list[Link]:
    links: dict[tuple[str, str], Link] = {}
    for field, kind in _REFERENCE_KINDS.items():
        for value in _reference_values(entry.get(field)):
            link = _typed_link(value, kind)
            if link:
                links.setdefault((link.type, link.value.lower()), link)
    for pub in publications:
        if pub.doi:
            link = Link(type="doi", value=pub.doi, url=f"https://doi.org/{pub.doi}", description=pub.title)
            links.setdefault(("doi", pub.doi.lower()), link)
    return list(links.values())


def _funding(item: object) -> str:
    grant = as_dict(item)
    body, code = text(grant.get("funding_body")), text(grant.get("code"))
    return " ".join(part for part in (body, f"({code})" if code else "") if part)
