"""schema.org/Bioschemas JSON-LD and the GIDE RO-Crate profile of datasets, compared with the
GIDE RO-Crates of the same BIA studies (tests/fixtures/gide)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.golden_files import crate_summary

GIDE = Path(__file__).parent.parent / "fixtures" / "gide"
GIDE_ACCESSIONS = sorted(p.name.split("-ro-crate")[0] for p in GIDE.glob("*-ro-crate-metadata.json"))
LD = "application/ld+json"


def ld(client, url, **headers):
    response = client.get(url, headers=headers)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.mimetype == LD
    return response.get_json()


def test_accept_header_and_jsonld_url_give_the_same_dataset(client):
    by_accept = ld(client, "/api/v1/datasets/S-BIAD1043", Accept=LD)
    by_url = ld(client, "/api/v1/datasets/S-BIAD1043.jsonld")
    assert by_accept == by_url
    assert by_url["@type"] == "Dataset" and by_url["@context"]["@vocab"] == "https://schema.org/"


@pytest.mark.parametrize("accept", [None, "*/*", "application/json", "application/json, application/ld+json;q=0.5", "text/html"])
def test_default_json_response_is_unchanged(client, accept):
    response = client.get("/api/v1/datasets/S-BIAD1043", headers={"Accept": accept} if accept else {})
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert set(body) == {"data", "meta"} and body["data"]["accession"] == "S-BIAD1043"


def test_dataset_fields(client, app):
    doc = ld(client, "/api/v1/datasets/S-BIAD1043.jsonld")
    record = client.get("/api/v1/datasets/S-BIAD1043").get_json()["data"]
    assert doc["name"] == record["title"] and doc["description"] == record["description"]
    assert "S-BIAD1043" in doc["identifier"]
    assert doc["url"].endswith("/datasets/S-BIAD1043") and doc["@id"] == doc["url"]
    assert doc["datePublished"] == record["release_date"]
    assert doc["license"] == "https://creativecommons.org/licenses/by/4.0/"
    assert doc["keywords"] == record["keywords"]
    assert [c["name"] for c in doc["creator"]] == [a["name"] for a in record["authors"]]
    assert {"@id": "http://purl.obolibrary.org/obo/NCBITaxon_9606"}.items() <= doc["about"][0].items()
    assert doc["measurementMethod"][0]["@id"] == "http://purl.obolibrary.org/obo/FBbi_00000253"
    assert doc["citation"][0]["@id"] == "https://doi.org/10.1038/s41598-024-66600-1"
    assert doc["isPartOf"] == {"@type": "DataCatalog", "name": "BioImage Archive", "url": "https://www.ebi.ac.uk/bioimage-archive/"}
    assert doc["sameAs"] == ["https://www.ebi.ac.uk/biostudies/bioimages/studies/S-BIAD1043"]
    assert {d["@type"] for d in doc["distribution"]} == {"DataDownload"}


def test_creators_carry_orcid_ids(client):
    record = client.get("/api/v1/datasets/S-BIAD1492").get_json()["data"]
    orcids = {a["orcid"] for a in record["authors"] if a["orcid"]}
    assert orcids
    doc = ld(client, "/api/v1/datasets/S-BIAD1492.jsonld")
    assert {c["@id"] for c in doc["creator"] if "@id" in c} == {f"https://orcid.org/{o}" for o in orcids}


def test_every_sample_record_serialises(client):
    hits = client.get("/api/v1/search?pageSize=100&fields=accession").get_json()["data"]["hits"]
    for hit in hits:
        doc = ld(client, f"/api/v1/datasets/{hit['accession']}.jsonld")
        json.dumps(doc)
        for about in doc.get("about", []):
            assert "@id" not in about or about["@id"].startswith("http://purl.obolibrary.org/obo/NCBITaxon_")
        crate = ld(client, f"/api/v1/datasets/{hit['accession']}/ro-crate")
        ids = [n["@id"] for n in crate["@graph"]]
        assert len(ids) == len(set(ids))


@pytest.mark.parametrize("url, status", [
    ("/api/v1/datasets/S-NOPE999.jsonld", 404),
    ("/api/v1/datasets/S-NOPE999/ro-crate", 404),
    ("/api/v1/datasets/S-BIAD1043.jsonld?profile=nonsense", 400),
])
def test_errors_keep_the_one_error_shape(client, url, status):
    response = client.get(url)
    assert response.status_code == status and set(response.get_json()) == {"error"}


_summary = crate_summary  # shared with the golden tests


@pytest.mark.parametrize("accession", GIDE_ACCESSIONS)
def test_our_crate_agrees_with_gide(client, accession):
    gide = _summary(json.loads((GIDE / f"{accession}-ro-crate-metadata.json").read_text()), accession)
    ours = _summary(ld(client, f"/api/v1/datasets/{accession}/ro-crate"), accession)
    assert ours["name"] == gide["name"]
    assert ours["date"] == gide["date"]
    assert ours["license"] == gide["license"]
    assert gide["taxa"] <= ours["taxa"]
    assert gide["methods"] <= ours["methods"]
    assert gide["citations"] <= ours["citations"]


def test_gide_profile_by_parameter_is_the_crate(client):
    assert ld(client, "/api/v1/datasets/S-BIAD1492.jsonld?profile=gide") == ld(client, "/api/v1/datasets/S-BIAD1492/ro-crate")
    crate = ld(client, "/api/v1/datasets/S-BIAD1492/ro-crate")
    descriptor = crate["@graph"][0]
    assert descriptor["@id"] == "ro-crate-metadata.json"
    assert descriptor["about"] == {"@id": "https://www.ebi.ac.uk/biostudies/bioimages/studies/S-BIAD1492"}
    assert crate["@context"][0] == "https://w3id.org/ro/crate/1.2/context"
