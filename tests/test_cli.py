"""The whole path through the real console script: harvest → index → export → search."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bioimage_search.config import SAMPLE_STORE

BIN = Path(sys.executable).parent / "bioimage-search"


def run(data_dir: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    env = {**os.environ, "BIOIMAGE_SEARCH_DATA_DIR": str(data_dir)}
    proc = subprocess.run([str(BIN), *args], capture_output=True, text=True, env=env, timeout=300)
    if check and proc.returncode != 0:
        pytest.fail(f"{args} exited {proc.returncode}: {proc.stderr}")
    return proc


def test_harvest_index_search_export(tmp_path):
    mirror = tmp_path / "mirror"
    shutil.copytree(SAMPLE_STORE, mirror)
    data = tmp_path / "data"

    first = run(data, "harvest", "archive", "--from", str(mirror))
    summary = first.stderr.strip().splitlines()[-1 - first.stderr.count("  error")]
    assert "28 added" in first.stderr and "0 unchanged" in first.stderr, first.stderr

    indexed = run(data, "index")
    assert "28 documents" in indexed.stderr.strip().splitlines()[-1]

    found = run(data, "search", "HiTIPS", "--json")
    result = json.loads(found.stdout)
    assert result["hits"][0]["accession"] == "S-BIAD1043"
    assert "1 hits" in found.stderr

    lines = run(data, "export").stdout.splitlines()
    assert len(lines) == 28
    assert {json.loads(line)["source"] for line in lines} == {"bia"}

    # Incremental: nothing changed → all unchanged; one record edited → one updated.
    again = run(data, "harvest", "archive", "--from", str(mirror))
    assert "0 added, 0 updated, 28 unchanged" in again.stderr
    path = mirror / "S-BIAD1043" / "S-BIAD1043.json"
    path.write_text(path.read_text().replace("HiTIPS: High-Throughput", "HiTIPS2: High-Throughput", 1))
    shutil.rmtree(mirror / "S-BIAD15")
    edited = run(data, "harvest", "archive", "--from", str(mirror), "--full")
    assert "1 updated" in edited.stderr and "1 deleted" in edited.stderr, edited.stderr
    run(data, "index")
    assert "HiTIPS2" in run(data, "search", "HiTIPS2").stdout
    assert "27 hits" in run(data, "search", "").stderr

    bad = run(data, "search", "title:(oops", check=False)
    assert bad.returncode != 0 and "position" in bad.stderr


def test_failed_source_exits_nonzero_with_one_line(tmp_path):
    failed = run(tmp_path / "data", "harvest", "archive", "--from", str(tmp_path / "missing"), check=False)
    assert failed.returncode == 1
    assert "Traceback" not in failed.stderr
    assert failed.stderr.strip().splitlines()[-1].startswith("Error: harvest archive failed: archive mirror")


def test_harvest_all_sources_and_search_across_them(tmp_path):
    data = tmp_path / "data"
    harvested = run(data, "harvest", "all")
    assert "harvest bia:" in harvested.stderr and "harvest jcb: ok: 2 added" in harvested.stderr
    assert "harvest empiar: ok: 6 added" in harvested.stderr and "harvest idr: ok: 15 added" in harvested.stderr
    run(data, "index", "--full")
    result = json.loads(run(data, "search", "", "--json", "--page-size", "1").stdout)
    sources = {b["key"] for f in result["facets"] if f["name"] == "source" for b in f["buckets"]}
    assert sources == {"bia", "jcb", "empiar", "idr"}
