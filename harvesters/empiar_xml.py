"""EMPIAR deposition XML headers (``NNNNN.xml``, namespace ``http://pdbe.org/empiar``) turned
into the entry dict the EMPIAR REST API returns, so that one normaliser serves both.

Parsing is defensive: a document with a DOCTYPE or entity declaration is refused before
lxml sees it (no XXE, no entity expansion), and the parser itself never resolves entities,
loads a DTD or touches the network. Element names follow EMPIAR's own header loader
(``admin/keyDates``, ``crossReferences/related*Entries``, ``imageSet/dimensions``); they are
matched by local name, so a header without the namespace works too.
"""

from __future__ import annotations

import html
import re

from lxml import etree

NAMESPACE = "http://pdbe.org/empiar"
_DECLARATION = re.compile(rb"<!\s*(?:DOCTYPE|ENTITY)", re.IGNORECASE)
_PERSON_FIELDS = {
    "authorORCID": "author_orcid",
    "firstName": "first_name",
    "middleName": "middle_name",
    "lastName": "last_name",
    "organization": "organization",
    "street": "street",
    "townOrCity": "town_or_city",
    "stateOrProvince": "state_or_province",
    "postOrZipCode": "post_or_zip",
    "country": "country",
}
_IMAGESET_TEXT = {
    "name": "name",
    "directory": "directory",
    "category": "category",
    "headerFormat": "header_format",
    "dataFormat": "data_format",
    "voxelType": "voxel_type",
    "details": "details",
    "micrographsFilePattern": "micrographs_file_pattern",
    "pickedParticlesFilePattern": "picked_particles_file_pattern",
    "pickedParticlesDirectory": "picked_particles_directory",
}
_REFERENCES = {
    "cross_references": ("relatedEMDBEntries", "emdbEntry"),
    "biostudies_references": ("relatedBioStudiesEntries", "bioStudiesEntry"),
    "idr_references": ("relatedIdrEntries", "idrEntry"),
    "empiar_references": ("relatedEmpiarEntries", "empiarEntry"),
}


class EmpiarXmlError(ValueError):
    """The header is not well-formed, not an EMPIAR entry, or declares a DOCTYPE/entities."""


def parse_header(payload: bytes) -> tuple[str | None, dict]:
    """``(accessionCode, entry dict in the API's shape)`` of an EMPIAR XML header."""
    root = _safe_root(payload)
    if _local(root) != "entry":
        raise EmpiarXmlError(f"root element is <{_local(root)}>, not an EMPIAR <entry>")
    entry = _admin(_child(root, "admin"))
    entry.update(_cross_references(_child(root, "crossReferences")))
    entry["imagesets"] = [_imageset(node) for node in _children(root, "imageSet")]
    return root.get("accessionCode"), entry


def _safe_root(payload: bytes) -> etree._Element:
    if _DECLARATION.search(payload):
        raise EmpiarXmlError("XML with a DOCTYPE or entity declaration is refused (XXE guard)")
    parser = etree.XMLParser(
        resolve_entities=False, no_network=True, load_dtd=False, dtd_validation=False,
        huge_tree=False, remove_comments=True, remove_pis=True,
    )
    try:
        root = etree.fromstring(payload, parser)
    except (etree.XMLSyntaxError, ValueError) as exc:
        raise EmpiarXmlError(f"malformed XML: {exc}") from exc
    if root is None or root.getroottree().docinfo.doctype:
        raise EmpiarXmlError("XML with a DOCTYPE is refused (XXE guard)")  # e.g. a UTF-16 document
    return root


# -- element helpers -------------------------------------------------------------------


def _local(node: etree._Element) -> str:
    return etree.QName(node).localname if isinstance(node.tag, str) else ""


def _children(node: etree._Element | None, name: str) -> list[etree._Element]:
    return [c for c in node if _local(c) == name] if node is not None else []


def _child(node: etree._Element | None, name: str) -> etree._Element | None:
    found = _children(node, name)
    return found[0] if found else None


def _text(node: etree._Element | None, *path: str) -> str | None:
    """Text of the element at ``path`` below ``node``; EMPIAR double-escapes "&" in some
    headers ("&amp;amp;"), so entities left after parsing are unescaped once more."""
    for name in path:
        node = _child(node, name)
    if node is None:
        return None
    text = " ".join(html.unescape("".join(node.itertext())).split())
    return text or None


def _number(text: str | None) -> int | float | None:
    if text is None:
        return None
    try:
        value = float(text)
    except ValueError:
        return None  # "variable" and other words
    return int(value) if value.is_integer() and "." not in text else value


# -- sections --------------------------------------------------------------------------


def _admin(admin: etree._Element | None) -> dict:
    dates = _child(admin, "keyDates")
    entry = {
        "title": _text(admin, "title"),
        "status": _text(admin, "currentStatus"),
        "deposition_date": _text(dates, "depositionDate"),
        "release_date": _text(dates, "releaseDate"),
        "update_date": _text(dates, "updateDate"),
        "obsolete_date": _text(dates, "obsoleteDate"),
        "entry_doi": _text(admin, "entryDOI"),
        "experiment_type": _text(admin, "experimentType"),
        "scale": _text(admin, "scale"),
        "dataset_size": _dataset_size(_child(admin, "datasetSize")),
        "authors": [{"author": _named(a)} for a in _children(_child(admin, "authorsList"), "author")],
        "principal_investigator": [_person(p) for p in _children(admin, "principalInvestigator")],
    }
    corresponding = _child(admin, "correspondingAuthor")
    entry["corresponding_author"] = {"author": _person(corresponding)} if corresponding is not None else {}
    return entry


def _dataset_size(node: etree._Element | None) -> str | None:
    value = _text(node)
    units = node.get("units") if node is not None else None
    return f"{value} {units}" if value and units else value


def _named(node: etree._Element) -> dict:
    return {"name": _text(node), "author_orcid": node.get("authorORCID")}


def _person(node: etree._Element) -> dict:
    return {key: _text(node, tag) for tag, key in _PERSON_FIELDS.items()}


def _cross_references(refs: etree._Element | None) -> dict:
    out: dict = {key: [{"name": _text(e)} for e in _children(_child(refs, group), item)] for key, (group, item) in _REFERENCES.items()}
    citations = [c for u in _children(_child(refs, "citationList"), "universalCitation") for c in u if _local(c)]
    out["citation"] = [_citation(c) for c in citations]
    return out


def _citation(node: etree._Element) -> dict:
    journal = _local(node) == "journalCitation"
    citation = {
        "authors": [_named(a) for a in _children(node, "author")],
        "editors": [_named(a) for a in _children(node, "editor")],
        "published": node.get("published") == "true",
        "preprint": node.get("preprint") == "true",
        "j_or_nj_citation": journal,
        "title": _text(node, "title") or _text(node, "bookTitle"),
        "journal": _text(node, "journal"),
        "journal_abbreviation": _text(node, "journalAbbreviation"),
        "publisher": _text(node, "publisher"),
        "volume": _text(node, "volume"),
        "issue": _text(node, "issue"),
        "first_page": _text(node, "firstPage"),
        "last_page": _text(node, "lastPage"),
        "year": _text(node, "year"),
        "details": _text(node, "details"),
    }
    for ref in _children(node, "externalReferences"):
        key = {"doi": "doi", "pubmed": "pubmedid"}.get((ref.get("type") or "").lower())
        if key:
            citation[key] = _text(ref)
    return citation


def _imageset(node: etree._Element) -> dict:
    imageset: dict = {key: _text(node, tag) for tag, key in _IMAGESET_TEXT.items()}
    imageset["num_images_or_tilt_series"] = _number(_text(node, "numImagesOrTiltSeries"))
    imageset["frames_per_image"] = _number(_text(node, "framesPerImage"))
    frames = _child(node, "frameRange")
    for bound in ("Min", "Max"):
        text = (frames.get(f"frameRange{bound}") or _text(frames, f"frameRange{bound}")) if frames is not None else None
        imageset[f"frame_range_{bound.lower()}"] = _number(text)
    dims = _child(node, "dimensions")
    for axis in ("Width", "Height"):
        size = _text(dims, f"image{axis}")
        imageset[f"image_{axis.lower()}"] = None if size == "variable" else size  # a string, as in the API
        imageset[f"pixel_{axis.lower()}"] = _number(_text(dims, f"pixel{axis}"))
    imageset["segmentations"] = [{"file": _text(s, "file")} for s in _children(_child(node, "segmentationList"), "segmentation")]
    return imageset
