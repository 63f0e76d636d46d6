"""What the dataset page shows besides the record itself: cross-resource links with
resolved URLs, download locations by source, and the schema.org JSON-LD."""

from __future__ import annotations

import re

import orjson

from harvesters.records import Record
from query import jsonld
from web.partners import site

LINK_PATTERNS = {
    "doi": "https://doi.org/{}",
    "empiar": "https://www.ebi.ac.uk/empiar/{}/",
    "emdb": "https://www.ebi.ac.uk/emdb/{}",
    "idr": "https://idr.openmicroscopy.org/search/?query=Name:{}",
    "biostudies": "https://www.ebi.ac.uk/biostudies/studies/{}",
    "pubmed": "https://pubmed.ncbi.nlm.nih.gov/{}/",
    "pmc": "https://www.ncbi.nlm.nih.gov/pmc/articles/{}/",
    "ena": "https://www.ebi.ac.uk/ena/browser/view/{}",
}
LINK_TYPES = {"doi": "DOI", "empiar": "EMPIAR", "emdb": "EMDB", "idr": "IDR", "biostudies": "BioStudies",
              "pubmed": "PubMed", "pmc": "PubMed Central", "ena": "ENA", "url": "Web page"}
BIOSTUDIES_ACCESSION = re.compile(r"^(S-[A-Z]+)(\d+)$")


def view(svc, record: Record) -> dict:
    """Template context of the dataset page (everything but the file table)."""
    links = svc.links(record.accession)
    return {
        "record": record,
        "linked": linked_datasets(links),
        "external": [dict(item, href=link_url(item)) for item in links["outbound"] if not item.get("record")],
        "downloads": downloads(record),
        "jsonld": dataset_jsonld(record),
        "paragraphs": [p.strip() for p in re.split(r"\n\s*\n", record.description or "") if p.strip()],
    }


def linked_datasets(links: dict) -> list[dict]:
    """Datasets we hold that this one cites or that cite it, once each, with the direction."""
    found: dict[str, dict] = {}
    for item in links["outbound"]:
        if item.get("record"):
            found.setdefault(item["record"]["accession"], dict(item["record"], cites=False, cited=False))["cited"] = True
    for item in links["inbound"]:
        summary = {k: item[k] for k in ("accession", "title", "source")}
        found.setdefault(item["accession"], dict(summary, cites=False, cited=False))["cites"] = True
    for item in found.values():
        item["relation"] = ("linked both ways" if item["cites"] and item["cited"]
                            else "cites this dataset" if item["cites"] else "cited by this dataset")
    return sorted(found.values(), key=lambda item: (item["source"], item["accession"]))


def link_url(link: dict) -> str | None:
    """Where a cross-reference points: its own URL, else the resource's page for the id."""
    if link.get("url"):
        return link["url"]
    value = link["value"]
    if value.startswith(("http://", "https://")):
        return value
    pattern = LINK_PATTERNS.get(link["type"])
    return pattern.format(value) if pattern else None


def biostudies_files_url(accession: str) -> str | None:
    """The BioStudies FTP layout over HTTPS: ``S-BIAD/492/S-BIAD1492/Files`` (numbers
    below 100 live under ``S-BIAD/S-BIAD0-99/``)."""
    match = BIOSTUDIES_ACCESSION.match(accession)
    if not match:
        return None
    prefix, number = match.groups()
    folder = number[-3:] if int(number) >= 100 else f"{prefix}0-99"
    return f"https://ftp.ebi.ac.uk/biostudies/fire/{prefix}/{folder}/{accession}/Files/"


def downloads(record: Record) -> list[dict]:
    """Links to the data: the source page, the file store, the harvested source record."""
    acc, out = record.accession, []
    if record.source in ("bia", "jcb") and BIOSTUDIES_ACCESSION.match(acc):
        out.append({"label": "Study page in the BioImage Archive", "url": f"https://www.ebi.ac.uk/biostudies/bioimages/studies/{acc}"})
        out.append({"label": "All files (BioStudies FTP over HTTPS)", "url": biostudies_files_url(acc)})
    elif record.source == "empiar":
        number = acc.removeprefix("EMPIAR-")
        out.append({"label": "Entry page in EMPIAR", "url": f"https://www.ebi.ac.uk/empiar/{acc}/"})
        out.append({"label": "All files (EMPIAR FTP over HTTPS)", "url": f"https://ftp.ebi.ac.uk/empiar/world_availability/{number}/"})
    elif record.source == "idr":
        name = acc.split("-")[0]
        out.append({"label": "Study in the IDR", "url": f"https://idr.openmicroscopy.org/search/?query=Name:{name}"})
        out.append({"label": "All files (IDR FTP over HTTPS)", "url": "https://ftp.ebi.ac.uk/pub/databases/IDR/"})
    source_url = record.provenance.source_url if record.provenance else None
    if source_url and source_url.startswith(("http://", "https://")):
        out.append({"label": "The harvested source record", "url": source_url})
    return out


def dataset_jsonld(record: Record) -> dict:
    """The record as schema.org / Bioschemas JSON-LD (query/jsonld.py), with our public URLs."""
    return jsonld.dataset(record, site())


def jsonld_script(data: dict) -> str:
    """JSON for a ``<script type="application/ld+json">``: ``<``, ``>`` and ``&`` escaped so
    no value can close the script element."""
    text = orjson.dumps(data).decode()
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


__all__ = ["view", "linked_datasets", "link_url", "downloads", "dataset_jsonld", "jsonld_script"]
