"""The IDR JSON API harvester over a real local HTTP server: offset/limit paging, study map
annotations in both namespaces, retries, truncated bodies, studies that vanish mid-run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from werkzeug import Response

from harvesters.base import run_harvest
from harvesters.http import HttpClient
from harvesters.idr import ApiIdrHarvester, MirrorIdrHarvester
from harvesters.store import RecordStore

FIXTURES = Path(__file__).parent.parent / "fixtures" / "idr"
API = FIXTURES / "api"
OLD_NS, NEW_NS = "openmicroscopy.org/idr/study", "idr.openmicroscopy.org/study/info"
IDR0038 = json.loads((API / "idr0038_projects_and_annotations.CONSTRUCTED.json").read_text(encoding="utf-8"))


def _screen(screen_id: int, name: str) -> dict:
    return {"@id": screen_id, "@type": "http://www.openmicroscopy.org/Schemas/OME/2016-06#Screen", "Name": name, "Description": "", "omero:details": {}}


def _annotations(values: list, ns: str = NEW_NS) -> dict:
    return {"annotations": [{"id": 1, "ns": ns, "values": values}], "experimenters": []}


def _screen102(year: int) -> dict:
    return json.loads((API / f"screen102_map_annotations_{year}.CONSTRUCTED.json").read_text(encoding="utf-8"))


SCREENS = [
    _screen(102, "idr0002-heriche-condensation/screenA"),
    _screen(901, "idr0901-constructed-flaky/screenA"),
    _screen(902, "idr0902-constructed-truncated/screenA"),
    _screen(903, "idr0903-constructed-vanished/screenA"),
    _screen(950, "not an IDR study"),
]
FLAKY = _annotations([["Study Title", "A study served after a 429 and a 500"], ["Organism", "Mus musculus"]])


class FakeIdr:
    """An IDR server: paged listings, per-object annotations, and scripted faults."""

    def __init__(self, httpserver, annotations_102: dict):
        self.listing_calls: list[tuple[str, int]] = []
        self.faults = {"901": [(429, "slow down", {"Retry-After": "7"}), (500, "oops", {})]}
        self.by_object = {("screen", "102"): annotations_102, ("screen", "901"): FLAKY}
        self.by_object.update({("project", pid): body for pid, body in IDR0038["annotations"].items()})
        for kind in ("projects", "screens"):
            httpserver.expect_request(f"/api/v0/m/{kind}/").respond_with_handler(self.listing)
        httpserver.expect_request("/webclient/api/annotations/").respond_with_handler(self.annotations)

    def listing(self, request) -> Response:
        kind = request.path.rstrip("/").rsplit("/", 1)[1]
        offset, limit = int(request.args["offset"]), int(request.args["limit"])
        self.listing_calls.append((kind, offset))
        objects = IDR0038["projects"] if kind == "projects" else SCREENS
        body = {"data": objects[offset : offset + limit], "meta": {"offset": offset, "limit": limit, "maxLimit": 500, "totalCount": len(objects)}}
        return Response(json.dumps(body), content_type="application/json")

    def annotations(self, request) -> Response:
        assert request.args["type"] == "map"
        kind = "screen" if "screen" in request.args else "project"
        object_id = request.args[kind]
        if self.faults.get(object_id):
            status, text, headers = self.faults[object_id].pop(0)
            return Response(text, status=status, headers=headers)
        if object_id == "902":
            return Response('{"annotations": [{"ns": "idr.openmicroscopy.org/stu', content_type="application/json")
        if (kind, object_id) not in self.by_object:
            return Response('{"message": "not found"}', status=404, content_type="application/json")
        return Response(json.dumps(self.by_object[(kind, object_id)]), content_type="application/json")


def _harvester(httpserver, waits: list | None = None, page_size: int = 2) -> ApiIdrHarvester:
    client = HttpClient(timeout=5, retries=3, backoff=1.0, sleep=(waits.append if waits is not None else lambda s: None))
    return ApiIdrHarvester(httpserver.url_for("/"), client, page_size=page_size)


def test_pages_fetches_retries_and_records_errors_then_a_second_run_changes_nothing(httpserver, tmp_path):
    server, waits = FakeIdr(httpserver, _screen102(2022)), []
    with RecordStore(tmp_path / "s.sqlite3") as store:
        summary = run_harvest(_harvester(httpserver, waits), store)
        assert summary.status == "partial", summary.line()
        assert (summary.counts["added"], summary.counts["errored"]) == (3, 2)
        assert sorted(r.accession for r in store.iter_records()) == ["idr0002", "idr0038", "idr0901"]
        assert ("projects", 2) in server.listing_calls and ("screens", 4) in server.listing_calls
        assert waits == [7.0, 2.0]  # Retry-After, then exponential backoff after the 500

        errors = {e["accession"]: e for e in store.errors()}
        assert errors["idr0902"]["stage"] == "fetch" and "invalid JSON" in errors["idr0902"]["message"]
        assert errors["idr0902"]["source_url"].endswith("/webclient/api/annotations/?type=map&screen=902")
        assert errors["idr0903"]["stage"] == "fetch" and "HTTP 404" in errors["idr0903"]["message"]
        assert "listed by gather is gone" in errors["idr0903"]["message"]
        assert store.get("idr0901").organisms[0].taxon_id == "NCBITaxon:10090"

        again = run_harvest(_harvester(httpserver), store)
        assert (again.counts["unchanged"], again.counts["errored"], again.counts["added"], again.counts["updated"]) == (3, 2, 0, 0)


def test_failed_listing_fails_the_run_and_deletes_nothing(httpserver, tmp_path):
    FakeIdr(httpserver, _screen102(2022))
    with RecordStore(tmp_path / "s.sqlite3") as store:
        run_harvest(_harvester(httpserver), store)
        httpserver.clear()
        httpserver.expect_request("/api/v0/m/projects/").respond_with_data("down", status=503)
        summary = run_harvest(_harvester(httpserver), store, full=True)
        assert summary.status == "failed" and summary.counts["deleted"] == 0
        assert store.count_by_source() == {"idr": 3}


def _harvest_one_screen(httpserver, tmp_path, annotations: dict):
    httpserver.expect_request("/api/v0/m/projects/").respond_with_json({"data": [], "meta": {"totalCount": 0}})
    httpserver.expect_request("/api/v0/m/screens/").respond_with_json({"data": SCREENS[:1], "meta": {"totalCount": 1}})
    httpserver.expect_request("/webclient/api/annotations/", query_string="type=map&screen=102").respond_with_json(annotations)
    with RecordStore(tmp_path / "s.sqlite3") as store:
        summary = run_harvest(_harvester(httpserver, page_size=50), store)
        assert summary.status == "ok", summary.line()
        return store.get("idr0002")


PUBLICATION = "Integration of biological data by kernels on graph nodes allows prediction of new genes involved in mitotic chromosome condensation."


@pytest.mark.parametrize("year", [2016, 2017, 2022])
def test_screen102_study_annotations_of_every_vintage(httpserver, tmp_path, year):
    record = _harvest_one_screen(httpserver, tmp_path, _screen102(year))
    publication = record.publications[0]
    assert (publication.doi, publication.pubmed_id, publication.pmc_id) == ("10.1091/mbc.E13-04-0221", "24943848", "PMC4142622")
    assert len(record.authors) == 16 and record.authors[-1].name == "Ellenberg J"
    assert {link.type for link in record.links} >= {"doi", "pubmed", "pmc"}
    screen = record.study_components[0]
    assert (screen.kind, screen.name) == ("screen", "idr0002-heriche-condensation/screenA")
    if year == 2016:  # publication keys only: the title falls back to the publication's
        assert record.title == PUBLICATION and record.imaging_methods == [] and record.organisms == []
    else:
        assert [m.fbbi_id for m in record.imaging_methods] == ["FBbi:00000246"]
        assert record.study_type == ["high content screen"]
        assert (screen.attributes["Screen Type"], screen.attributes["Technology Type"]) == ("primary screen", "RNAi screen")
    if year == 2022:
        assert record.title == "Focused mitotic chromsome condensaton screen using HeLa cells"
        assert [o.taxon_id for o in record.organisms] == ["NCBITaxon:9606"]
        assert (record.license.name, record.license.url) == ("CC BY 4.0", "https://creativecommons.org/licenses/by/4.0/")
        assert record.release_date == "2016-05-26" and screen.attributes["Sample Type"] == "cell"
        assert record.authors[0].name == "Hériché JK"


def test_newer_namespace_wins_and_other_annotations_are_ignored(httpserver, tmp_path):
    body = _screen102(2022)
    body["annotations"] += [
        {"id": 2, "ns": OLD_NS, "values": [["Study Title", "stale title from the old namespace"]]},
        {"id": 3, "ns": "openmicroscopy.org/omero/client/mapAnnotation", "values": [["Study Title", "a user's note"]]},
    ]
    record = _harvest_one_screen(httpserver, tmp_path, body)
    assert record.title == "Focused mitotic chromsome condensaton screen using HeLa cells"


def test_api_and_study_file_give_the_same_study(httpserver, tmp_path):
    """idr0038's map annotations were built from its study file the way IDR's pyidr does."""
    FakeIdr(httpserver, _screen102(2022))
    with RecordStore(tmp_path / "s.sqlite3") as store:
        run_harvest(_harvester(httpserver), store)
        api = store.get("idr0038")
    mirror = MirrorIdrHarvester(FIXTURES / "study_files", study_ids=["idr0038"])
    from_file = mirror.normalise(mirror.fetch(next(iter(mirror.gather(None))))).record
    for field in ("title", "description", "release_date", "doi", "license", "study_type", "publications", "organisms"):
        assert getattr(api, field) == getattr(from_file, field), field
    assert [a.name for a in api.authors] == ["Held M", "Santeramo I", "Wilm B", "Murray P", "Lévy R"]
    assert [(c.kind, c.name, c.attributes["Data DOI"]) for c in api.study_components] == [
        (c.kind, c.name, c.attributes["Data DOI"]) for c in from_file.study_components
    ]
    # Without the FBbi accession of the file, the free text maps to its own FBbi term.
    assert [m.fbbi_id for m in from_file.imaging_methods] == ["FBbi:00000364"]
    assert [m.fbbi_id for m in api.imaging_methods] == ["FBbi:00000369"]
