"""Golden normalisation of every sample-store record, and agreement with GIDE's RO-Crates."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.golden_files import crate_summary, write_golden

from harvesters.store import RecordStore

FIXTURES = Path(__file__).parent.parent / "fixtures"
EXPECTED = FIXTURES / "bia" / "expected"
GIDE = FIXTURES / "gide"
ACCESSIONS = sorted(p.stem for p in EXPECTED.glob("*.json")) if not os.environ.get("REGEN_GOLDEN") else []


@pytest.fixture(scope="module")
def records(sample_settings):
    with RecordStore(sample_settings.store_path) as store:
        return {r.accession: r.model_dump(mode="json", exclude={"provenance", "modified"}) for r in store.iter_records()}


def test_regenerate_when_asked(records):
    if not os.environ.get("REGEN_GOLDEN"):
        pytest.skip("set REGEN_GOLDEN=1 to rewrite the golden files")
    write_golden(records, EXPECTED)


def test_every_sample_record_has_a_golden_file(records):
    assert len(ACCESSIONS) >= 15
    assert set(ACCESSIONS) == set(records)


@pytest.mark.parametrize("accession", ACCESSIONS)
def test_golden(records, accession):
    expected = json.loads((EXPECTED / f"{accession}.json").read_text())
    assert records[accession] == expected


def _gide(accession: str) -> dict:
    crate = json.loads((GIDE / f"{accession}-ro-crate-metadata.json").read_text())
    return crate_summary(crate, accession)


@pytest.mark.parametrize("accession", sorted(p.name.split("-ro-crate")[0] for p in GIDE.glob("*-ro-crate-metadata.json")))
def test_agrees_with_gide(records, accession):
    gide, mine = _gide(accession), records[accession]
    assert mine["title"] == gide["name"]
    assert mine["release_date"] == gide["date"]
    assert (mine["license"] or {}).get("url") == gide["license"]
    assert gide["taxa"] <= {o["taxon_id"] for o in mine["organisms"]}
    assert gide["methods"] <= {m["fbbi_id"] for m in mine["imaging_methods"]}
    assert gide["citations"] <= {p["doi"].lower() for p in mine["publications"] if p["doi"]}
