"""No input ever produces a 500: arbitrary queries and parameters get 200 or a 400 that says why."""

from __future__ import annotations

from urllib.parse import urlencode

from hypothesis import HealthCheck, given, settings, strategies as st

QUERY_TOKENS = st.sampled_from(
    ["(", ")", '"', ":", "*", "?", "~", "~2", "AND", "OR", "NOT", "+", "-", "[", "]", "{", "}", "TO",
     "title:", "organism:", "release_date:", "file_count:>", "size:", "2020", "2020-13-01", "cell", "S-BIAD1043",
     "10.1038/x", "\\", "zebra*", "a?", " "]
)
PARAM_NAMES = st.sampled_from(
    ["query", "page", "pageSize", "sortBy", "sortOrder", "facet.organism", "facet.source.eq", "facet.license.not",
     "facet.nope", "file_count.gt", "size.lte", "release_year.gte", "has.doi", "has.nope", "mode", "facets", "x"]
)


def check(client, params):
    response = client.get("/api/v1/search?" + urlencode(params, doseq=True))
    assert response.status_code in (200, 400), response.get_data(as_text=True)
    body = response.get_json()
    if response.status_code == 400:
        assert body["error"]["message"]
    else:
        assert body["data"]["totalHits"] >= len(body["data"]["hits"])


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(query=st.lists(QUERY_TOKENS, max_size=12).map(" ".join), lenient=st.booleans())
def test_query_strings(client, query, lenient):
    check(client, {"query": query, **({"mode": "lenient"} if lenient else {})})


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(query=st.text(max_size=60))
def test_arbitrary_text(client, query):
    check(client, {"query": query})
    response = client.get("/api/v1/search?" + urlencode({"query": query, "mode": "lenient"}))
    assert response.status_code == 200


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(params=st.lists(st.tuples(PARAM_NAMES, st.text(max_size=12)), max_size=6))
def test_arbitrary_parameters(client, params):
    check(client, params)
