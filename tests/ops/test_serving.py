"""The production recipe, tried for real: `bioimage-search serve --workers N` (waitress, one
scheduler), the `waitress-serve --call` entry point, and a short version of
benchmarks/load_during_rebuild.py (searches stay consistent while rebuilds swap)."""

from __future__ import annotations

import json
import re
import signal
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from benchmarks import load_during_rebuild
from harvesters.store import RecordStore
from indexer.builder import full_build
from tests.ops.helpers import BIN, Proc, accession, env_for, record, save, write_config

URL = re.compile(r"(?:serving|Serving) on (http://127\.0\.0\.1:\d+)")


@pytest.fixture(scope="module")
def served_data(tmp_path_factory) -> Path:
    data = tmp_path_factory.mktemp("served") / "data"
    with RecordStore(data / "store.sqlite3") as store:
        save(store, [record(accession(i), i) for i in range(50)])
        full_build(store, data / "index")
    return data


def get(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=10) as response:
        assert response.status == 200
        return json.loads(response.read()) if "json" in response.headers["Content-Type"] else response.read().decode()


def children(pid: int) -> set[int]:
    return {int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()}


def test_serve_with_workers_runs_one_scheduler_and_stops_cleanly(served_data, tmp_path):
    config = write_config(tmp_path / "config.toml", served_data, enabled=True)
    serve = Proc([str(BIN), "--config", str(config), "serve", "--port", "0", "--workers", "2", "--threads", "4"], cwd=tmp_path, env=env_for())
    try:
        base = URL.search(serve.wait_for(lambda line: "serving on" in line)).group(1)
        assert "2 processes x 4 threads; scheduler: here" in serve.text()
        for _ in range(6):
            assert get(base + "/api/v1/search?query=cells&facets=")["data"]["totalHits"] == 50
        status = get(base + "/api/v1/status")["data"]
        assert status["scheduler"]["pid"] == serve.popen.pid  # the supervisor, not a worker
        workers = children(serve.popen.pid)
        assert len(workers) >= 2
        second = Proc([str(BIN), "--config", str(config), "schedule"], cwd=tmp_path, env=env_for())
        assert second.finish(30) == 1 and "runs the scheduler" in second.text()
        metrics = get(base + "/metrics")  # both workers' counters, added up
        counted = re.search(r'bioimage_search_http_requests_total\{endpoint="/api/v1/search",method="GET",status="200"\} (\S+)', metrics)
        assert counted and float(counted.group(1)) == 6
    finally:
        serve.popen.send_signal(signal.SIGTERM)
    assert serve.finish(30) == 0 and "serve: stopped" in serve.text()
    time.sleep(0.2)
    assert not [pid for pid in workers if Path(f"/proc/{pid}").exists() and "zombie" not in Path(f"/proc/{pid}/status").read_text()]


def test_waitress_serve_entry_point(served_data, tmp_path):
    config = write_config(tmp_path / "config.toml", served_data)
    env = {**env_for(), "BIOIMAGE_SEARCH_CONFIG": str(config)}
    waitress = Path(sys.executable).parent / "waitress-serve"
    proc = Proc([str(waitress), "--listen=127.0.0.1:0", "--threads=4", "--call", "bioimage_search.serving:create_app_from_env"],
                cwd=tmp_path, env=env)
    try:
        base = URL.search(proc.wait_for(lambda line: "Serving on" in line)).group(1)
        assert get(base + "/healthz")["data"]["documents"] == 50
        assert get(base + "/api/v1/status")["data"]["scheduler"]["running_in_this_process"] is False
    finally:
        proc.popen.terminate()
        proc.finish(30)


def test_searches_stay_consistent_while_rebuilds_swap(tmp_path, monkeypatch):
    monkeypatch.chdir(Path(load_during_rebuild.ROOT))
    result = load_during_rebuild.run(seconds=4, clients=4, records=600, workers=2, threads=4, work_dir=tmp_path)
    assert result["failed"] == 0, result["failures"]
    assert result["unknown_generation"] == 0 and result["inconsistent"] == 0
    assert result["rebuilds"] >= 1 and result["generations_seen"] >= 2, result
    assert result["probes"] > 10 and result["passed"]


def test_keep_alive_connections_are_spread_over_the_workers(served_data, tmp_path):
    """Keep-alive connections opened one after another are shared out evenly, not mostly
    taken by one worker (without balancing, 8 went 8:0, 7:1, 6:2 in trials)."""
    import http.client
    from collections import Counter

    config = write_config(tmp_path / "config.toml", served_data, enabled=False)
    serve = Proc([str(BIN), "--config", str(config), "serve", "--port", "0", "--workers", "2", "--threads", "2"], cwd=tmp_path, env=env_for())
    try:
        base = URL.search(serve.wait_for(lambda line: "serving on" in line)).group(1)
        seen: set[int] = set()
        deadline = time.monotonic() + 60
        while len(seen) < 2 and time.monotonic() < deadline:  # both workers up and accepting
            seen.add(get(base + "/healthz")["data"]["process"])
        assert len(seen) == 2
        host, port = base.removeprefix("http://").split(":")
        for _ in range(3):
            time.sleep(1.5)  # every worker has reported its load since the last round closed
            connections = [http.client.HTTPConnection(host, int(port), timeout=30) for _ in range(8)]
            per_worker: Counter = Counter()
            for conn in connections:  # each stays open (keep-alive) while the next connects
                conn.request("GET", "/healthz")
                per_worker[json.loads(conn.getresponse().read())["data"]["process"]] += 1
            for conn in connections:
                conn.close()
            assert sorted(per_worker.values()) == [4, 4], per_worker
    finally:
        serve.popen.send_signal(signal.SIGTERM)
    assert serve.finish(30) == 0


def test_accept_balance_admits_only_the_least_busy_live_workers(monkeypatch):
    from bioimage_search import serving

    clock = [100.0]
    monkeypatch.setattr(serving.time, "monotonic", lambda: clock[0])
    loads, beats = [0, 0, 0], [0.0, 0.0, 0.0]
    first, second, third = (serving.AcceptBalance(loads, beats, slot) for slot in range(3))
    assert first.allows(0) and second.allows(0) and third.allows(0)
    assert not first.allows(2) and third.allows(0)
    assert not second.allows(1)  # the third holds fewer
    assert third.allows(1) and second.allows(1) and not first.allows(2)
    clock[0] += serving.AcceptBalance.STALE_S  # the others stop reporting (hung or dead)
    assert first.allows(7)
