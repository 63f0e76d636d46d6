"""Operator endpoints: ``GET /api/v1/status``, the admin endpoints under ``/api/v1/admin/``
(bearer token; absent when no token is configured) and Prometheus metrics at ``/metrics``.

The data comes from the app's ``ops`` extension (``bioimage_search.ops.Ops``, attached by
``bioimage_search.ops.make_app``); this module only speaks HTTP. Request counts and
latencies are measured for every endpoint by app-wide before/after-request hooks.
"""

from __future__ import annotations

import hmac
import logging
import os
from datetime import datetime, timezone
from time import perf_counter

from flask import Blueprint, Response, current_app, g, request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest, multiprocess
from prometheus_client.core import GaugeMetricFamily
from werkzeug.exceptions import NotFound

from web.api import envelope
from web.errors import ApiError, error_response

log = logging.getLogger(__name__)
status_api = Blueprint("status_api", __name__)
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


def _ops():
    ops = current_app.extensions.get("ops")
    if ops is None:
        raise ApiError(503, "unavailable", "operations are not configured in this app (build it with bioimage_search.ops.make_app)")
    return ops


@status_api.get("/api/v1/status")
def status():
    """Live generation, documents per source, each source's last runs and errors, recent
    builds and the next scheduled runs."""
    return envelope(_ops().status())


# -- admin ---------------------------------------------------------------------------------


def _admin_denied():
    """None if the request carries the admin token; else the error response to send."""
    ops = current_app.extensions.get("ops")
    token = ops.admin_token if ops is not None else ""
    if not token:
        raise NotFound()  # never enabled with an empty token
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not given.strip():
        response, code = error_response(401, "unauthorized", "send the admin token as 'Authorization: Bearer <token>'", "Authorization")
        response.headers["WWW-Authenticate"] = 'Bearer realm="bioimage-search admin"'
        return response, code
    if not hmac.compare_digest(given.strip().encode(), token.encode()):
        return error_response(403, "forbidden", "the admin token is not valid", "Authorization")
    return None


def _accepted(job: dict):
    url = f"/api/v1/admin/jobs/{job['id']}"
    response = envelope(job, status_url=url)
    response.status_code = 202
    response.headers["Location"] = url
    return response


@status_api.post("/api/v1/admin/harvest/<source>")
def admin_harvest(source: str):
    """Start a harvest of ``source`` followed by an index update; 202 with the job."""
    denied = _admin_denied()
    if denied:
        return denied
    ops = _ops()
    if source not in ops.sources():
        raise ApiError(404, "not_found", f"no source {source!r} (known: {', '.join(ops.sources())})", "source")
    return _accepted(ops.start_job("harvest", source))


@status_api.post("/api/v1/admin/rebuild")
def admin_rebuild():
    """Start a full rebuild (validated, then swapped in); 202 with the job."""
    denied = _admin_denied()
    return denied or _accepted(_ops().start_job("rebuild"))


@status_api.get("/api/v1/admin/jobs/<job_id>")
def admin_job(job_id: str):
    """A job's progress and outcome."""
    denied = _admin_denied()
    if denied:
        return denied
    job = _ops().job(job_id)
    if job is None:
        raise ApiError(404, "not_found", f"no job {job_id!r}", "job_id")
    return envelope(job)


# -- metrics --------------------------------------------------------------------------------


class _Metrics:
    """One app's request metrics, plus the index and harvest state read at scrape time."""

    def __init__(self, app):
        self.registry = CollectorRegistry()
        self.requests = Counter("bioimage_search_http_requests", "HTTP requests by endpoint, method and status.",
                                ["endpoint", "method", "status"], registry=self.registry)
        self.latency = Histogram("bioimage_search_http_request_duration_seconds", "HTTP request latency by endpoint.",
                                 ["endpoint"], buckets=LATENCY_BUCKETS, registry=self.registry)
        self.state = _StateCollector(app)
        self.registry.register(self.state)


@status_api.record_once
def _setup(state) -> None:
    state.app.extensions["metrics"] = _Metrics(state.app)


@status_api.before_app_request
def _start_timer() -> None:
    g.metrics_started = perf_counter()


@status_api.after_app_request
def _count_request(response):
    started = g.pop("metrics_started", None)
    metrics = current_app.extensions.get("metrics")
    if started is not None and metrics is not None:
        endpoint = request.url_rule.rule if request.url_rule else "<unmatched>"
        metrics.requests.labels(endpoint, request.method, str(response.status_code)).inc()
        metrics.latency.labels(endpoint).observe(perf_counter() - started)
    return response


@status_api.get("/metrics")
def metrics():
    """Prometheus text exposition (all worker processes aggregated when PROMETHEUS_MULTIPROC_DIR is set)."""
    app_metrics = current_app.extensions["metrics"]
    registry = app_metrics.registry
    if os.environ.get(MULTIPROC_ENV):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        registry.register(app_metrics.state)
    return Response(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)


class _StateCollector:
    """Index size and age, documents per source, harvest outcomes, from the ops snapshot."""

    def __init__(self, app):
        self.app = app

    def collect(self):
        ops = self.app.extensions.get("ops")
        if ops is None:
            return
        try:
            snap = ops.metrics()
        except Exception:  # a scrape must not fail because the store is busy or missing
            log.exception("cannot read the index and harvest state for /metrics")
            return
        yield from _index_metrics(snap)
        yield from _harvest_metrics(snap)


def _gauge(name: str, doc: str, value=None, labels: tuple = (), rows: dict | None = None) -> GaugeMetricFamily:
    family = GaugeMetricFamily(name, doc, value=value, labels=list(labels) if rows is not None else None)
    for key, number in (rows or {}).items():
        family.add_metric(list(key) if isinstance(key, tuple) else [key], number)
    return family


def _index_metrics(snap: dict):
    gen = snap["generation"] or {}
    yield _gauge("bioimage_search_index_up", "1 if a live index generation is serving.", 1 if gen else 0)
    yield _gauge("bioimage_search_index_generations", "Finished index generations on disk.", snap["generations"])
    if gen:
        yield _gauge("bioimage_search_index_size_bytes", "Size on disk of the live generation.", gen["size_bytes"])
        yield _gauge("bioimage_search_index_generation_age_seconds", "Seconds since the live generation was built.", gen["age_seconds"] or 0)
        yield _gauge("bioimage_search_index_update_age_seconds", "Seconds since the live generation was last updated.", gen["update_age_seconds"] or 0)
        yield _gauge("bioimage_search_index_documents", "Documents in the live generation per source.", labels=("source",), rows=gen["per_source"])
    yield _gauge("bioimage_search_store_records", "Live records in the record store per source.", labels=("source",), rows=snap["store_records"])
    yield _gauge("bioimage_search_index_builds", "Recorded recent builds by kind and outcome.", labels=("kind", "outcome"), rows=snap["builds"])


def _harvest_metrics(snap: dict):
    yield _gauge("bioimage_search_harvest_runs", "Recent harvest runs (last 1000) by source and outcome.",
                 labels=("source", "status"), rows=snap["harvest_runs"])
    records, ended = {}, {}
    for source, run in snap["last_runs"].items():
        for outcome, count in (run.get("counts") or {}).items():
            records[(source, outcome)] = count
        if run.get("ended_at"):
            ended[(source, run["status"])] = _timestamp(run["ended_at"])
    yield _gauge("bioimage_search_harvest_last_run_records", "Records per outcome in each source's last finished run.",
                 labels=("source", "outcome"), rows=records)
    yield _gauge("bioimage_search_harvest_last_run_end_timestamp_seconds", "When each source's last finished run ended, and its status.",
                 labels=("source", "status"), rows=ended)


def _timestamp(stamp: str) -> float:
    moment = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    return (moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)).timestamp()
