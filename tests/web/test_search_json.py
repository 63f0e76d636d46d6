"""POST /api/v1/search (the JSON form) and cursor paging."""

from __future__ import annotations

from urllib.parse import urlencode

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from query.syntax import parse_query
from query.ast import to_json


def post(client, body):
    response = client.post("/api/v1/search", json=body)
    return response.status_code, response.get_json()


def hits(body):
    return [h["accession"] for h in body["data"]["hits"]]


def test_string_body_equals_get(client):
    _, get = client.get("/api/v1/search?query=zebrafish").status_code, client.get("/api/v1/search?query=zebrafish").get_json()
    status, body = post(client, {"query": "zebrafish"})
    assert status == 200 and hits(body) == hits(get) and body["data"]["totalHits"] == get["data"]["totalHits"]


def test_full_json_body(client):
    status, body = post(client, {
        "query": {"or": [{"term": {"field": "title", "value": "cell"}}, {"term": {"field": None, "value": "zebrafish"}}]},
        "filters": {"organism": {"any_of": ["human", "mouse"]}, "license": {"none_of": ["CC0 1.0"]}},
        "ranges": {"release_year": {"gte": 2020}},
        "sort": {"by": "release_date", "order": "ascending"},
        "pageSize": 5,
        "fields": ["accession", "release_date"],
    })
    assert status == 200, body
    data = body["data"]
    assert all(set(h) == {"accession", "release_date"} for h in data["hits"])
    dates = [h["release_date"] for h in data["hits"]]
    assert dates == sorted(dates) and all(d >= "2020" for d in dates)
    url = "/api/v1/search?" + urlencode([("query", "title:cell OR zebrafish"), ("facet.organism", "human"), ("facet.organism", "mouse"),
                                         ("facet.license.not", "CC0 1.0"), ("release_year.gte", "2020"), ("sortBy", "release_date"),
                                         ("sortOrder", "ascending"), ("pageSize", "5")])
    assert hits(client.get(url).get_json()) == hits(body)


@pytest.mark.parametrize("body, param", [
    ([1, 2], "body"),
    ({"nope": 1}, "nope"),
    ({"query": 5}, "query"),
    ({"query": {"xor": []}}, "query"),
    ({"filters": {"colour": ["red"]}}, "filters.colour"),
    ({"filters": {"organism": {"some_of": ["x"]}}}, "filters.organism"),
    ({"ranges": {"file_count": {"gte": "many"}}}, "ranges.file_count.gte"),
    ({"page": "2"}, "page"),
    ({"pageSize": 1000}, "pageSize"),
    ({"sort": {"by": "colour"}}, "sortBy"),
    ({"has": {"doi": "yes"}}, "has.doi"),
])
def test_bad_bodies_are_400_naming_the_key(client, body, param):
    status, response = post(client, body)
    assert status == 400 and response["error"]["param"] == param, response


def test_non_json_body(client):
    response = client.post("/api/v1/search", data="query=x", content_type="application/x-www-form-urlencoded")
    assert response.status_code == 400 and response.get_json()["error"]["param"] == "body"


QUERIES = st.lists(st.sampled_from(["cell", "zebrafish", "microscopy", "title:light", "author:Pegoraro", "NOT", "AND", "OR",
                                    "mouse", "organism:human", "release_date:[2020 TO 2023]", "file_count:>0", '"light sheet"', "image*"]),
                   min_size=1, max_size=5).map(" ".join)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(query=QUERIES)
def test_every_string_query_has_a_json_equivalent_with_the_same_hits(client, query):
    try:
        node = parse_query(query, strict=True).node
    except ValueError:
        return
    get = client.get("/api/v1/search?" + urlencode({"query": query, "pageSize": 100})).get_json()
    status, body = post(client, {"query": to_json(node), "pageSize": 100})
    assert status == 200
    assert hits(body) == hits(get) and body["data"]["totalHits"] == get["data"]["totalHits"]


@pytest.mark.parametrize("sort", ["relevance", "release_date", "title", "accession", "size"])
def test_cursor_walks_every_hit_once_in_order(client, sort):
    full = client.get(f"/api/v1/search?query=*&sortBy={sort}&pageSize=100").get_json()["data"]
    seen, cursor = [], None
    while True:
        url = f"/api/v1/search?query=*&sortBy={sort}&pageSize=4" + (f"&cursor={cursor}" if cursor else "")
        data = client.get(url).get_json()["data"]
        seen += hits({"data": data})
        cursor = data["next"]
        if not cursor:
            break
    assert seen == hits({"data": full}) and len(seen) == full["totalHits"]


def test_cursor_from_another_query_is_rejected(client):
    cursor = client.get("/api/v1/search?query=cell&pageSize=2").get_json()["data"]["next"]
    response = client.get(f"/api/v1/search?query=mouse&pageSize=2&cursor={cursor}")
    assert response.status_code == 400 and response.get_json()["error"]["param"] == "cursor"
    response = client.get("/api/v1/search?cursor=garbage!!")
    assert response.status_code == 400


def test_page_number_paging_is_capped(client):
    response = client.get("/api/v1/search?page=200&pageSize=100")
    assert response.status_code == 400 and "cursor" in response.get_json()["error"]["message"]
