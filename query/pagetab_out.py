"""PageTab JSON out: a parsed Submission (from PageTab XML or TSV) serialised as BioStudies
serves it, a Record of a non-PageTab source (EMPIAR, IDR) rendered as a PageTab study, and
file rows as a PageTab file list. Our own archive harvester reads all three back.
"""

from __future__ import annotations

from collections.abc import Iterator

import orjson

from harvesters.pagetab import Attribute, FileEntry, LinkEntry, Section, Submission
from harvesters.records import FileRow, Record


def _attr(a: Attribute) -> dict:
    out: dict = {"name": a.name, "value": a.value}
    if a.reference:
        out["reference"] = True
    if a.name_qualifiers:
        out["nmqual"] = [_attr(q) for q in a.name_qualifiers]
    if a.value_qualifiers:
        out["valqual"] = [_attr(q) for q in a.value_qualifiers]
    return out


def _file(f: FileEntry) -> dict:
    return {"path": f.path, "size": f.size, "type": f.type, "attributes": [_attr(a) for a in f.attributes]}


def _link(link: LinkEntry) -> dict:
    return {"url": link.url, "attributes": [_attr(a) for a in link.attributes]}


def _section(s: Section) -> dict:
    out: dict = {"type": s.type, "attributes": [_attr(a) for a in s.attributes]}
    if s.accno:
        out["accno"] = s.accno
    if s.links:
        out["links"] = [_link(link) for link in s.links]
    if s.files:
        out["files"] = [_file(f) for f in s.files]
    if s.subsections:
        out["subsections"] = [_section(sub) for sub in s.subsections]
    return out


def submission_json(sub: Submission) -> dict:
    """A parsed submission as PageTab JSON."""
    return {"accno": sub.accno, "attributes": [_attr(a) for a in sub.attributes], "section": _section(sub.section), "type": "submission"}


def _a(name: str, value: str | None, **qualifiers: str | None) -> dict:
    out: dict = {"name": name, "value": value}
    quals = [{"name": k, "value": v} for k, v in qualifiers.items() if v]
    if quals:
        out["valqual"] = quals
    return out


def record_pagetab(record: Record) -> dict:
    """A Record rendered as a PageTab study (for sources that have no PageTab of their own)."""
    attrs = [_a("Title", record.title), _a("Description", record.description)]
    attrs += [_a("Keywords", k) for k in record.keywords]
    if record.license:
        attrs.append(_a("License", record.license.name, URL=record.license.url))
    attrs += [_a("Organism", o.name, TermId=o.taxon_id) for o in record.organisms]
    attrs += [_a("Imaging method", m.name, TermId=m.fbbi_id) for m in record.imaging_methods]
    attrs += [_a("Study type", t) for t in record.study_type]
    orgs = {o.name: f"o{i}" for i, o in enumerate(record.organisations, 1)}
    subsections = [_author(a, orgs) for a in record.authors]
    subsections += [{"type": "Organization", "accno": orgs[o.name], "attributes": [_a("Name", o.name), _a("RORID", o.ror_id), _a("Address", o.address)]} for o in record.organisations]
    subsections += [_publication(p) for p in record.publications]
    subsections += [{"type": "Funding", "attributes": [_a("Agency", f)]} for f in record.funding]
    study = {"type": "Study", "attributes": [a for a in attrs if a["value"]], "subsections": subsections}
    links = [{"url": link.url or link.value, "attributes": [a for a in (_a("Type", link.type), _a("Description", link.description)) if a["value"]]} for link in record.links]
    if links:
        study["links"] = links
    sub_attrs = [_a("Title", record.title), _a("ReleaseDate", record.release_date), _a("DOI", record.doi)]
    return {"accno": record.accession, "attributes": [a for a in sub_attrs if a["value"]], "section": study, "type": "submission"}


def _author(author, orgs: dict[str, str]) -> dict:
    attrs = [_a("Name", author.name), _a("ORCID", author.orcid), _a("E-mail", author.email)]
    attrs += [{"name": "affiliation", "value": orgs[a], "reference": True} if a in orgs else _a("affiliation", a) for a in author.affiliations]
    attrs += [_a("Role", r) for r in author.roles]
    return {"type": "Author", "attributes": [a for a in attrs if a["value"]]}


def _publication(pub) -> dict:
    attrs = [_a("Title", pub.title), _a("Authors", pub.authors), _a("DOI", pub.doi), _a("Pubmed ID", pub.pubmed_id), _a("PMC ID", pub.pmc_id), _a("Year", str(pub.year) if pub.year else None), _a("Journal", pub.journal)]
    return {"type": "Publication", "attributes": [a for a in attrs if a["value"]]}


def file_list_json(rows: Iterator[FileRow]) -> Iterator[bytes]:
    """File rows as a PageTab JSON file list (a JSON array), streamed."""
    yield b"["
    for index, row in enumerate(rows):
        entry = {
            "path": row.path,
            "size": row.size,
            "type": "directory" if row.format == "Directory" else "file",
            "attributes": [{"name": k, "value": v} for k, v in row.attributes.items()],
        }
        yield (b"," if index else b"") + orjson.dumps(entry)
    yield b"]"
