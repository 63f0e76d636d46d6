"""Search-box completions (/api/v1/suggest) and "did you mean" on searches with few hits,
over the real sample index."""

from __future__ import annotations

import threading
import time
from urllib.parse import urlencode

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from query import suggest as suggest_module
from query.suggest import SuggestIndex, normalize, normalize_prefix

SUGGESTION_KEYS = {"text", "kind", "facet", "key", "count"}


def get(client, path, **params):
    response = client.get(f"{path}?{urlencode(params, doseq=True)}")
    assert response.mimetype == "application/json"
    return response, response.get_json()


def suggest(client, q, **params):
    response, body = get(client, "/api/v1/suggest", q=q, **params)
    assert response.status_code == 200, body
    assert set(body) == {"data", "meta"}
    for item in body["data"]:
        assert set(item) == SUGGESTION_KEYS
        assert item["kind"] in ("term", "title", "facet")
        assert (item["facet"] is None) == (item["key"] is None) == (item["kind"] != "facet")
        assert isinstance(item["count"], int) and item["count"] > 0
    return body["data"]


def search_total(client, **params):
    response, body = get(client, "/api/v1/search", pageSize=1, **params)
    assert response.status_code == 200, body
    return body["data"]["totalHits"]


def facet(items, name, key):
    found = [i for i in items if i["kind"] == "facet" and i["facet"] == name and i["key"] == key]
    assert found, f"no {name}={key} in {items}"
    return found[0]


# --------------------------------------------------------------------------- completions


def test_zebrafish_prefix_gives_term_or_title_and_the_organism(client):
    items = suggest(client, "zebraf")
    assert any(i["kind"] in ("term", "title") and "zebrafish" in i["text"].lower() for i in items)
    danio = facet(items, "organism", "NCBITaxon:7955")
    assert "Danio rerio" in danio["text"]


def test_common_name_finds_the_organism(client):
    human = facet(suggest(client, "hum"), "organism", "NCBITaxon:9606")
    assert human["text"] == "Homo sapiens (human)"


def test_imaging_method_label(client):
    confocal = facet(suggest(client, "conf"), "imaging_method", "FBbi:00000251")
    assert confocal["text"] == "confocal microscopy"


def test_fbbi_synonyms_and_multi_word_prefixes(client):
    items = suggest(client, "light sh")
    assert facet(items, "imaging_method", "FBbi:00000369")["text"].startswith("SPIM")
    assert any(i["kind"] == "title" and "light sheet" in normalize(i["text"]) for i in items)


@pytest.mark.parametrize("prefix", ["hum", "conf", "zebraf", "cc", "tif", "s", "mus", "mouse", "fluor", "tim"])
def test_facet_counts_are_the_hits_of_the_facet_filter(client, prefix):
    facets = [i for i in suggest(client, prefix, limit=50) if i["kind"] == "facet"]
    for item in facets:
        assert item["count"] == search_total(client, **{f"facet.{item['facet']}": item["key"]}), item


def test_facet_counts_checked_above_are_not_vacuous(client):
    assert search_total(client, **{"facet.organism": "NCBITaxon:9606"}) == facet(suggest(client, "hum"), "organism", "NCBITaxon:9606")["count"] > 0


def test_case_accents_and_punctuation_are_ignored(client):
    plain = suggest(client, "zebraf")
    assert suggest(client, "ZÉBRAF") == plain
    assert suggest(client, "  Zebraf") == plain
    assert [i["text"] for i in suggest(client, "sars cov")] == [i["text"] for i in suggest(client, "SARS-CoV")]


def test_ranking_exact_then_start_then_count(client):
    items = suggest(client, "human", limit=50)
    assert normalize(items[0]["text"]) == "human" or items[0]["kind"] == "facet"
    tiers = []
    for item in items:
        names = normalize(item["text"])
        tiers.append(0 if names == "human" else 1 if names.startswith("human") or item["kind"] == "facet" else 2)
    assert tiers == sorted(tiers)


def test_limit_is_respected(client):
    assert len(suggest(client, "s", limit=50)) > 3
    assert len(suggest(client, "s", limit=3)) == 3
    assert len(suggest(client, "s")) <= 10
    assert suggest(client, "s", limit=3) == suggest(client, "s", limit=50)[:3]


def test_no_match_is_an_empty_list(client):
    assert suggest(client, "qqqxqqq") == []
    assert suggest(client, "!!!") == []


@pytest.mark.parametrize(
    "params, param",
    [
        ({}, "q"),
        ({"q": ""}, "q"),
        ({"q": "   "}, "q"),
        ({"q": "x" * 201}, "q"),
        ({"q": "cell", "limit": "0"}, "limit"),
        ({"q": "cell", "limit": "51"}, "limit"),
        ({"q": "cell", "limit": "ten"}, "limit"),
        ({"q": "cell", "limit": "-1"}, "limit"),
        ({"q": "cell", "bogus": "1"}, "bogus"),
    ],
)
def test_bad_parameters_are_400_in_the_one_error_shape(client, params, param):
    response, body = get(client, "/api/v1/suggest", **params)
    assert response.status_code == 400
    assert set(body) == {"error"}
    error = body["error"]
    assert set(error) == {"status", "code", "message", "param", "position"}
    assert error["status"] == 400 and error["code"] == "invalid_parameter"
    assert error["param"] == param and error["message"]


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    q=st.one_of(st.text(max_size=40), st.sampled_from(["zebraf", "light sh", "hum ", "a", "(", "\\", "é", "S-BIAD"])),
    limit=st.one_of(st.none(), st.integers(-5, 60).map(str), st.text(max_size=4)),
)
def test_arbitrary_input_never_gives_a_500(client, q, limit):
    params = {"q": q} if limit is None else {"q": q, "limit": limit}
    response = client.get("/api/v1/suggest?" + urlencode(params))
    assert response.status_code in (200, 400), response.get_data(as_text=True)
    body = response.get_json()
    if response.status_code == 200:
        assert len(body["data"]) <= (int(limit) if limit is not None else 10)
    else:
        assert body["error"]["message"]


# --------------------------------------------------------------------------- the cache


def test_suggestion_data_is_built_once_per_generation(client, app, monkeypatch):
    suggest(client, "zebraf")  # make sure this generation's data exists
    builds = []
    real = suggest_module.build_suggest_index
    monkeypatch.setattr(suggest_module, "build_suggest_index", lambda *a: builds.append(1) or real(*a))
    for prefix in ("hum", "conf", "light", "x"):
        suggest(client, prefix)
    search(client, query="zebrafsh")  # did-you-mean reads the same data
    assert builds == []
    live = app.extensions["search_service"]._current()
    slot = ("test slot", "version 1")
    with live.pool.use() as searcher:
        fresh = suggest_module.suggest_index(searcher, live.resolver.labels, slot)
        assert builds == [1] and isinstance(fresh, SuggestIndex)
        assert suggest_module.suggest_index(searcher, live.resolver.labels, slot) is fresh
    assert builds == [1]


def test_a_new_version_is_built_in_the_background_while_the_old_one_answers(app, monkeypatch):
    live = app.extensions["search_service"]._current()
    with live.pool.use() as searcher:
        _background_build(live, searcher, monkeypatch)


def _background_build(live, searcher, monkeypatch):
    old = suggest_module.suggest_index(searcher, live.resolver.labels, ("bg slot", 1))
    release = threading.Event()
    real = suggest_module.build_suggest_index
    monkeypatch.setattr(suggest_module, "build_suggest_index", lambda *a: release.wait(5) and real(*a))
    assert suggest_module.suggest_index(searcher, live.resolver.labels, ("bg slot", 2)) is old
    assert suggest_module.suggest_index(searcher, live.resolver.labels, ("bg slot", 2)) is old
    release.set()
    for _ in range(500):
        new = suggest_module.suggest_index(searcher, live.resolver.labels, ("bg slot", 2))
        if new is not old:
            break
        time.sleep(0.01)
    assert new is not old and new.complete("zebraf") == old.complete("zebraf")


def test_prefix_normalisation():
    assert normalize("  Light-Sheet  Microscopy ") == "light sheet microscopy"
    assert normalize_prefix("Light-") == "light "
    assert normalize_prefix("ÉCOLI") == "ecoli"
    assert normalize_prefix("...") == ""


# --------------------------------------------------------------------------- did you mean


def search(client, **params):
    response, body = get(client, "/api/v1/search", **params)
    assert response.status_code == 200, body
    return body["data"]


def test_misspelled_query_gets_a_correction_with_more_hits(client):
    data = search(client, query="zebrafsh")
    assert data["totalHits"] == 0
    dym = data["didYouMean"]
    assert "zebrafish" in dym["query"]
    assert dym["totalHits"] > 0
    assert dym["totalHits"] == search(client, query=dym["query"])["totalHits"]
    assert dym["terms"][0]["term"] == "zebrafsh"
    assert dym["terms"][0]["suggestions"][0]["text"] == "zebrafish"


def test_only_the_misspelled_terms_are_replaced(client):
    dym = search(client, query="vascular AND zebrafsh")["didYouMean"]
    assert dym["query"] == "vascular AND zebrafish"
    assert dym["totalHits"] == search(client, query="vascular AND zebrafish")["totalHits"] > 0


def test_well_spelled_query_with_hits_has_no_suggestion(client):
    data = search(client, query="zebrafish")
    assert data["totalHits"] > 0
    assert data["didYouMean"] is None
    assert search(client)["didYouMean"] is None


def test_correction_is_counted_with_the_request_filters(client):
    human_only = search(client, query="zebrafsh", **{"facet.organism": "NCBITaxon:9606"})
    assert human_only["totalHits"] == 0
    assert search(client, query="zebrafish", **{"facet.organism": "NCBITaxon:9606"})["totalHits"] == 0
    assert human_only["didYouMean"] is None  # the correction would find nothing either
    danio = search(client, query="zebrafsh", **{"facet.organism": "NCBITaxon:7955"})
    assert danio["didYouMean"]["totalHits"] == search(client, query="zebrafish", **{"facet.organism": "NCBITaxon:7955"})["totalHits"]


def test_negated_and_fielded_terms_are_left_alone(client):
    assert search(client, query="-zebrafsh", **{"facet.organism": "NCBITaxon:4896"})["didYouMean"] is None
    assert search(client, query="title:zebrafsh")["didYouMean"] is None


def test_nothing_to_correct_gives_null(client):
    data = search(client, query="qqqxqqqz")
    assert data["totalHits"] == 0 and data["didYouMean"] is None


# --------------------------------------------------------------------------- ranking over many names


def _index_of(titles: list[tuple[str, int]]) -> SuggestIndex:
    builder = suggest_module._Builder()
    for title, count in titles:
        builder.add(suggest_module._Entry("title", None, None, count), [(title, normalize(title))], inner=True)
    return builder.build({}, {})


def test_matches_at_a_later_word_come_after_every_match_at_the_start(monkeypatch):
    starts = [(f"Abc study {i}", 1) for i in range(suggest_module.MAX_LIMIT + 5)]
    index = _index_of(starts + [("Big abc atlas", 1000)])
    scanned = []
    real = suggest_module._SortedNames.best_by_entry
    monkeypatch.setattr(suggest_module._SortedNames, "best_by_entry",
                        lambda self, prefix, whole, inner, best: scanned.append(inner) or real(self, prefix, whole, inner, best))
    found = index.complete("abc", suggest_module.MAX_LIMIT)
    assert len(found) == suggest_module.MAX_LIMIT and all(item["text"].startswith("Abc") for item in found)
    assert scanned == [False]  # the starts filled the list: the later-word places were not read
    few = _index_of(starts[:3] + [("Big abc atlas", 1000), ("Small abc atlas", 1)])
    assert [item["text"] for item in few.complete("abc", 10)] == [
        "Abc study 0", "Abc study 1", "Abc study 2", "Big abc atlas", "Small abc atlas"]
