"""GET /api/v1/status, `bioimage-search status`, and the token-protected admin endpoints
that start harvests and rebuilds in the background."""

from __future__ import annotations

import copy
import json
import time

import pytest
from click.testing import CliRunner

from bioimage_search.cli import main
from bioimage_search.config import load_settings
from bioimage_search.ops import make_app
from bioimage_search.pipeline import harvest_lock
from bioimage_search.sources import FACTORIES
from indexer.generations import current
from tests.ops.conftest import TOKEN

AUTH = {"Authorization": f"Bearer {TOKEN}"}
ADMIN = [("post", "/api/v1/admin/harvest/archive"), ("post", "/api/v1/admin/rebuild"), ("get", "/api/v1/admin/jobs/abc123")]


def assert_error(response, status: int, code: str) -> dict:
    assert response.status_code == status and response.mimetype == "application/json"
    body = response.get_json()
    assert set(body) == {"error"} and set(body["error"]) == {"status", "code", "message", "param", "position"}
    assert body["error"]["status"] == status and body["error"]["code"] == code and body["error"]["message"]
    return body["error"]


def test_status_reports_generation_sources_runs_errors_builds_and_schedule(ops_client, ops_data):
    body = ops_client.get("/api/v1/status").get_json()
    assert set(body) == {"data", "meta"}
    data = body["data"]
    gen = data["generation"]
    assert gen["name"] == current(ops_data.index_dir).name and gen["per_source"] == {"bia": 30}
    assert gen["documents"] == 30 and gen["size_bytes"] > 0 and gen["age_seconds"] >= 0 and gen["changes_not_indexed"] == 0
    assert data["store"]["live_records"] == {"bia": 30}
    sources = {s["name"]: s for s in data["sources"]}
    assert list(sources) == list(FACTORIES)
    archive = sources["archive"]
    assert archive["record_source"] == "bia" and archive["schedule"]["cron"] == "0 * * * *"
    assert archive["schedule"]["next_run"].endswith(":00:00Z") and sources["jcb"]["schedule"] is None
    run = archive["runs"][-1]  # the fixture's run (admin jobs may have added newer ones)
    assert run["status"] == "partial" and run["counts"]["added"] == 30 and run["counts"]["errored"] == 1
    assert run["started_at"] <= run["ended_at"]
    error = run["errors"][0]
    assert error["stage"] == "normalise" and error["accession"] == "S-BROKEN"
    assert error["source_url"].endswith("S-BROKEN/S-BROKEN.json")
    assert data["builds"][-1]["kind"] == "full" and data["builds"][-1]["outcome"] == "ok"
    assert data["scheduler"]["pid"] is None and not data["scheduler"]["running_in_this_process"]
    assert {job["id"] for job in data["scheduler"]["jobs"]} == {"harvest:archive", "rebuild"}


def test_status_on_the_command_line(ops_data, tmp_path):
    config = tmp_path / "config.toml"
    config.write_text('[scheduler]\nharvest = { archive = "0 * * * *" }\n')
    args = ["--config", str(config), "--data-dir", str(ops_data.data_dir), "status"]
    text = CliRunner().invoke(main, args)
    assert text.exit_code == 0, text.output
    assert f"live generation: {current(ops_data.index_dir).name}" in text.output
    assert "source archive (records: bia; cron '0 * * * *'" in text.output
    assert "error [normalise] S-BROKEN file://" in text.output
    assert "next harvest:archive" in text.output and "scheduler: not running" in text.output
    report = json.loads(CliRunner().invoke(main, [*args, "--json"]).output)
    assert report["generation"]["per_source"] == {"bia": 30}


def test_status_needs_the_ops_side(ops_data):
    from web import create_app

    assert_error(create_app(ops_data).test_client().get("/api/v1/status"), 503, "unavailable")


@pytest.mark.parametrize("method, url", ADMIN)
def test_admin_endpoints_do_not_exist_without_a_token(ops_data, method, url):
    settings = copy.deepcopy(ops_data)
    settings.admin.token = ""
    client = make_app(settings).test_client()
    assert_error(getattr(client, method)(url, headers=AUTH), 404, "not_found")


@pytest.mark.parametrize("method, url", ADMIN)
def test_admin_endpoints_need_the_bearer_token(ops_client, method, url):
    call = getattr(ops_client, method)
    missing = call(url)
    assert_error(missing, 401, "unauthorized")
    assert missing.headers["WWW-Authenticate"].startswith("Bearer")
    assert_error(call(url, headers={"Authorization": f"Basic {TOKEN}"}), 401, "unauthorized")
    assert_error(call(url, headers={"Authorization": "Bearer wrong"}), 403, "forbidden")


def test_admin_token_from_the_environment():
    assert load_settings(environ={"BIOIMAGE_SEARCH_ADMIN_TOKEN": "from-env"}).admin.token == "from-env"


def wait_for_job(client, job_id: str, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = client.get(f"/api/v1/admin/jobs/{job_id}", headers=AUTH).get_json()["data"]
        if job["ended"]:
            return job
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} did not end: {job}")


def test_admin_harvest_runs_in_the_background_and_reports_progress(ops_client):
    response = ops_client.post("/api/v1/admin/harvest/archive", headers=AUTH)
    assert response.status_code == 202
    job = response.get_json()["data"]
    assert response.headers["Location"] == f"/api/v1/admin/jobs/{job['id']}"
    assert job["kind"] == "harvest" and job["source"] == "archive" and job["status"] in ("queued", "running")
    done = wait_for_job(ops_client, job["id"])
    assert done["status"] == "partial" and "harvest bia: partial" in done["result"]  # the broken record
    assert done["records"] == 31 and done["error"] is None
    assert_error(ops_client.post("/api/v1/admin/harvest/nosuch", headers=AUTH), 404, "not_found")
    assert_error(ops_client.get("/api/v1/admin/jobs/doesnotexist", headers=AUTH), 404, "not_found")


def test_admin_harvest_of_a_source_being_harvested_is_busy(ops_client, ops_data):
    with harvest_lock(ops_data, "archive"):
        job = ops_client.post("/api/v1/admin/harvest/archive", headers=AUTH).get_json()["data"]
        done = wait_for_job(ops_client, job["id"])
    assert done["status"] == "busy" and "already running" in done["error"]


def test_admin_rebuild_swaps_in_a_new_generation(ops_client, ops_data):
    before = current(ops_data.index_dir).name
    response = ops_client.post("/api/v1/admin/rebuild", headers=AUTH)
    assert response.status_code == 202
    done = wait_for_job(ops_client, response.get_json()["data"]["id"])
    assert done["status"] == "ok" and "index full" in done["result"]
    assert current(ops_data.index_dir).name != before
    status = ops_client.get("/api/v1/status").get_json()["data"]
    assert status["builds"][0]["kind"] == "full" and status["builds"][0]["generation"] == current(ops_data.index_dir).name
