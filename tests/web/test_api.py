"""The JSON API over a real index built from the sample archive store."""

from __future__ import annotations

import pytest

ENDPOINT_ERRORS = [
    ("/api/v1/search?query=title:(unclosed", 400, "invalid_query"),
    ("/api/v1/search?query=nosuchfield:x", 400, "invalid_query"),
    ("/api/v1/search?facet.nosuchfacet=x", 400, "invalid_parameter"),
    ("/api/v1/search?page=0", 400, "invalid_parameter"),
    ("/api/v1/search?page=abc", 400, "invalid_parameter"),
    ("/api/v1/search?pageSize=100000", 400, "invalid_parameter"),
    ("/api/v1/search?sortBy=colour", 400, "invalid_parameter"),
    ("/api/v1/search?sortOrder=sideways", 400, "invalid_parameter"),
    ("/api/v1/search?file_count.gt=many", 400, "invalid_parameter"),
    ("/api/v1/search?bogus=1", 400, "invalid_parameter"),
    ("/api/v1/datasets/S-NOPE999", 404, "not_found"),
    ("/api/v1/datasets/S-NOPE999/files", 404, "not_found"),
    ("/api/v1/datasets/S-NOPE999/links", 404, "not_found"),
    ("/api/v1/datasets/S-BIAD1492/files?limit=0", 400, "invalid_parameter"),
    ("/api/v1/no-such-endpoint", 404, "not_found"),
]


def get(client, url):
    response = client.get(url)
    assert response.mimetype == "application/json", url
    return response, response.get_json()


@pytest.mark.parametrize("url, status, code", ENDPOINT_ERRORS)
def test_one_error_shape_on_every_endpoint(client, url, status, code):
    response, body = get(client, url)
    assert response.status_code == status
    assert set(body) == {"error"}
    error = body["error"]
    assert set(error) == {"status", "code", "message", "param", "position"}
    assert error["status"] == status and error["code"] == code
    assert error["message"]


def test_error_names_the_problem(client):
    _, body = get(client, "/api/v1/search?query=nosuchfield:x")
    assert "nosuchfield" in body["error"]["message"]
    _, body = get(client, "/api/v1/search?facet.colour=red")
    assert body["error"]["param"] == "facet.colour" and "colour" in body["error"]["message"]
    _, body = get(client, "/api/v1/search?query=(a OR b")
    assert body["error"]["position"] is not None


@pytest.mark.parametrize("url", ["/api/v1/search?query=cell", "/api/v1/facets", "/api/v1/datasets/S-BIAD1043", "/healthz", "/api/v1/datasets/S-BIAD1492/files", "/api/v1/datasets/S-BIAD1492/links"])
def test_one_success_envelope(client, url):
    response, body = get(client, url)
    assert response.status_code == 200
    assert set(body) == {"data", "meta"}


def test_empty_query_lists_everything_newest_first(client):
    _, body = get(client, "/api/v1/search?pageSize=100")
    data = body["data"]
    assert data["totalHits"] == 28 and data["isTotalHitsExact"] is True
    dates = [h["release_date"] for h in data["hits"] if h["release_date"]]
    assert dates == sorted(dates, reverse=True)
    _, star = get(client, "/api/v1/search?query=*&pageSize=100")
    assert star["data"]["totalHits"] == 28


def test_hit_shape_and_highlight(client):
    _, body = get(client, "/api/v1/search?query=HiTIPS")
    hits = body["data"]["hits"]
    assert hits[0]["accession"] == "S-BIAD1043"
    for key in ("accession", "title", "source", "release_date", "snippet", "title_html"):
        assert key in hits[0]
    assert "<mark" in hits[0]["title_html"]


@pytest.mark.parametrize("word", ["segmentation", "cells", "microscopy"])
def test_snippets_mark_description_words_when_the_title_has_none(client, word):
    # A query over every default field: the title's terms come first, the description's
    # must still be marked (Whoosh's existing_terms dropped every field after the first).
    _, body = get(client, f"/api/v1/search?query={word}&pageSize=100")
    hits = body["data"]["hits"]
    assert any("<mark" in h["snippet"] and "<mark" not in h["title_html"] for h in hits)
    for hit in hits:
        assert "<mark" not in hit["snippet"] or word[:4] in hit["snippet"].lower()


def test_default_operator_is_and(client):
    _, one = get(client, "/api/v1/search?query=zebrafish")
    _, both = get(client, "/api/v1/search?query=zebrafish toxicity")
    assert 0 < both["data"]["totalHits"] < one["data"]["totalHits"]
    for hit in both["data"]["hits"]:
        _, record = get(client, f"/api/v1/datasets/{hit['accession']}")
        text = str(record["data"]).lower()
        assert ("zebrafish" in text or "danio" in text) and "toxic" in text


def test_field_query_and_phrase(client):
    _, body = get(client, '/api/v1/search?query=title:"light-sheet"')
    assert body["data"]["totalHits"] >= 1
    assert all("light" in h["title"].lower() for h in body["data"]["hits"])
    _, author = get(client, "/api/v1/search?query=author:Pegoraro")
    assert [h["accession"] for h in author["data"]["hits"]] == ["S-BIAD1043"]


def test_accession_search(client):
    _, body = get(client, "/api/v1/search?query=S-BIAD1043")
    assert body["data"]["hits"][0]["accession"] == "S-BIAD1043"


def test_facet_filter_by_key_and_label_case_insensitive(client):
    _, by_key = get(client, "/api/v1/search?facet.organism=NCBITaxon:9606&pageSize=100")
    _, by_label = get(client, "/api/v1/search?facet.organism=homo SAPIENS&pageSize=100")
    _, by_common = get(client, "/api/v1/search?facet.organism=human&pageSize=100")
    total = by_key["data"]["totalHits"]
    assert total >= 5
    assert by_label["data"]["totalHits"] == total == by_common["data"]["totalHits"]
    for hit in by_key["data"]["hits"]:
        assert "NCBITaxon:9606" in [o.get("taxon_id") for o in hit["organisms"]]


def test_facet_counts_are_multi_select(client):
    _, all_ = get(client, "/api/v1/search")
    organism_all = {b["key"]: b["count"] for f in all_["data"]["facets"] if f["name"] == "organism" for b in f["buckets"]}
    _, selected = get(client, "/api/v1/search?facet.organism=NCBITaxon:9606")
    facets = {f["name"]: f for f in selected["data"]["facets"]}
    own = {b["key"]: b for b in facets["organism"]["buckets"]}
    # The organism facet ignores its own selection: same counts as unfiltered, human marked.
    assert {k: b["count"] for k, b in own.items()} == organism_all
    assert own["NCBITaxon:9606"]["selected"] is True
    # Other facets are counted within the selection.
    source_total = sum(b["count"] for b in facets["source"]["buckets"])
    assert source_total == selected["data"]["totalHits"]


def test_facet_or_within_and_not(client):
    _, human = get(client, "/api/v1/search?facet.organism=NCBITaxon:9606")
    _, mouse = get(client, "/api/v1/search?facet.organism=NCBITaxon:10090")
    _, either = get(client, "/api/v1/search?facet.organism=NCBITaxon:9606&facet.organism=NCBITaxon:10090")
    _, both = get(client, "/api/v1/search?facet.organism.eq=NCBITaxon:9606&facet.organism.eq=NCBITaxon:10090")
    _, not_human = get(client, "/api/v1/search?facet.organism.not=NCBITaxon:9606")
    h, m, e, b = (r["data"]["totalHits"] for r in (human, mouse, either, both))
    assert e == h + m - b and b <= min(h, m)
    assert not_human["data"]["totalHits"] == 28 - h


def test_facets_endpoint_labels(client):
    _, body = get(client, "/api/v1/facets")
    facets = {f["name"]: f for f in body["data"]["facets"]}
    assert set(facets) == {"source", "organism", "imaging_method", "study_type", "license", "release_year", "file_format"}
    organism = {b["key"]: b["label"] for b in facets["organism"]["buckets"]}
    assert organism["NCBITaxon:9606"] == "Homo sapiens"
    methods = {b["key"]: b["label"] for b in facets["imaging_method"]["buckets"]}
    assert methods["FBbi:00000251"] == "confocal microscopy"
    years = [b["key"] for b in facets["release_year"]["buckets"]]
    assert years == sorted(years, reverse=True)
    assert sum(b["count"] for b in facets["source"]["buckets"]) == 28


def test_sorting_and_paging(client):
    _, by_title = get(client, "/api/v1/search?sortBy=title&pageSize=100")
    titles = [h["title"].lower() for h in by_title["data"]["hits"]]
    assert titles == sorted(titles)
    _, p1 = get(client, "/api/v1/search?sortBy=accession&pageSize=10&page=1")
    _, p3 = get(client, "/api/v1/search?sortBy=accession&pagination.page_size=10&pagination.page=3")
    accs = [h["accession"] for h in p1["data"]["hits"]] + [h["accession"] for h in p3["data"]["hits"]]
    assert len(p1["data"]["hits"]) == 10 and len(p3["data"]["hits"]) == 8
    assert len(set(accs)) == 18
    _, beyond = get(client, "/api/v1/search?page=50")
    assert beyond["data"]["hits"] == [] and beyond["data"]["totalHits"] == 28


def test_dataset_record(client):
    _, body = get(client, "/api/v1/datasets/S-BIAD1492")
    record = body["data"]
    assert record["accession"] == "S-BIAD1492"
    assert record["file_count"] > 0 and record["total_size_bytes"] > 0
    assert "TIFF" in record["file_formats"]
    _, files = get(client, "/api/v1/datasets/S-BIAD1492/files?limit=5")
    assert len(files["data"]["files"]) == 5 and files["meta"]["total"] == record["file_count"]
    assert files["data"]["totalHits"] == record["file_count"]
    assert files["data"]["files"][0]["path"].startswith("BBBC024/")


def _walk(nodes, depth=0):
    for node in nodes:
        yield node, depth
        yield from _walk(node["children"], depth + 1)


def test_imaging_method_facet_as_a_tree(client):
    _, body = get(client, "/api/v1/search?facetTree=true&facet.imaging_method=confocal microscopy")
    facet = next(f for f in body["data"]["facets"] if f["name"] == "imaging_method")
    nodes = {n["key"]: (n, d) for n, d in _walk(facet["tree"])}
    fluorescence, depth = nodes["FBbi:00000246"]
    confocal, confocal_depth = nodes["FBbi:00000251"]
    assert confocal_depth > depth and confocal["selected"] is True
    assert confocal in list(n for n, _ in _walk(fluorescence["children"]))
    # A broader node counts the datasets of all its narrower methods (the tree facet field).
    for node, _ in _walk(facet["tree"]):
        assert node["count"] >= max([c["count"] for c in node["children"]], default=0)
    _, filtered = get(client, "/api/v1/search?facet.imaging_method=FBbi:00000246&pageSize=1")
    assert fluorescence["count"] == filtered["data"]["totalHits"]
    # Multi-select: the tree ignores the facet's own selection.
    _, unfiltered = get(client, "/api/v1/search?facetTree=true")
    tree = next(f for f in unfiltered["data"]["facets"] if f["name"] == "imaging_method")["tree"]
    assert {n["key"]: n["count"] for n, _ in _walk(tree)} == {k: v[0]["count"] for k, v in nodes.items()}


def test_healthz_reports_when_the_background_warm_up_is_done(client):
    import time

    deadline = time.monotonic() + 60
    while not client.get("/healthz").get_json()["data"]["warm"]:
        assert time.monotonic() < deadline, "the warm-up of a 30-record index never finished"
        time.sleep(0.05)
