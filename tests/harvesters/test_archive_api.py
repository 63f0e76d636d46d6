"""The archive harvester against a real HTTP server replaying BioStudies API responses."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from werkzeug import Response

from bioimage_search.config import SAMPLE_STORE
from harvesters.archive import ApiArchiveHarvester
from harvesters.base import run_harvest
from harvesters.http import FetchError, HttpClient
from harvesters.store import RecordStore

API = Path(__file__).parent.parent / "fixtures" / "bia_api"
STUDIES = ["S-BIAD1043", "S-BIAD1492", "S-BIAD954", "S-BROKEN", "S-GONE"]


def _info(httpserver, accession: str, modified: int) -> dict:
    info = json.loads((API / "S-BIADTEST_INFO.json").read_text())
    info.update(httpLink=httpserver.url_for(f"/fire/{accession}"), modified=modified, released=1717977600000)
    return info


def _search_page(page: int, size: int) -> dict:
    body = json.loads((API / "search_empty_result.json").read_text())
    hits = [{"accession": acc, "type": "study", "title": acc, "isPublic": True} for acc in STUDIES]
    body.update(page=page, pageSize=size, totalHits=len(hits), hits=hits[(page - 1) * size : page * size])
    return body


@pytest.fixture()
def archive(httpserver):
    """Serve the sample studies, their info and one file list; S-BROKEN always fails, S-GONE is a 404."""
    state = {"modified": 1719178151723, "calls": []}

    def search(request):
        page, size = int(request.args["page"]), int(request.args["pageSize"])
        return Response(json.dumps(_search_page(page, size)), content_type="application/json")

    def study(request):
        acc = request.path.split("/")[4]
        state["calls"].append(request.path)
        if acc == "S-BROKEN":
            return Response("upstream trouble", status=503)
        if acc == "S-GONE":
            return Response((API / "studies_not_found_404_body.json").read_text(), status=404, content_type="application/json")
        if request.path.endswith("/info"):
            return Response(json.dumps(_info(httpserver, acc, state["modified"])), content_type="application/json")
        return Response((SAMPLE_STORE / acc / f"{acc}.json").read_bytes(), content_type="application/json")

    def file_list(request):
        name = request.path.rsplit("/", 1)[1]
        return Response((SAMPLE_STORE / "S-BIAD1492" / "Files" / name).read_bytes(), content_type="application/json")

    httpserver.expect_request("/api/v1/BioImages/search").respond_with_handler(search)
    for acc in STUDIES:
        httpserver.expect_request(f"/api/v1/studies/{acc}").respond_with_handler(study)
        httpserver.expect_request(f"/api/v1/studies/{acc}/info").respond_with_handler(study)
    for name in ("bbc024_images.json", "bbc024_masks.json"):
        httpserver.expect_request(f"/fire/S-BIAD1492/Files/{name}").respond_with_handler(file_list)
    return state


def harvester(httpserver) -> ApiArchiveHarvester:
    client = HttpClient(timeout=5, retries=2, sleep=lambda seconds: None)
    return ApiArchiveHarvester(httpserver.url_for("/"), "BioImages", client, page_size=2)


def test_harvest_over_http_pages_fetches_and_records_errors(httpserver, archive, tmp_path):
    with RecordStore(tmp_path / "store.sqlite3") as store:
        summary = run_harvest(harvester(httpserver), store)
        assert summary.counts["added"] == 3
        assert summary.counts["errored"] == 2
        assert summary.status == "partial"
        errors = {e["accession"]: e for e in store.errors()}
        assert errors["S-BROKEN"]["stage"] == "fetch" and "503" in errors["S-BROKEN"]["message"]
        assert errors["S-GONE"]["stage"] == "fetch" and "404" in errors["S-GONE"]["message"]
        assert errors["S-BROKEN"]["source_url"].endswith("/api/v1/studies/S-BROKEN")

        record = store.get("S-BIAD1492")
        assert record.file_count > 0 and record.modified == "2024-06-23T21:29:11Z"
        assert record.provenance.source_url.endswith("/api/v1/studies/S-BIAD1492")
        assert record.file_count == sum(1 for _ in store.iter_files("S-BIAD1492"))
        assert store.get("S-BIAD1043").title.startswith("HiTIPS")


def test_incremental_run_skips_unmodified_and_refetches_modified(httpserver, archive, tmp_path):
    with RecordStore(tmp_path / "store.sqlite3") as store:
        run_harvest(harvester(httpserver), store)
        archive["calls"].clear()
        again = run_harvest(harvester(httpserver), store)
        assert again.counts["unchanged"] == 3 and again.counts["added"] == 0, again.line()
        fetched = [c for c in archive["calls"] if not c.endswith("/info") and "S-BIAD" in c]
        assert fetched == []  # the modification time from /info was enough

        archive["modified"] += 1000
        changed = run_harvest(harvester(httpserver), store)
        # A new modification time forces a fetch; same content means unchanged, not updated.
        assert changed.counts["unchanged"] == 3 and changed.counts["updated"] == 0
        assert [c for c in archive["calls"] if c.endswith("S-BIAD1043")]


def test_gather_failure_fails_the_run_and_deletes_nothing(httpserver, archive, tmp_path):
    with RecordStore(tmp_path / "store.sqlite3") as store:
        run_harvest(harvester(httpserver), store)
        httpserver.clear()
        httpserver.expect_request("/api/v1/BioImages/search").respond_with_data("down", status=500)
        summary = run_harvest(harvester(httpserver), store, full=True)
        assert summary.status == "failed"
        assert summary.counts["deleted"] == 0
        assert store.count_by_source() == {"bia": 3}
        assert store.runs()[0]["status"] == "failed"


def test_retry_after_is_honoured(httpserver):
    waits = []
    httpserver.expect_ordered_request("/x").respond_with_data("slow down", status=429, headers={"Retry-After": "7"})
    httpserver.expect_ordered_request("/x").respond_with_json({"ok": True})
    client = HttpClient(retries=2, sleep=waits.append)
    assert client.get_json(httpserver.url_for("/x")) == {"ok": True}
    assert waits == [7.0]


def test_timeouts_are_retried_then_reported(httpserver):
    import time

    def slow(request):
        time.sleep(0.5)
        return Response("{}", content_type="application/json")

    httpserver.expect_request("/slow").respond_with_handler(slow)
    waits = []
    client = HttpClient(timeout=0.1, retries=1, sleep=waits.append)
    with pytest.raises(FetchError) as caught:
        client.get_json(httpserver.url_for("/slow"))
    assert "network error" in caught.value.message and "Timeout" in caught.value.message
    assert waits == [1.0]


def test_truncated_and_garbage_study_bodies_are_errored_records(httpserver, tmp_path):
    body = (SAMPLE_STORE / "S-BIAD1043" / "S-BIAD1043.json").read_bytes()
    listing = {"page": 1, "pageSize": 10, "totalHits": 3, "hits": [{"accession": a} for a in ("S-T1", "S-T2", "S-BIAD1043")]}
    httpserver.expect_request("/api/v1/BioImages/search").respond_with_json(listing)
    httpserver.expect_request("/api/v1/studies/S-T1").respond_with_data(body[: len(body) // 2], content_type="application/json")
    httpserver.expect_request("/api/v1/studies/S-T2").respond_with_data(b"\xff\xfe<html>oops", content_type="text/html")
    httpserver.expect_request("/api/v1/studies/S-BIAD1043").respond_with_data(body, content_type="application/json")
    with RecordStore(tmp_path / "store.sqlite3") as store:
        summary = run_harvest(harvester(httpserver), store)
        assert (summary.counts["added"], summary.counts["errored"]) == (1, 2)
        stages = {e["accession"]: (e["stage"], e["source_url"]) for e in store.errors() if e["stage"] != "files"}
        assert stages["S-T1"][0] == "normalise" and stages["S-T1"][1].endswith("/studies/S-T1")
        assert stages["S-T2"][0] == "normalise"
