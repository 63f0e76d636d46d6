"""Golden normalisation of every real IDR study file, and agreement with GIDE's RO-Crates.

Regenerate after a deliberate normaliser change with
``REGEN_GOLDEN=1 pytest tests/harvesters/test_idr_golden.py`` and review the diff.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.golden_files import write_golden

from harvesters.idr import MirrorIdrHarvester

FIXTURES = Path(__file__).parent.parent / "fixtures" / "idr"
STUDY_FILES = FIXTURES / "study_files"
EXPECTED = FIXTURES / "expected"
GIDE = FIXTURES / "gide"
ACCESSIONS = sorted(p.stem for p in EXPECTED.glob("*.json")) if not os.environ.get("REGEN_GOLDEN") else []
CRATES = sorted(p.name for p in GIDE.glob("*-ro-crate-metadata*.json"))

# Principled disagreements with GIDE, each with its reason.
# The study file marks these accessions' Term Source REF as GBIF: they are GBIF taxon keys,
# which GIDE wrote as NCBITaxon ids (NCBITaxon:4277188 is not "Scapania brevicaulis").
GBIF_KEYS_AS_NCBITAXON = {
    "idr0134": {f"NCBITaxon:{n}" for n in (4277175, 4277188, 4277193, 7420792, 7480007, 8087753, 8320028)},
}
# The study file's "Study Public Release Date" is empty: GIDE took the date from IDR's release
# table, which is not part of a study file.
NO_RELEASE_DATE_IN_FILE = {"idr0008", "idr0017", "idr0018", "idr0019", "idr0021", "idr0040"}
# The study file has no "Study License": GIDE filled in IDR's default licence.
NO_LICENCE_IN_FILE = {"idr0032", "idr0040"}
# The file says "CC BY-SA 3.0" and links the Human Protein Atlas licence page: a recognised
# licence gets its canonical URL; GIDE kept the page.
LICENCE_PAGE_NOT_CANONICAL = {"idr0043": "https://v18.proteinatlas.org/about/licence"}
# GIDE cites a publication DOI the study file does not give (its "Study DOI" is empty).
CITATION_NOT_IN_FILE = {"idr0040": {"10.15252/msb.20178024"}}


@pytest.fixture(scope="module")
def records() -> dict[str, dict]:
    harvester = MirrorIdrHarvester(STUDY_FILES)
    out = {}
    for ref in harvester.gather(None):
        record = harvester.normalise(harvester.fetch(ref)).record
        out[record.accession] = record.model_dump(mode="json", exclude={"provenance", "modified"})
    return out


def test_regenerate_when_asked(records):
    if not os.environ.get("REGEN_GOLDEN"):
        pytest.skip("set REGEN_GOLDEN=1 to rewrite the golden files")
    write_golden(records, EXPECTED)


def test_every_study_file_has_a_golden_file(records):
    if os.environ.get("REGEN_GOLDEN"):
        pytest.skip("regenerating")
    assert len(records) == len(list(STUDY_FILES.glob("*-study.txt"))) == 38
    assert set(ACCESSIONS) == set(records)


@pytest.mark.parametrize("accession", ACCESSIONS)
def test_golden(records, accession):
    expected = json.loads((EXPECTED / f"{accession}.json").read_text(encoding="utf-8"))
    assert records[accession] == expected


def _obo_ids(graph: dict, refs: list, prefix: str) -> set[str]:
    """obo ids among ``refs`` and, one level down, among the properties of local nodes they
    point at (a biosample's ``taxonomicRange``, a protocol's ``measurementTechnique``)."""
    found = set()
    for ref in refs if isinstance(refs, list) else [refs]:
        target = ref.get("@id", "") if isinstance(ref, dict) else str(ref)
        node = graph.get(target)
        if node is not None and target.startswith("#"):
            for key, value in node.items():
                if not key.startswith("@") and isinstance(value, list | dict):
                    found |= _obo_ids({}, value, prefix)
        for form in (f"obo:{prefix}_", f"http://purl.obolibrary.org/obo/{prefix}_"):
            if target.startswith(form):
                found.add(f"{prefix}:{target.removeprefix(form)}")
    return found


def _gide(name: str) -> dict:
    nodes = {n["@id"]: n for n in json.loads((GIDE / name).read_text(encoding="utf-8"))["@graph"]}
    accession = name[:7]
    dataset = next(n for n in nodes.values() if n.get("identifier") == accession)
    citations = [c["@id"] for c in dataset.get("citation", []) + dataset.get("seeAlso", []) if "doi.org/" in c["@id"]]
    return {
        "accession": accession,
        "name": " ".join(dataset["name"].split()),
        "date": dataset.get("datePublished"),
        "license": dataset.get("license"),
        "dois": {c.split("doi.org/", 1)[1].lower() for c in citations},
        "taxa": _obo_ids(nodes, dataset.get("about", []), "NCBITaxon"),
        "methods": _obo_ids(nodes, dataset.get("measurementMethod", []), "FBbi"),
    }


def test_gide_crates_cover_most_studies():
    assert len(CRATES) == 39 and len({name[:7] for name in CRATES}) == 37


@pytest.mark.parametrize("crate", CRATES)
def test_titles_organisms_and_methods_agree_with_gide(records, crate):
    gide = _gide(crate)
    mine = records[gide["accession"]]
    assert mine["title"] == gide["name"]
    taxa = gide["taxa"] - GBIF_KEYS_AS_NCBITAXON.get(gide["accession"], set())
    assert taxa <= {o["taxon_id"] for o in mine["organisms"]}
    assert gide["methods"] <= {m["fbbi_id"] for m in mine["imaging_methods"]}


@pytest.mark.parametrize("crate", CRATES)
def test_dates_licences_and_citations_agree_with_gide(records, crate):
    gide = _gide(crate)
    accession, mine = gide["accession"], records[gide["accession"]]
    assert mine["release_date"] == (None if accession in NO_RELEASE_DATE_IN_FILE else gide["date"])
    licence = (mine["license"] or {}).get("url")
    if accession in NO_LICENCE_IN_FILE:
        assert licence is None
    elif accession in LICENCE_PAGE_NOT_CANONICAL:
        assert gide["license"] == LICENCE_PAGE_NOT_CANONICAL[accession] and licence.startswith("https://creativecommons.org/")
    else:
        assert licence == gide["license"]
    dois = {p["doi"].lower() for p in mine["publications"] if p["doi"]}
    assert gide["dois"] - CITATION_NOT_IN_FILE.get(accession, set()) <= dois


def test_gbif_keys_are_not_read_as_ncbi_taxa(records):
    taxa = {o["taxon_id"] for o in records["idr0134"]["organisms"]}
    assert not taxa & GBIF_KEYS_AS_NCBITAXON["idr0134"]
    names = {o["name"] for o in records["idr0134"]["organisms"] if o["taxon_id"] is None}
    assert "Scapania brevicaulis" in names  # kept by name, GBIF 4277188 in the file
