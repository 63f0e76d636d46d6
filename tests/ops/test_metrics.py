"""Prometheus metrics at /metrics: request counts and latency by endpoint, index size and
generation age, documents per source, harvest outcomes per source."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from indexer.generations import current


def scrape(client) -> dict[tuple, float]:
    response = client.get("/metrics")
    assert response.status_code == 200 and response.mimetype == "text/plain"
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.get_data(as_text=True))
        for sample in family.samples
    }


def value(samples: dict, name: str, **labels) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_request_counts_and_latency_by_endpoint(ops_client):
    before = scrape(ops_client)
    for _ in range(3):
        assert ops_client.get("/api/v1/search?query=cells").status_code == 200
    assert ops_client.get("/api/v1/search?query=title:(oops").status_code == 400
    assert ops_client.get("/api/v1/datasets/S-GEN00001").status_code == 200
    assert ops_client.get("/no/such/page").status_code == 404
    after = scrape(ops_client)

    def delta(name, **labels):
        return value(after, name, **labels) - value(before, name, **labels)

    requests = "bioimage_search_http_requests_total"
    assert delta(requests, endpoint="/api/v1/search", method="GET", status="200") == 3
    assert delta(requests, endpoint="/api/v1/search", method="GET", status="400") == 1
    assert delta(requests, endpoint="/api/v1/datasets/<accession>", method="GET", status="200") == 1
    assert delta(requests, endpoint="<unmatched>", method="GET", status="404") == 1
    assert delta("bioimage_search_http_request_duration_seconds_count", endpoint="/api/v1/search") == 4
    assert delta("bioimage_search_http_request_duration_seconds_sum", endpoint="/api/v1/search") > 0
    assert value(after, "bioimage_search_http_request_duration_seconds_bucket", endpoint="/api/v1/search", le="+Inf") >= 4


def test_index_and_harvest_state(ops_client, ops_data):
    samples = scrape(ops_client)
    assert value(samples, "bioimage_search_index_up") == 1
    assert value(samples, "bioimage_search_index_size_bytes") > 0
    assert 0 <= value(samples, "bioimage_search_index_generation_age_seconds") < 3600
    assert value(samples, "bioimage_search_index_generations") >= 1
    assert value(samples, "bioimage_search_index_documents", source="bia") == current(ops_data.index_dir).meta["doc_count"] == 30
    assert value(samples, "bioimage_search_store_records", source="bia") == 30
    assert value(samples, "bioimage_search_harvest_runs", source="bia", status="partial") >= 1
    assert value(samples, "bioimage_search_harvest_last_run_records", source="bia", outcome="errored") == 1
    assert value(samples, "bioimage_search_harvest_last_run_end_timestamp_seconds", source="bia", status="partial") > 1.7e9
    assert value(samples, "bioimage_search_index_builds", kind="full", outcome="ok") >= 1


def test_metrics_without_an_index_still_answer(tmp_path):
    from bioimage_search.ops import make_app
    from tests.ops.helpers import ops_settings

    client = make_app(ops_settings(tmp_path)).test_client()
    samples = scrape(client)
    assert value(samples, "bioimage_search_index_up") == 0
    assert client.get("/api/v1/search").status_code == 503
    assert value(scrape(client), "bioimage_search_http_requests_total", endpoint="/api/v1/search", method="GET", status="503") == 1
