"""The benchmark's one command, end to end on a tiny corpus: every engine phase that needs
no optional package (ours in-process, ours over HTTP with two server processes, SQLite
FTS5) runs every query and the results are written. The benchmark is not part of the
test run; this only keeps its harness from breaking unnoticed (a run that fails after an
engine phase loses that phase's numbers)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parents[2]


def test_benchmark_writes_every_engine_phase(tmp_path):
    out = tmp_path / "results"
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.run", "--sizes", "300", "--engines", "ours,ours_http,fts5",
         "--per-kind", "2", "--no-profile", "--out", str(out), "--work", str(tmp_path / "work")],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = orjson.loads((out / "results-300.json").read_bytes())
    engines = result["engines"]
    assert set(engines) == {"ours", "ours_http", "fts5"}
    for name, entry in engines.items():
        assert "error" not in entry, (name, entry["error"])
        queries = entry["queries"]
        assert queries["ran"] == queries["of"] == 12 * queries.get("rounds", 1), name
        assert queries["overall"]["p95"] > 0, name
    http = engines["ours_http"]["queries"]
    assert http["errors"] == 0 and http["workers"] == 2 and http["threads"] == 2
    # A warm-up round of another seed's mix, left out; then three measured rounds.
    assert http["rounds"] == 3 and http["warmup"]["requests"] == 12 and http["warmup"]["errors"] == 0
    assert [r.get("round", 1) for r in http["per_query"]] == [1] * 12 + [2] * 12 + [3] * 12
    # The same mix over HTTP (round 1) and in-process finds the same number of hits per query.
    in_process = {r["id"]: r["total"] for r in engines["ours"]["queries"]["per_query"]}
    assert {r["id"]: r["total"] for r in http["per_query"] if "round" not in r} == in_process
    assert "ours (HTTP), 8 clients, 2 processes x 2 threads" in (out / "README.md").read_text()
