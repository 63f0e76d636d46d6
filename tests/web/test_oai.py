"""OAI-PMH 2.0 at /oai, harvested over a real socket with the sickle client library, every
response validated against the OAI-PMH, oai_dc and DataCite kernel-4 schemas."""

from __future__ import annotations

import sqlite3
import time
from collections import Counter
from pathlib import Path

import pytest
import requests
from lxml import etree
from sickle import Sickle
from sickle import oaiexceptions

from harvesters.store import RecordStore
from tests.web.live import build_index, sample_settings_in, serving, set_changed_at

XSD = Path(__file__).parent.parent / "fixtures" / "oai" / "xsd"
OAI = "{http://www.openarchives.org/OAI/2.0/}"
NS = "bioimage-search.example.org"
DELETED = ("S-BIAD15", "S-BSST592")
PAGE = 4


def _schema() -> etree.XMLSchema:
    """One schema knowing the OAI-PMH envelope and both metadata formats (the envelope's
    metadata element is processContents="strict", so the payload is validated too)."""
    wrapper = f"""<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema" targetNamespace="urn:test:wrapper">
      <xs:import namespace="http://www.openarchives.org/OAI/2.0/" schemaLocation="{(XSD / 'OAI-PMH.xsd').as_uri()}"/>
      <xs:import namespace="http://www.openarchives.org/OAI/2.0/oai_dc/" schemaLocation="{(XSD / 'oai_dc.xsd').as_uri()}"/>
      <xs:import namespace="http://datacite.org/schema/kernel-4" schemaLocation="{(XSD / 'datacite' / 'metadata.xsd').as_uri()}"/>
    </xs:schema>"""
    return etree.XMLSchema(etree.fromstring(wrapper))


SCHEMA = _schema()


def _times(accessions: list[str]) -> dict[str, str]:
    """Day n of 2024 for the n-th record; the 3rd and 4th share a second (keyset ties)."""
    times = {acc: f"2024-01-{i + 1:02d}T10:00:00Z" for i, acc in enumerate(accessions)}
    times[accessions[3]] = times[accessions[2]]
    return times


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    settings = sample_settings_in(tmp_path_factory.mktemp("oai"))
    with RecordStore(settings.store_path) as store:
        accessions = sorted(r.accession for r in store.iter_records())
        store.mark_deleted(DELETED)
    times = _times(accessions)
    times.update({acc: "2024-02-01T12:00:00Z" for acc in DELETED})
    set_changed_at(settings, times)
    build_index(settings)
    settings.oai.list_size = PAGE
    settings.oai.token_secret = "test-secret"
    from web import create_app

    app = create_app(settings)
    with serving(app) as base:
        yield {"settings": settings, "app": app, "url": base + "/oai", "times": times, "accessions": accessions}


def get(env, **params) -> etree._Element:
    response = requests.get(env["url"], params=params, timeout=10)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/xml")
    doc = etree.fromstring(response.content)
    SCHEMA.assertValid(doc)
    return doc


def error_code(doc) -> str | None:
    error = doc.find(f"{OAI}error")
    return error.get("code") if error is not None else None


def harvest(env, verb="ListRecords", **params) -> list:
    sickle = Sickle(env["url"], timeout=10)
    return list(getattr(sickle, verb)(ignore_deleted=False, **params))


def _acc(identifier: str) -> str:
    assert identifier.startswith(f"oai:{NS}:")
    return identifier.removeprefix(f"oai:{NS}:")


@pytest.mark.parametrize("prefix", ["oai_dc", "oai_datacite"])
def test_sickle_harvests_every_record_exactly_once(env, prefix):
    records = harvest(env, metadataPrefix=prefix)
    counts = Counter(_acc(r.header.identifier) for r in records)
    assert set(counts) == set(env["accessions"]) and set(counts.values()) == {1}
    deleted = {_acc(r.header.identifier) for r in records if r.header.deleted}
    assert deleted == set(DELETED)
    for record in records:
        if record.header.deleted:
            assert getattr(record, "metadata", None) in (None, {})
        assert record.header.datestamp == env["times"][_acc(record.header.identifier)]
    live = next(r for r in records if _acc(r.header.identifier) == "S-BIAD1043")
    if prefix == "oai_dc":
        assert live.metadata["title"][0].startswith("HiTIPS")


def test_list_identifiers_pages_with_tokens_and_every_page_is_valid(env):
    token, pages, seen = None, 0, []
    while True:
        doc = get(env, verb="ListIdentifiers", **({"resumptionToken": token} if token else {"metadataPrefix": "oai_dc"}))
        pages += 1
        seen += [_acc(h.findtext(f"{OAI}identifier")) for h in doc.iter(f"{OAI}header")]
        element = doc.find(f".//{OAI}resumptionToken")
        if element is None or not element.text:
            break
        assert element.get("cursor") == str(len(seen) - PAGE) and element.get("expirationDate")
        token = element.text
    assert pages == -(-len(env["accessions"]) // PAGE)
    assert element is not None and element.text is None  # the last page of a list ends with an empty token
    assert sorted(seen) == sorted(env["accessions"])
    ordered = [(env["times"][a], a) for a in seen]
    assert ordered == sorted(ordered)  # datestamp order, accession breaks ties


def test_identify_formats_sets_and_get_record_are_valid(env):
    identify = get(env, verb="Identify")
    assert identify.findtext(f".//{OAI}earliestDatestamp") == "2024-01-01T10:00:00Z"
    assert identify.findtext(f".//{OAI}deletedRecord") == "persistent"
    formats = get(env, verb="ListMetadataFormats")
    assert [f.text for f in formats.iter(f"{OAI}metadataPrefix")] == ["oai_dc", "oai_datacite"]
    get(env, verb="ListMetadataFormats", identifier=f"oai:{NS}:S-BIAD1043")
    specs = [s.text for s in get(env, verb="ListSets").iter(f"{OAI}setSpec")]
    assert {"source", "source:bia", "organism:NCBITaxon_9606", "license:CC-BY-4.0"} <= set(specs)
    assert any(s.startswith("imaging_method:FBbi_") for s in specs)
    for prefix in ("oai_dc", "oai_datacite"):
        record = get(env, verb="GetRecord", identifier=f"oai:{NS}:S-BIAD1043", metadataPrefix=prefix)
        assert record.find(f".//{OAI}metadata") is not None
    gone = get(env, verb="GetRecord", identifier=f"oai:{NS}:{DELETED[0]}", metadataPrefix="oai_dc")
    header = gone.find(f".//{OAI}header")
    assert header.get("status") == "deleted" and gone.find(f".//{OAI}metadata") is None


def _members(env, predicate) -> set[str]:
    with RecordStore(env["settings"].store_path) as store:
        return {row.accession for row in store.iter_changes() if predicate(row.record)}


@pytest.mark.parametrize(
    "spec, predicate",
    [
        ("source:bia", lambda r: r.source == "bia"),
        ("organism:NCBITaxon_9606", lambda r: any(o.taxon_id == "NCBITaxon:9606" for o in r.organisms)),
        ("organism", lambda r: any(o.taxon_id for o in r.organisms)),
        ("license:CC-BY-4.0", lambda r: r.license is not None and r.license.name == "CC BY 4.0"),
        ("imaging_method:FBbi_00000253", lambda r: any(m.fbbi_id == "FBbi:00000253" for m in r.imaging_methods)),
    ],
)
def test_sets_filter(env, spec, predicate):
    expected = _members(env, predicate)
    assert expected, spec
    got = [_acc(h.identifier) for h in harvest(env, "ListIdentifiers", metadataPrefix="oai_dc", set=spec)]
    assert sorted(got) == sorted(expected)


def test_deleted_records_stay_in_their_sets(env):
    headers = harvest(env, "ListIdentifiers", metadataPrefix="oai_dc", set="source:bia")
    assert {_acc(h.identifier) for h in headers if h.deleted} == set(DELETED)


@pytest.mark.parametrize(
    "params, expected",
    [
        ({"from": "2024-01-05"}, lambda t: t >= "2024-01-05T00:00:00Z"),
        ({"until": "2024-01-05"}, lambda t: t <= "2024-01-05T23:59:59Z"),
        ({"from": "2024-01-03", "until": "2024-01-06"}, lambda t: "2024-01-03" <= t[:10] <= "2024-01-06"),
        ({"from": "2024-01-03T10:00:00Z", "until": "2024-01-05T10:00:00Z"}, lambda t: "2024-01-03T10:00:00Z" <= t <= "2024-01-05T10:00:00Z"),
        ({"from": "2024-01-03T10:00:01Z"}, lambda t: t > "2024-01-03T10:00:00Z"),
        ({"from": "2024-02-01"}, lambda t: t >= "2024-02-01"),
    ],
)
def test_from_and_until(env, params, expected):
    want = sorted(a for a, t in env["times"].items() if expected(t))
    got = sorted(_acc(h.identifier) for h in harvest(env, "ListIdentifiers", metadataPrefix="oai_dc", **params))
    assert got == want and got


ERRORS = [
    ({}, "badVerb"),
    ({"verb": "Explode"}, "badVerb"),
    ({"verb": ["Identify", "Identify"]}, "badVerb"),
    ({"verb": "Identify", "extra": "1"}, "badArgument"),
    ({"verb": "ListRecords"}, "badArgument"),
    ({"verb": "GetRecord", "identifier": f"oai:{NS}:S-BIAD1043"}, "badArgument"),
    ({"verb": "ListRecords", "metadataPrefix": "oai_dc", "from": "2024-13-01"}, "badArgument"),
    ({"verb": "ListRecords", "metadataPrefix": "oai_dc", "from": "2024-01-01", "until": "2024-01-02T00:00:00Z"}, "badArgument"),
    ({"verb": "ListRecords", "metadataPrefix": "oai_dc", "from": "2024-02-01", "until": "2024-01-01"}, "badArgument"),
    ({"verb": "ListRecords", "metadataPrefix": ["oai_dc", "oai_dc"]}, "badArgument"),
    ({"verb": "ListRecords", "metadataPrefix": "oai_dc", "set": "not a set"}, "badArgument"),
    ({"verb": "ListRecords", "metadataPrefix": "oai_dc", "resumptionToken": "x"}, "badArgument"),
    ({"verb": "ListRecords", "metadataPrefix": "marc21"}, "cannotDisseminateFormat"),
    ({"verb": "GetRecord", "identifier": f"oai:{NS}:S-BIAD1043", "metadataPrefix": "marc21"}, "cannotDisseminateFormat"),
    ({"verb": "GetRecord", "identifier": f"oai:{NS}:S-NOPE", "metadataPrefix": "oai_dc"}, "idDoesNotExist"),
    ({"verb": "GetRecord", "identifier": "oai:elsewhere.org:S-BIAD1043", "metadataPrefix": "oai_dc"}, "idDoesNotExist"),
    ({"verb": "ListMetadataFormats", "identifier": f"oai:{NS}:S-NOPE"}, "idDoesNotExist"),
    ({"verb": "ListRecords", "metadataPrefix": "oai_dc", "from": "2030-01-01"}, "noRecordsMatch"),
    ({"verb": "ListRecords", "metadataPrefix": "oai_dc", "set": "source:empiar"}, "noRecordsMatch"),
    ({"verb": "ListIdentifiers", "resumptionToken": "garbage"}, "badResumptionToken"),
    ({"verb": "ListSets", "resumptionToken": "anything"}, "badResumptionToken"),
]


@pytest.mark.parametrize("params, code", ERRORS)
def test_protocol_errors_come_back_in_a_200(env, params, code):
    doc = get(env, **params)
    assert error_code(doc) == code
    request = doc.find(f"{OAI}request")
    if code in ("badVerb", "badArgument"):
        assert dict(request.attrib) == {}
    assert request.text == env["url"]


def test_sickle_raises_the_protocol_errors(env):
    sickle = Sickle(env["url"], timeout=10)
    with pytest.raises(oaiexceptions.CannotDisseminateFormat):
        list(sickle.ListRecords(metadataPrefix="marc21"))
    with pytest.raises(oaiexceptions.IdDoesNotExist):
        sickle.GetRecord(identifier=f"oai:{NS}:S-NOPE", metadataPrefix="oai_dc")
    with pytest.raises(oaiexceptions.NoRecordsMatch):
        list(sickle.ListRecords(metadataPrefix="oai_dc", set="organism:NCBITaxon_1"))


def _first_token(env, verb="ListIdentifiers") -> tuple[list[str], str]:
    doc = get(env, verb=verb, metadataPrefix="oai_dc")
    return [_acc(h.findtext(f"{OAI}identifier")) for h in doc.iter(f"{OAI}header")], doc.find(f".//{OAI}resumptionToken").text


def test_tokens_are_signed_bound_to_their_verb_and_expire(env):
    _, token = _first_token(env)
    payload, signature = token.split(".")
    tampered = payload[:-2] + ("AA" if payload[-2:] != "AA" else "BB") + "." + signature
    for bad in (tampered, token + "x", token.replace(".", "")):
        assert error_code(get(env, verb="ListIdentifiers", resumptionToken=bad)) == "badResumptionToken"
    assert error_code(get(env, verb="ListRecords", resumptionToken=token)) == "badResumptionToken"
    repository = env["app"].extensions["oai_repository"]
    from query.site import Site

    later = repository.handle({"verb": ["ListIdentifiers"], "resumptionToken": [token]}, env["url"], Site(""), now=time.time() + 2 * 86400)
    doc = etree.fromstring(later)
    SCHEMA.assertValid(doc)
    assert error_code(doc) == "badResumptionToken" and "expired" in doc.findtext(f"{OAI}error")


def test_token_survives_an_index_swap_and_record_changes(env):
    first, token = _first_token(env)
    build_index(env["settings"])  # a new generation swapped in between two pages
    rest = []
    while token:
        doc = get(env, verb="ListIdentifiers", resumptionToken=token)
        rest += [_acc(h.findtext(f"{OAI}identifier")) for h in doc.iter(f"{OAI}header")]
        token = doc.find(f".//{OAI}resumptionToken").text
    assert sorted(first + rest) == sorted(env["accessions"])


def test_post_requests_are_answered_like_get(env):
    response = requests.post(env["url"], data={"verb": "Identify"}, timeout=10)
    assert response.status_code == 200
    SCHEMA.assertValid(etree.fromstring(response.content))


def test_store_migration_adds_change_times(tmp_path):
    path = tmp_path / "old.sqlite3"
    with RecordStore(path) as store:
        pass
    db = sqlite3.connect(path)
    db.execute("DROP INDEX records_changed")
    db.execute("ALTER TABLE records DROP COLUMN changed_at")
    db.execute("INSERT INTO records(accession, source, seq, harvested_at, record) VALUES ('S-X', 'bia', 1, '2023-05-01T00:00:00Z', NULL)")
    db.commit()
    db.close()
    with RecordStore(path) as store:
        assert [(r.accession, r.changed_at) for r in store.iter_changes()] == [("S-X", "2023-05-01T00:00:00Z")]
