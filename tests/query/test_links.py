"""Links across resources, both ways, and search by any linked identifier."""

from __future__ import annotations

import pytest

from harvesters.records import Link, Publication, Record
from harvesters.store import RecordStore
from indexer.builder import full_build
from query.params import parse_search_params
from query.service import NotFoundError, SearchService


def save(store, record):
    with store.transaction() as db:
        store.save_record(db, record, b"{}", "h")


@pytest.fixture()
def service(tmp_path):
    with RecordStore(tmp_path / "s.sqlite3") as store:
        save(store, Record(accession="S-BIAD900", source="bia", title="Correlative light and EM of cells", doi="10.6019/S-BIAD900",
                           links=[Link(type="empiar", value="EMPIAR-10442"), Link(type="emdb", value="EMD-1234")],
                           publications=[Publication(doi="10.1038/s41586-020-0001-1")]))
        save(store, Record(accession="EMPIAR-10442", source="empiar", title="Tomograms of the same cells",
                           links=[Link(type="biostudies", value="S-BIAD900"), Link(type="emdb", value="EMD-1234")]))
        save(store, Record(accession="idr0099", source="idr", title="A screen citing the BIA DOI",
                           links=[Link(type="doi", value="10.6019/S-BIAD900", url="https://doi.org/10.6019/S-BIAD900")]))
        save(store, Record(accession="S-BIAD901", source="bia", title="Unrelated"))
        full_build(store, tmp_path / "index")
    return SearchService(tmp_path / "index", tmp_path / "s.sqlite3")


def test_outbound_links_resolve_to_records_we_hold(service):
    links = service.links("S-BIAD900")
    outbound = {(item["type"], item["value"]): item["record"] for item in links["outbound"]}
    assert outbound[("empiar", "EMPIAR-10442")] == {"accession": "EMPIAR-10442", "title": "Tomograms of the same cells", "source": "empiar"}
    assert outbound[("emdb", "EMD-1234")] is None  # cited, but not a record of ours


def test_inbound_links_by_accession_and_dataset_doi(service):
    inbound = service.links("S-BIAD900")["inbound"]
    assert [(i["accession"], i["source"], i["via"]) for i in inbound] == [
        ("EMPIAR-10442", "empiar", "s-biad900"),
        ("idr0099", "idr", "10.6019/s-biad900"),
    ]
    assert service.links("S-BIAD901")["inbound"] == []
    with pytest.raises(NotFoundError):
        service.links("S-NOPE")


@pytest.mark.parametrize(
    "query, expected",
    [
        ("xref:EMD-1234", {"S-BIAD900", "EMPIAR-10442"}),
        ("xref:emd-1234", {"S-BIAD900", "EMPIAR-10442"}),
        ("xref:EMPIAR-10442", {"S-BIAD900", "EMPIAR-10442"}),
        ('doi:"10.1038/s41586-020-0001-1"', {"S-BIAD900"}),
        ("xref:10.6019/S-BIAD900", {"S-BIAD900", "idr0099"}),
    ],
)
def test_search_by_linked_identifier(service, query, expected):
    result = service.search(parse_search_params({"query": [query]}))
    assert {h["accession"] for h in result["hits"]} == expected
