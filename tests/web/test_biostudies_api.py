"""The BioStudies-compatible API over a real socket. No public BioStudies *search* client is
on PyPI (biostudies-client wraps the authenticated submission API; bia-integrator-api is a
different API), so clients are plain requests and, the strongest check, our own BioStudies
harvester (ApiArchiveHarvester) pointed at our server: harvesting ourselves must reproduce
the same records and file rows."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import orjson
import pytest
import requests

from bioimage_search.config import SAMPLE_STORE
from harvesters.archive import ApiArchiveHarvester
from harvesters.base import run_harvest
from harvesters.http import HttpClient
from harvesters.pagetab import parse_submission
from harvesters.pagetab_records import submission_to_record
from harvesters.records import FileRow, Record
from harvesters.store import RecordStore
from query.pagetab_out import record_pagetab, submission_json
from tests.web.live import serving

FIXTURES = Path(__file__).parent.parent / "fixtures"
HIT_KEYS = {"accession", "type", "title", "author", "links", "files", "release_date", "views", "isPublic", "content"}


@pytest.fixture(scope="module")
def base(app):
    with serving(app) as url:
        yield url + "/biostudies"


def get(url, status=200, **params):
    response = requests.get(url, params=params, timeout=10)
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"].startswith("application/json")
    return response.json()


def test_search_has_the_biostudies_shape(base):
    body = get(f"{base}/api/v1/BioImages/search", query="cell", page=1, pageSize=5)
    assert {"page", "pageSize", "totalHits", "isTotalHitsExact", "sortBy", "sortOrder", "hits", "facets"} <= set(body)
    assert body["isTotalHitsExact"] is True and body["page"] == 1 and body["pageSize"] == 5
    assert 0 < len(body["hits"]) <= 5
    for hit in body["hits"]:
        assert set(hit) == HIT_KEYS and hit["type"] == "study" and hit["isPublic"] is True
        assert isinstance(hit["files"], int) and isinstance(hit["links"], int) and isinstance(hit["author"], str)
    facet = body["facets"][0]
    assert {"title", "name", "type", "children"} <= set(facet) and {"name", "value", "hits"} <= set(facet["children"][0])


def test_totals_are_exact_and_collections_map_to_sources(base, client):
    ours = client.get("/api/v1/search?pageSize=1").get_json()["data"]["totalHits"]
    assert get(f"{base}/api/v1/search", pageSize=1)["totalHits"] == ours
    assert get(f"{base}/api/v1/BioImages/search", pageSize=1)["totalHits"] == ours
    assert get(f"{base}/api/v1/bioimages/search", pageSize=1)["totalHits"] == ours
    for collection, source in (("BIA", "bia"), ("EMPIAR", "empiar"), ("jcb", "jcb")):
        expected = client.get(f"/api/v1/search?facet.source={source}").get_json()["data"]["totalHits"]
        assert get(f"{base}/api/v1/{collection}/search")["totalHits"] == expected
    assert get(f"{base}/api/v1/EMPIAR/search", **{"facet.source": "bia"})["totalHits"] == 0  # a collection never widens
    assert get(f"{base}/api/v1/Nonsense/search", status=404)["error"]["code"] == "not_found"


def test_paging_sorting_and_facets(base):
    total = get(f"{base}/api/v1/search", pageSize=1)["totalHits"]
    pages = [get(f"{base}/api/v1/search", page=p, pageSize=10, sortBy="release_date", sortOrder="ascending")["hits"] for p in range(1, total // 10 + 2)]
    hits = [h for page in pages for h in page]
    assert len({h["accession"] for h in hits}) == len(hits) == total >= 28
    dates = [h["release_date"] for h in hits if h["release_date"]]
    assert dates == sorted(dates)
    human = get(f"{base}/api/v1/BioImages/search", **{"facet.bioimages.organism": "NCBITaxon:9606"})
    same = get(f"{base}/api/v1/BioImages/search", **{"facet.organism": "NCBITaxon:9606"})
    assert human["totalHits"] == same["totalHits"] > 0


def test_terms_are_anded_and_bad_parameters_are_errors(base):
    one = {h["accession"] for h in get(f"{base}/api/v1/search", query="zebrafish", pageSize=100)["hits"]}
    both = {h["accession"] for h in get(f"{base}/api/v1/search", query="zebrafish toxicity", pageSize=100)["hits"]}
    assert both <= one
    assert get(f"{base}/api/v1/search", status=400, sortBy="views")["error"]["param"] == "sortBy"
    assert get(f"{base}/api/v1/search", status=400, **{"facet.colour": "red"})["error"]["code"] == "invalid_parameter"


def test_study_is_the_pagetab_json_we_harvested(base):
    response = requests.get(f"{base}/api/v1/studies/S-BIAD1492", timeout=10)
    assert response.status_code == 200
    assert response.content == (SAMPLE_STORE / "S-BIAD1492" / "S-BIAD1492.json").read_bytes()
    assert get(f"{base}/api/v1/studies/S-NOPE999", status=404)["error"]["code"] == "not_found"
    assert get(f"{base}/api/v1/studies/S-NOPE999/info", status=404)["error"]["code"] == "not_found"
    assert get(f"{base}/api/v1/files/S-NOPE999", status=404)["error"]["code"] == "not_found"


def test_info(base, client):
    record = client.get("/api/v1/datasets/S-BIAD1492").get_json()["data"]
    info = get(f"{base}/api/v1/studies/S-BIAD1492/info")
    assert info["files"] == record["file_count"] > 0
    assert info["relPath"] == "S-BIAD/492/S-BIAD1492" and info["isPublic"] is True
    assert info["httpLink"] == f"{base}/files/S-BIAD1492" and "ftpLink" in info
    released = datetime.fromtimestamp(info["released"] / 1000, timezone.utc).date().isoformat()
    assert released == record["release_date"]
    assert isinstance(info["modified"], int)
    assert [c["name"] for c in info["columns"]][:3] == ["Name", "Size", "Section"]


def test_file_listing_in_the_datatables_shape(base, client):
    total = client.get("/api/v1/datasets/S-BIAD1492").get_json()["data"]["file_count"]
    page = get(f"{base}/api/v1/files/S-BIAD1492", start=2, length=5, draw=3)
    assert (page["recordsTotal"], page["recordsFiltered"], page["draw"]) == (total, total, 3)
    everything = get(f"{base}/api/v1/files/S-BIAD1492", start=0, length=100)["data"]
    assert page["data"] == everything[2:7] and len(everything) == total
    assert {"path", "Name", "Size", "Section"} <= set(everything[0])
    assert get(f"{base}/api/v1/files/S-BIAD1492", status=400, start=-1)["error"]["param"] == "start"


def test_length_is_capped_at_1000(tmp_path, sample_settings):
    from web import create_app

    with RecordStore(sample_settings.store_path) as store:
        record = store.get("S-BIAD1492").model_copy(update={"accession": "S-BIG1", "file_count": 2500})
        raw = store.raw("S-BIAD1492")[0]
    settings = type(sample_settings)(base_dir=tmp_path)
    settings.paths.data_dir = str(tmp_path)
    with RecordStore(settings.store_path) as store, store.transaction() as db:
        store.save_record(db, record, raw, "hash")
        store.replace_files(db, "S-BIG1", (FileRow(accession="S-BIG1", path=f"f{i}.tif", size=i) for i in range(2500)))
    client = create_app(settings).test_client()
    body = client.get("/biostudies/api/v1/files/S-BIG1?start=1200&length=5000").get_json()
    assert body["recordsTotal"] == 2500 and len(body["data"]) == 1000
    assert body["data"][0]["path"] == "f1200.tif"


def test_our_harvester_reproduces_our_records_from_our_compat_api(base, sample_settings, tmp_path):
    client = HttpClient(timeout=10, retries=0, sleep=lambda s: None)
    harvester = ApiArchiveHarvester(base, "BIA", client, page_size=7)
    with RecordStore(tmp_path / "mirror.sqlite3") as mirror, RecordStore(sample_settings.store_path) as original:
        ours = {r.accession: r for r in original.iter_records("bia")}
        summary = run_harvest(harvester, mirror, full=True)
        assert summary.counts["added"] == len(ours) >= 28, summary.line()
        assert {e.stage for e in summary.errors} <= {"files"}  # the file lists the sample lacks
        theirs = {r.accession: r for r in mirror.iter_records()}
        assert set(theirs) == set(ours)
        for accession, record in ours.items():
            assert theirs[accession].content_fingerprint() == record.content_fingerprint(), accession
        assert list(mirror.iter_files("S-BIAD1492")) == list(original.iter_files("S-BIAD1492"))
        assert theirs["S-BIAD1492"].file_count == ours["S-BIAD1492"].file_count > 0


def test_pagetab_xml_and_tsv_become_equivalent_json():
    formats = FIXTURES / "pagetab" / "formats"
    for name, fmt in (("S-ACC-TEST.xml", "xml"), ("S-ACC-TEST.pagetab.tsv", "tsv")):
        submission = parse_submission((formats / name).read_bytes(), fmt)
        again = parse_submission(orjson.dumps(submission_json(submission)), "json")
        assert submission_to_record(again) == submission_to_record(submission)


@pytest.mark.parametrize("path", sorted((FIXTURES / "empiar" / "expected").glob("EMPIAR-*.json")), ids=lambda p: p.stem)
def test_records_of_other_sources_render_as_readable_pagetab(path):
    record = Record.model_validate(orjson.loads(path.read_bytes()))
    again = submission_to_record(parse_submission(orjson.dumps(record_pagetab(record)), "json"), record.source)
    assert (again.accession, again.title, again.release_date, again.doi) == (record.accession, record.title, record.release_date, record.doi)
    assert [a.name for a in again.authors] == [a.name for a in record.authors]
    assert [a.orcid for a in again.authors] == [a.orcid for a in record.authors]
    assert {o.taxon_id for o in again.organisms} == {o.taxon_id for o in record.organisms}
    assert {m.fbbi_id for m in again.imaging_methods} == {m.fbbi_id for m in record.imaging_methods}
    assert {p.doi for p in again.publications} == {p.doi for p in record.publications}
